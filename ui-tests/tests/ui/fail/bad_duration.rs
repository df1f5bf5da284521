use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(timeout = "5 s")]
    a: Http,
    #[player(timeout = "0")]
    b: Http,
    #[player(timeout = "0s")]
    c: Http,
    #[player(timeout = "-1s")]
    d: Http,
    #[player(timeout = "1.5s")]
    e: Http,
    #[player(timeout = "5x")]
    f: Http,
    #[player(timeout = "30s1m")]
    g: Http,
    #[player(timeout = "18446744073709551616s")]
    h: Http,
    #[player(timeout = "")]
    i: Http,
}

fn main() {}
