use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(after = "c")]
    a: Http,
    #[player(after = "a")]
    b: Http,
    #[player(after = "b")]
    c: Http,
    #[player(after = "a")]
    d: Http,
}

fn main() {}
