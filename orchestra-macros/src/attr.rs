//! Parses `#[conductor(...)]` and `#[player(...)]` into typed values,
//! reporting every malformed key or value to the [`Ctxt`] and carrying on
//! with the next one. The grammar the keys share is in [`crate::key`], the
//! backoff mini-language in [`crate::backoff`].

use std::time::Duration;

use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Attribute, LitStr, Token};

use crate::backoff::{self, Backoff};
use crate::ctxt::Ctxt;
use crate::key::{self, Attr, Key, Keys, Spanned, Value, take_value};
use crate::message::{did_you_mean_hint, list};
use crate::symbol::{
    AFTER, BACKOFF, CONDUCTOR, CRATE, DELAY, DRAIN, GRACE, MAX_ATTEMPTS, MAX_RESTARTS, NAME,
    ON_EXIT, ON_RELOAD, PLAYER, READINESS, READY_WITHIN, RESTART, SKIP, STABLE_AFTER, STRATEGY,
    TIMEOUT, WITHIN,
};

/// `#[conductor(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Conductor {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<Duration>>,
    /// The drain phase before the stop, when the conductor runs at the top.
    pub(crate) drain: Option<Spanned<Duration>>,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) strategy: Option<Spanned<Strategy>>,
    /// With `within`: at most this many restarts of all its players within
    /// the window.
    pub(crate) max_restarts: Option<Spanned<u32>>,
    pub(crate) within: Option<Spanned<Duration>>,
}

/// `#[player(...)]` on a field.
#[derive(Default)]
pub(crate) struct Player {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<Duration>>,
    pub(crate) restart: Option<Spanned<Restart>>,
    pub(crate) backoff: Option<Spanned<Backoff>>,
    pub(crate) max_attempts: Option<Spanned<u32>>,
    /// With `within`: at most this many restarts within the window.
    pub(crate) max_restarts: Option<Spanned<u32>>,
    pub(crate) within: Option<Spanned<Duration>>,
    pub(crate) delay: Option<Spanned<Duration>>,
    /// The siblings this player starts after, each with its literal's span.
    pub(crate) after: Vec<Spanned<String>>,
    pub(crate) grace: Option<Spanned<Duration>>,
    pub(crate) ready_within: Option<Spanned<Duration>>,
    /// `readiness = "ignore"`: left out of the service's readiness.
    pub(crate) ignore_readiness: bool,
    pub(crate) stable_after: Option<Spanned<Duration>>,
    pub(crate) on_exit: Option<Spanned<OnExit>>,
    pub(crate) on_reload: Option<Spanned<OnReload>>,
    pub(crate) skip: bool,
}

/// When a player is run again; see `orchestra::Restart`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    Never,
    OnFailure,
    Always,
}

const RESTARTS: &[(&str, Restart)] = &[
    ("never", Restart::Never),
    ("on-failure", Restart::OnFailure),
    ("always", Restart::Always),
];

/// Which players restart with one; see `orchestra::Strategy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

const STRATEGIES: &[(&str, Strategy)] = &[
    ("one-for-one", Strategy::OneForOne),
    ("one-for-all", Strategy::OneForAll),
    ("rest-for-one", Strategy::RestForOne),
];

/// What a player's end does to its conductor; see `orchestra::OnExit`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExit {
    StopOnFailure,
    Stop,
    Continue,
}

const ON_EXITS: &[(&str, OnExit)] = &[
    ("stop-on-failure", OnExit::StopOnFailure),
    ("stop", OnExit::Stop),
    ("continue", OnExit::Continue),
];
/// What a player does on a reload; see `orchestra::OnReload`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnReload {
    Notify,
    Restart,
}

const ON_RELOADS: &[(&str, OnReload)] =
    &[("notify", OnReload::Notify), ("restart", OnReload::Restart)];

/// `#[conductor(...)]` as it is read.
#[derive(Default)]
struct ConductorAttrs {
    name: Attr<Spanned<String>>,
    timeout: Attr<Spanned<Duration>>,
    drain: Attr<Spanned<Duration>>,
    krate: Attr<syn::Path>,
    strategy: Attr<Spanned<Strategy>>,
    max_restarts: Attr<Spanned<u32>>,
    within: Attr<Spanned<Duration>>,
}

