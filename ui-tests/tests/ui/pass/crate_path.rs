//! `#[conductor(crate = "...")]` for a re-exported or renamed orchestra.
#![deny(warnings)]

extern crate orchestra as orch;

mod reexport {
    pub(crate) use orch as runtime;
}

use orch::{BoxError, Conductor, Context, PlayExt, Player};

struct Leaf;

impl Player for Leaf {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(crate = "::orch")]
struct Renamed {
    #[player(restart = "on-failure", backoff = "zero", timeout = "1s")]
    leaf: Leaf,
}

#[derive(Conductor)]
#[conductor(crate = "crate::reexport::runtime", timeout = "1s")]
struct Reexported {
    renamed: Renamed,
}

fn main() {
    let app = Reexported {
        renamed: Renamed { leaf: Leaf },
    };
    assert_eq!(
        format!("{:#}", app.describe()),
        "reexported(timeout = 1s)[renamed[leaf(timeout = 1s, restart = on-failure, backoff = zero)]]"
    );
}
