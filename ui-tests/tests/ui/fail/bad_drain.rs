use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(drain = "0s")]
struct App {
    http: Http,
}

#[derive(Conductor)]
struct Nested {
    #[player(drain = "5s")]
    http: Http,
}

fn main() {}
