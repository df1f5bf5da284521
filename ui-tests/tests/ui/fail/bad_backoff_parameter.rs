use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(restart = "always", backoff(exponential, delay = "1s"))]
    a: Http,
    #[player(restart = "always", backoff(exponential, factor = 0.5))]
    b: Http,
    #[player(restart = "always", backoff(fibonacci, min = "10s", max = "1s"))]
    c: Http,
    #[player(restart = "always", backoff(constant, delay = "1s", delay = "2s"))]
    d: Http,
    #[player(restart = "always", backoff(linear, min = "1s"))]
    e: Http,
    #[player(restart = "always", backoff(zero, jitter))]
    f: Http,
    #[player(restart = "always", backoff(exponential, max_times = 0))]
    g: Http,
    #[player(restart = "always", backoff())]
    h: Http,
}

fn main() {}
