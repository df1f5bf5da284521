use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(strategy = "one_for_all")]
struct App {
    http: Http,
}

fn main() {}
