//! Default names: the struct's in snake case, the fields' without `r#`.
#![deny(warnings)]

use orchestra::{BoxError, Conductor, Context, PlayExt, Player};

struct Leaf;

impl Player for Leaf {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct MyHTTPService {
    r#type: Leaf,
    #[player(name = "the-loop", after = "type")]
    r#loop: Leaf,
    #[player(name = "with space")]
    spaced: Leaf,
}

#[derive(Conductor)]
#[allow(non_camel_case_types)]
struct r#match {
    inner: MyHTTPService,
}

fn main() {
    let app = r#match {
        inner: MyHTTPService {
            r#type: Leaf,
            r#loop: Leaf,
            spaced: Leaf,
        },
    };
    assert_eq!(
        format!("{:#}", app.describe()),
        "match[inner[type, the-loop(after = type), with space]]"
    );
}
