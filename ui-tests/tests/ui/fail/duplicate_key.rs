use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(timeout = "10s", timeout = "20s")]
struct App {
    #[player(timeout = "1s")]
    #[player(timeout = "2s")]
    http: Http,
}

fn main() {}
