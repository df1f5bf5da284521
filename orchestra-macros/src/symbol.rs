//! Every attribute and key the derive reads, named once with how it is
//! written, for the messages that suggest it (as serde_derive's
//! `internals/symbol.rs`).

use std::fmt;

use syn::Path;

/// A name the attributes accept: `player`, `timeout`, `max_times`…
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Symbol {
    pub(crate) name: &'static str,
    /// How the key is written, such as `timeout = "5s"`.
    pub(crate) example: &'static str,
    /// What to write rather than the key twice, if the key takes several
    /// values.
    pub(crate) repeated: Option<&'static str>,
}

const fn symbol(name: &'static str, example: &'static str) -> Symbol {
    Symbol {
        name,
        example,
        repeated: None,
    }
}

/// The attribute on the struct.
pub(crate) const CONDUCTOR: Symbol = symbol("conductor", r#"#[conductor(timeout = "5s")]"#);
/// The attribute on a field.
pub(crate) const PLAYER: Symbol = symbol("player", r#"#[player(timeout = "5s")]"#);

// The keys of `#[conductor(...)]` and `#[player(...)]`.
pub(crate) const NAME: Symbol = symbol("name", r#"name = "http""#);
pub(crate) const DRAIN: Symbol = symbol("drain", r#"drain = "5s""#);
pub(crate) const TIMEOUT: Symbol = symbol("timeout", r#"timeout = "5s""#);
pub(crate) const CRATE: Symbol = symbol("crate", r#"crate = "::orchestra""#);
pub(crate) const RESTART: Symbol = symbol("restart", r#"restart = "on-failure""#);
/// A key of `#[player(...)]`, and the list of its parameters.
pub(crate) const BACKOFF: Symbol = symbol("backoff", r#"backoff = "exponential""#);
pub(crate) const MAX_ATTEMPTS: Symbol = symbol("max_attempts", "max_attempts = 5");
pub(crate) const MAX_RESTARTS: Symbol = symbol("max_restarts", "max_restarts = 5");
pub(crate) const WITHIN: Symbol = symbol("within", r#"within = "60s""#);
pub(crate) const DELAY: Symbol = symbol("delay", r#"delay = "2s""#);
pub(crate) const AFTER: Symbol = Symbol {
    repeated: Some(r#"to start after several players, write `after("a", "b")`"#),
    ..symbol("after", r#"after = "db""#)
};
pub(crate) const GRACE: Symbol = symbol("grace", r#"grace = "1s""#);
pub(crate) const READY_WITHIN: Symbol = symbol("ready_within", r#"ready_within = "30s""#);
pub(crate) const READINESS: Symbol = symbol("readiness", r#"readiness = "ignore""#);
pub(crate) const STABLE_AFTER: Symbol = symbol("stable_after", r#"stable_after = "10s""#);
pub(crate) const ON_RELOAD: Symbol = symbol("on_reload", r#"on_reload = "restart""#);
pub(crate) const SKIP: Symbol = symbol("skip", "skip");
pub(crate) const STRATEGY: Symbol = symbol("strategy", r#"strategy = "rest-for-one""#);
pub(crate) const ON_EXIT: Symbol = symbol("on_exit", r#"on_exit = "stop""#);

// The parameters of `backoff(<strategy>, ...)` (with `delay` above).
pub(crate) const MIN: Symbol = symbol("min", r#"min = "100ms""#);
pub(crate) const MAX: Symbol = symbol("max", r#"max = "30s""#);
pub(crate) const FACTOR: Symbol = symbol("factor", "factor = 2.0");
pub(crate) const JITTER: Symbol = symbol("jitter", "jitter");
pub(crate) const MAX_TIMES: Symbol = symbol("max_times", "max_times = 5");

impl PartialEq<Symbol> for Path {
    fn eq(&self, symbol: &Symbol) -> bool {
        self.is_ident(symbol.name)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
