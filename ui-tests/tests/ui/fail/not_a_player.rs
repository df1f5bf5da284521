use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    http: Http,
    config: std::collections::HashMap<String, String>,
    name: String,
}

fn main() {
    let _ = orchestra::play_until(
        App {
            http: Http,
            config: Default::default(),
            name: String::new(),
        },
        async {},
    );
}
