//! The derive next to user items named like the prelude's, under
//! `#![deny(warnings)]` and clippy's pedantic lints.
#![deny(warnings)]
#![deny(clippy::pedantic)]
#![allow(dead_code, non_camel_case_types, clippy::upper_case_acronyms)]

use orchestra::{Conductor, PlayExt};

struct Result;
struct Option;
struct Ok;
struct Err;
struct Some;
struct None;
struct Box;
struct Vec;
struct Duration;
struct String;
struct Send;
struct Sync;
struct Future;
struct Player;
struct Context;
struct PlayerOptions;
struct Member;
struct Description;
struct usize;
trait Clone {}
fn unreachable() {}
fn vec() {}
mod core {}
mod std {}
mod __private {}
const __TIMEOUT: u8 = 0;
fn __options_0() {}
fn __max() {}

struct Leaf;

impl orchestra::Player for Leaf {
    async fn play(
        &mut self,
        ctx: orchestra::Context,
    ) -> ::core::result::Result<(), orchestra::BoxError> {
        ctx.cancelled().await;
        ::core::result::Result::Ok(())
    }
}

#[derive(Conductor)]
#[conductor(timeout = "1h")]
struct App {
    #[player(
        timeout = "1m30s",
        restart = "on-failure",
        backoff(exponential, min = "100ms", max = "86400s", factor = 1.5)
    )]
    leaf: Leaf,
    #[player(max_attempts = 100_000, after = "leaf", delay = "12345678ms")]
    nested: Nested,
    #[player(skip)]
    result: Result,
}

#[derive(Conductor)]
struct Nested {
    leaf: Leaf,
}

fn main() {
    let app = App {
        leaf: Leaf,
        nested: Nested { leaf: Leaf },
        result: Result,
    };
    let _ = app.describe();
}
