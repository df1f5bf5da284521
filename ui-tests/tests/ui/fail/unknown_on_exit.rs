use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(on_exit = "stop-all")]
    http: Http,
    #[player(on_exit = "ignore")]
    warmer: Http,
}

fn main() {}
