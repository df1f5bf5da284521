use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

use orchestra::PlayExt;

#[derive(Conductor)]
struct App<W> {
    http: Http,
    worker: W,
}

fn main() {
    let app = App { http: Http, worker: String::new() };
    let _ = app.play_until(async {});
}
