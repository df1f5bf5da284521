use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[player(timeout = "1s")]
struct App {
    #[conductor(timeout = "1s")]
    http: Http,
}

fn main() {}
