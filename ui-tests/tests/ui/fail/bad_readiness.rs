use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(ready_within = "30s")]
struct App {
    #[player(readiness = "ignored")]
    http: Http,
    #[player(ready_within = "soon", readiness = "ignore")]
    upstream: Http,
}

fn main() {}
