use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(timeout = "1 s")]
struct App {
    #[player(timeout = "soon", restart = "sometimes")]
    http: Http,
    #[player(name = "http", after = "nobody", retries = 3)]
    jobs: Http,
}

// The fallback impl keeps these uses free of "not a player" errors.
fn main() {
    let app = App { http: Http, jobs: Http };
    let _ = orchestra::play_until(app, async {});
}
