use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    // An unknown action.
    #[player(on_reload = "restarts")]
    http: Http,
    // Not a string.
    #[player(on_reload = restart)]
    api: Http,
    // Twice.
    #[player(on_reload = "restart", on_reload = "notify")]
    admin: Http,
    // On a skipped field.
    #[player(skip, on_reload = "restart")]
    spare: Http,
}

fn main() {}
