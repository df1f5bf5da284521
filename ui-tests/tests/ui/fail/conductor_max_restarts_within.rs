use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(strategy = "one-for-all", max_restarts = 5)]
struct App {
    http: Http,
}

#[derive(Conductor)]
#[conductor(within = "1m")]
struct Jobs {
    http: Http,
}

#[derive(Conductor)]
#[conductor(max_restarts = 0, within = "1m", strategy = 1)]
struct Zero {
    http: Http,
}

fn main() {}