const CONDUCTOR_KEYS: &Keys<ConductorAttrs> = &[
    (NAME, |a, cx, key, value| {
        a.name.set(cx, key, || key.name(cx, value))
    }),
    (TIMEOUT, |a, cx, key, value| {
        a.timeout.set(cx, key, || key.duration(cx, value))
    }),
    (DRAIN, |a, cx, key, value| {
        a.drain.set(cx, key, || key.duration(cx, value))
    }),
    (CRATE, |a, cx, key, value| {
        a.krate.set(cx, key, || crate_value(cx, key, value))
    }),
    (STRATEGY, |a, cx, key, value| {
        a.strategy
            .set(cx, key, || choice(cx, key, value, "strategy", STRATEGIES))
    }),
    (MAX_RESTARTS, |a, cx, key, value| {
        a.max_restarts.set(cx, key, || key.count(cx, value))
    }),
    (WITHIN, |a, cx, key, value| {
        a.within.set(cx, key, || key.duration(cx, value))
    }),
];

/// `#[player(...)]` as it is read.
#[derive(Default)]
struct PlayerAttrs {
    name: Attr<Spanned<String>>,
    timeout: Attr<Spanned<Duration>>,
    restart: Attr<Spanned<Restart>>,
    backoff: Attr<Spanned<Backoff>>,
    max_attempts: Attr<Spanned<u32>>,
    max_restarts: Attr<Spanned<u32>>,
    within: Attr<Spanned<Duration>>,
    delay: Attr<Spanned<Duration>>,
    after: Attr<Vec<Spanned<String>>>,
    grace: Attr<Spanned<Duration>>,
    ready_within: Attr<Spanned<Duration>>,
    readiness: Attr<bool>,
    stable_after: Attr<Spanned<Duration>>,
    on_exit: Attr<Spanned<OnExit>>,
    on_reload: Attr<Spanned<OnReload>>,
    skip: Attr<()>,
}

const PLAYER_KEYS: &Keys<PlayerAttrs> = &[
    (NAME, |a, cx, key, value| {
        a.name.set(cx, key, || key.name(cx, value))
    }),
    (TIMEOUT, |a, cx, key, value| {
        a.timeout.set(cx, key, || key.duration(cx, value))
    }),
    (RESTART, |a, cx, key, value| {
        a.restart.set(cx, key, || {
            choice(cx, key, value, "restart policy", RESTARTS)
        })
    }),
    (BACKOFF, |a, cx, key, value| {
        a.backoff.set(cx, key, || backoff::parse(cx, key, value))
    }),
    (MAX_ATTEMPTS, |a, cx, key, value| {
        a.max_attempts.set(cx, key, || key.count(cx, value))
    }),
    (MAX_RESTARTS, |a, cx, key, value| {
        a.max_restarts.set(cx, key, || key.count(cx, value))
    }),
    (WITHIN, |a, cx, key, value| {
        a.within.set(cx, key, || key.duration(cx, value))
    }),
    (DELAY, |a, cx, key, value| {
        a.delay.set(cx, key, || key.duration(cx, value))
    }),
    (AFTER, |a, cx, key, value| {
        a.after.set(cx, key, || Some(after(cx, key, value)))
    }),
    (GRACE, |a, cx, key, value| {
        a.grace.set(cx, key, || key.duration(cx, value))
    }),
    (READY_WITHIN, |a, cx, key, value| {
        a.ready_within.set(cx, key, || key.duration(cx, value))
    }),
    (READINESS, |a, cx, key, value| {
        a.readiness
            .set(cx, key, || ignore_readiness(cx, key, value))
    }),
    (STABLE_AFTER, |a, cx, key, value| {
        a.stable_after.set(cx, key, || key.duration(cx, value))
    }),
    (ON_EXIT, |a, cx, key, value| {
        a.on_exit
            .set(cx, key, || choice(cx, key, value, "on_exit", ON_EXITS))
    }),
    (ON_RELOAD, |a, cx, key, value| {
        a.on_reload.set(cx, key, || {
            choice(cx, key, value, "`on_reload` action", ON_RELOADS)
        })
    }),
    (SKIP, |a, cx, key, value| {
        a.skip.set(cx, key, || key.flag(cx, &value))
    }),
];

