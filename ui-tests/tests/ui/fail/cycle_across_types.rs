use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct Outer {
    http: Http,
    inner: Inner,
}

#[derive(Conductor)]
struct Inner {
    outer: Box<Outer>,
}

fn main() {}
