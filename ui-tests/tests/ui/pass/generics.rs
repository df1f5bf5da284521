//! Generic conductors get the bounds their player fields need, and no more.
#![deny(warnings)]

use orchestra::{BoxError, Conductor, Context, PlayExt, Player};
use std::fmt::Debug;
use std::marker::PhantomData;

struct Leaf;

impl Player for Leaf {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A player generic over something that is not a player.
struct Workers<J> {
    jobs: Vec<J>,
}

impl<J: Debug + Send + 'static> Player for Workers<J> {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        let _ = format!("{:?}", self.jobs);
        Ok(())
    }
}

#[derive(Conductor)]
struct App<W> {
    worker: W,
}

#[derive(Conductor)]
struct Boxed<W: Player, X = Leaf>
where
    X: Player,
{
    w: Box<W>,
    x: X,
}

// `J` is not a player: the bound is on the field's type, `Workers<J>: Player`.
#[derive(Conductor)]
struct Pool<J> {
    workers: Workers<J>,
}

// `T` only appears in a skipped field: it must be `Send + 'static`, not a player.
#[derive(Conductor)]
struct Tagged<T> {
    leaf: Leaf,
    #[player(skip)]
    tag: PhantomData<T>,
}

// A lifetime parameter can only be `'static`.
#[derive(Conductor)]
struct Named<'a> {
    leaf: Leaf,
    #[player(skip)]
    name: &'a str,
}

#[derive(Conductor)]
struct Array<const N: usize> {
    leaf: Leaf,
    #[player(skip)]
    sizes: [u8; N],
}

fn is_player<P: Player>(p: &P) -> String {
    format!("{:#}", p.describe())
}

fn main() {
    assert_eq!(is_player(&App { worker: Leaf }), "app[worker]");
    assert_eq!(
        is_player(&App {
            worker: App { worker: Leaf }
        }),
        "app[worker[worker]]"
    );
    assert_eq!(
        is_player(&Boxed {
            w: Box::new(Leaf),
            x: Leaf
        }),
        "boxed[w, x]"
    );
    assert_eq!(
        is_player(&Pool {
            workers: Workers { jobs: vec![1, 2] }
        }),
        "pool[workers]"
    );
    let tagged: Tagged<std::cell::Cell<u8>> = Tagged {
        leaf: Leaf,
        tag: PhantomData,
    };
    assert_eq!(is_player(&tagged), "tagged[leaf]");
    let named = Named {
        leaf: Leaf,
        name: "static",
    };
    assert_eq!(named.name, "static");
    assert_eq!(is_player(&named), "named[leaf]");
    let array = Array {
        leaf: Leaf,
        sizes: [1, 2, 3],
    };
    assert_eq!(array.sizes.len(), 3);
    assert_eq!(is_player(&array), "array[leaf]");
}