/// Parses the struct's `#[conductor(...)]`, and rejects `#[player]` there.
pub(crate) fn conductor(cx: &Ctxt, attrs: &[Attribute]) -> Conductor {
    for attr in attrs.iter().filter(|a| *a.path() == PLAYER) {
        cx.error_spanned_by(
            attr,
            format!(
                "`#[player(...)]` goes on the fields of a conductor; on the struct, use `#[conductor(...)]` with one of {}",
                list(key::names(CONDUCTOR_KEYS))
            ),
        );
    }
    let mut a = ConductorAttrs::default();
    for (key, value, set) in key::read(cx, attrs, CONDUCTOR, CONDUCTOR_KEYS) {
        set(&mut a, cx, key, value);
    }
    check_window(cx, &a.max_restarts, &a.within);
    Conductor {
        name: a.name.get(),
        timeout: a.timeout.get(),
        drain: a.drain.get(),
        krate: a.krate.get(),
        strategy: a.strategy.get(),
        max_restarts: a.max_restarts.get(),
        within: a.within.get(),
    }
}

/// `crate = "::orchestra"`.
fn crate_value(cx: &Ctxt, key: Key, value: Value) -> Option<syn::Path> {
    let lit = key.string(cx, value)?;
    match lit.parse::<syn::Path>() {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error_spanned_by(
                &lit,
                format!(
                    "`crate` must be a path to the orchestra crate, such as `::orchestra` or `my_crate::orchestra`, not {:?}",
                    lit.value()
                ),
            );
            None
        }
    }
}

/// The `crate = "..."` of `#[conductor(...)]`, read leniently (errors are
/// reported by [`conductor`]): for the fallback impl.
pub(crate) fn crate_path(attrs: &[Attribute]) -> Option<syn::Path> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| *a.path() == CONDUCTOR) {
        let _ = attr.parse_nested_meta(|meta| {
            let value = take_value(meta.input)?;
            if let (true, Value::Eq(tokens)) = (meta.path == CRATE, value)
                && let Ok(path) = syn::parse2::<LitStr>(tokens).and_then(|lit| lit.parse())
            {
                found = Some(path);
            }
            Ok(())
        });
    }
    found
}

/// Parses a field's `#[player(...)]`, and rejects `#[conductor]` there.
pub(crate) fn player(cx: &Ctxt, attrs: &[Attribute]) -> Player {
    for attr in attrs.iter().filter(|a| *a.path() == CONDUCTOR) {
        cx.error_spanned_by(
            attr,
            format!(
                "`#[conductor(...)]` goes on the struct; on a field, use `#[player(...)]` with one of {}",
                list(key::names(PLAYER_KEYS))
            ),
        );
    }
    let keys = key::read(cx, attrs, PLAYER, PLAYER_KEYS);
    let skip = keys.iter().any(|(key, ..)| key.symbol == SKIP);
    let mut a = PlayerAttrs::default();
    for (key, value, set) in keys {
        if skip && key.symbol != SKIP {
            cx.error_at(
                key.span,
                format!(
                    "`{}` has no effect on a skipped field: `{SKIP}` leaves the field out of the conductor",
                    key.symbol
                ),
            );
            continue;
        }
        set(&mut a, cx, key, value);
    }
    if !skip {
        a.check(cx);
    }
    Player {
        name: a.name.get(),
        timeout: a.timeout.get(),
        restart: a.restart.get(),
        backoff: a.backoff.get(),
        max_attempts: a.max_attempts.get(),
        max_restarts: a.max_restarts.get(),
        within: a.within.get(),
        delay: a.delay.get(),
        after: a.after.get().unwrap_or_default(),
        grace: a.grace.get(),
        ready_within: a.ready_within.get(),
        ignore_readiness: a.readiness.get().unwrap_or(false),
        stable_after: a.stable_after.get(),
        on_exit: a.on_exit.get(),
        on_reload: a.on_reload.get(),
        skip: a.skip.get().is_some(),
    }
}

