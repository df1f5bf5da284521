//! The generated code names everything by its full path.
#![no_implicit_prelude]
#![deny(warnings)]

extern crate orchestra;
extern crate std;

use orchestra::{BoxError, Conductor, Context};

struct Leaf;

impl orchestra::Player for Leaf {
    async fn play(&mut self, _: Context) -> ::std::result::Result<(), BoxError> {
        ::std::result::Result::Ok(())
    }
}

#[derive(Conductor)]
#[conductor(timeout = "5s")]
struct App {
    #[player(restart = "always", backoff = "zero", max_attempts = 2, timeout = "1s")]
    leaf: Leaf,
    #[player(skip)]
    note: ::std::string::String,
}

fn main() {
    let app = App {
        leaf: Leaf,
        note: ::std::string::String::new(),
    };
    let _ = (orchestra::describe(&app), app.note);
}
