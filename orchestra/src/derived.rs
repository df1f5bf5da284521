//! What `#[derive(Conductor)]` expands to calls, published (hidden) as
//! `orchestra::__private010`: the name carries the crate's version, so a
//! derive and a runtime that do not match fail to compile rather than
//! misbehave (as thiserror's `__private{PATCH}`).
//!
//! A derived conductor hands each field to the engine through [`Field`]:
//! when the field is a player, `Field(..).member(..)` is [`IsPlayer`]'s;
//! otherwise (autoref-based dispatch) it is [`NotAPlayer`]'s, which adds no
//! error to the one the depth constant reports on the field's type.

use crate::context::Context;
use crate::engine::member::{Access, Member};
use crate::engine::{member_of, play_in_place};
use crate::error::BoxError;
use crate::options::{Name, PlayerOptions, SharedOptions};
use crate::player::Player;

/// A field of a derived conductor, given, lent or shown.
pub struct Field<'a, T>(pub Access<'a, T>);

/// A field that is a player, as a member.
pub trait IsPlayer<'a> {
    /// The field as the member named `name`, with `options`.
    fn member(self, name: Name, options: SharedOptions) -> Member<'a>;
}

impl<'a, T: Player> IsPlayer<'a> for Field<'a, T> {
    fn member(self, name: Name, options: SharedOptions) -> Member<'a> {
        member_of(self.0, Some(name), options)
    }
}

/// A field that is not a player: the crate does not compile, so this is
/// never called.
pub trait NotAPlayer<'a> {
    /// An empty member, in place of the error already reported.
    fn member(self, name: Name, options: SharedOptions) -> Member<'a>;
}

impl<'a, T> NotAPlayer<'a> for &Field<'a, T> {
    fn member(self, name: Name, _: SharedOptions) -> Member<'a> {
        Member::conductor(&name, None, Vec::new())
    }
}

/// The names of a derived conductor's `N` fields, in a `static`: each
/// member's name points at its field's, rather than being allocated each
/// time a value of the type is given to a run.
pub struct Names<const N: usize> {
    names: [&'static str; N],
}

impl<const N: usize> Names<N> {
    /// The names of the fields.
    pub const fn new(names: [&'static str; N]) -> Self {
        Names { names }
    }

    /// The name of field `i` (in declaration order, players only).
    pub fn get(&self, i: usize) -> Name {
        Name::new_static(self.names[i])
    }
}

/// The options a field's `#[player(...)]` sets, shared (by every member if
/// they are the defaults).
pub fn shared(options: PlayerOptions) -> SharedOptions {
    options.into_shared()
}

/// The options of a field with no `#[player(...)]`: the defaults every
/// member shares, neither made nor compared.
pub fn default_options() -> SharedOptions {
    SharedOptions::DEFAULTS
}

/// The larger of two depths, in a constant.
pub const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// A derived conductor's `play(&mut self, ctx)`: its fields, lent to the
/// engine for one run in place.
pub fn play<P: Player>(
    conductor: &mut P,
    ctx: Context,
) -> impl Future<Output = Result<(), BoxError>> + Send + '_ {
    play_in_place(ctx, P::__conductor(Access::Borrow(conductor)))
}