impl PlayerAttrs {
    /// The rules between the keys of one field that is not skipped.
    fn check(&self, cx: &Ctxt) {
        check_window(cx, &self.max_restarts, &self.within);
        let restarts = self
            .restart
            .value()
            .is_some_and(|r| r.value != Restart::Never);
        if !restarts {
            for (key, span) in [
                (BACKOFF, self.backoff.span()),
                (STABLE_AFTER, self.stable_after.span()),
            ] {
                if let Some(span) = span {
                    cx.error_at(
                        span,
                        format!(
                            r#"`{key}` has no effect on a player that is not restarted: add `restart = "on-failure"` or `restart = "always"`"#
                        ),
                    );
                }
            }
        }
    }
}

/// `max_restarts` and `within` go together (on a player or a conductor).
fn check_window(cx: &Ctxt, max_restarts: &Attr<Spanned<u32>>, within: &Attr<Spanned<Duration>>) {
    match (max_restarts.span(), within.span()) {
        (Some(span), None) => cx.error_at(
            span,
            r#"`max_restarts` needs the window it counts restarts in: add `within = "60s"`"#,
        ),
        (None, Some(span)) => cx.error_at(
            span,
            "`within` is the window of `max_restarts`: add `max_restarts = 5`, or remove `within`",
        ),
        _ => {}
    }
}

/// One of the names of `choices`, a `what` (such as "restart policy").
fn choice<T: Copy>(
    cx: &Ctxt,
    key: Key,
    value: Value,
    what: &str,
    choices: &[(&str, T)],
) -> Option<Spanned<T>> {
    let lit = key.string(cx, value)?;
    let written = lit.value();
    if let Some((_, value)) = choices.iter().find(|(name, _)| *name == written) {
        return Some(Spanned {
            value: *value,
            span: lit.span(),
        });
    }
    let names = choices.iter().map(|(name, _)| *name);
    cx.error_spanned_by(
        &lit,
        format!(
            "unknown {what} `{written}`; {}expected one of {}",
            did_you_mean_hint(&written, names.clone()),
            list(names)
        ),
    );
    None
}

/// `readiness = "ignore"` (true) or `"required"`, the default (false).
fn ignore_readiness(cx: &Ctxt, key: Key, value: Value) -> Option<bool> {
    const VALUES: [&str; 2] = ["ignore", "required"];
    let lit = key.string(cx, value)?;
    let written = lit.value();
    match written.as_str() {
        "ignore" => Some(true),
        "required" => Some(false),
        _ => {
            cx.error_spanned_by(
                &lit,
                format!(
                    "unknown readiness `{written}`; {}expected `ignore` (the player does not count for the service's readiness) or `required` (the default)",
                    did_you_mean_hint(&written, VALUES.into_iter()),
                ),
            );
            None
        }
    }
}

fn after(cx: &Ctxt, key: Key, value: Value) -> Vec<Spanned<String>> {
    let lits: Vec<LitStr> = match value {
        Value::List(tokens) => {
            match Punctuated::<LitStr, Token![,]>::parse_terminated.parse2(tokens) {
                Ok(lits) if lits.is_empty() => {
                    cx.error_at(
                        key.span,
                        r#"`after()` names no player: write `after("db")` or `after("db", "cache")`"#,
                    );
                    Vec::new()
                }
                Ok(lits) => lits.into_iter().collect(),
                Err(error) => {
                    cx.error_at(
                        error.span(),
                        r#"expected player names as strings: `after("db", "cache")`"#,
                    );
                    Vec::new()
                }
            }
        }
        value => key.string(cx, value).into_iter().collect(),
    };
    let mut names: Vec<Spanned<String>> = Vec::new();
    for lit in lits {
        let name = lit.value();
        if names.iter().any(|n| n.value == name) {
            cx.error_spanned_by(&lit, format!("`{name}` is named twice in `{AFTER}`"));
            continue;
        }
        names.push(Spanned {
            value: name,
            span: lit.span(),
        });
    }
    names
}
