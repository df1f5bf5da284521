//! Parses `#[conductor(...)]` and `#[player(...)]` into typed values
//! (durations, restart policies, backoff strategies), reporting every
//! malformed key or value to the [`Ctxt`] and carrying on with the next one.

use std::fmt::Write as _;
use std::time::Duration;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Attribute, Lit, LitStr, Meta, Token};

use crate::ctxt::Ctxt;
use crate::duration;

/// A value and where it was written (the literal, for values).
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// `#[conductor(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Conductor {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<Duration>>,
    pub(crate) krate: Option<syn::Path>,
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
    pub(crate) stable_after: Option<Spanned<Duration>>,
    pub(crate) skip: bool,
    /// Every key given, with the key's span: for the rules between keys.
    keys: Vec<(&'static str, Span)>,
}

/// When a player is run again; see `orchestra::Restart`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    Never,
    OnFailure,
    Always,
}

/// A backoff strategy; see `orchestra::Backoff`.
pub(crate) enum Backoff {
    Builtin(Builtin),
    /// A path to a function returning `orchestra::Backoff`.
    Custom(syn::Path),
}

/// One of orchestra's strategies, with the parameters given.
pub(crate) struct Builtin {
    pub(crate) kind: Kind,
    pub(crate) min: Option<Spanned<Duration>>,
    pub(crate) max: Option<Spanned<Duration>>,
    pub(crate) delay: Option<Duration>,
    pub(crate) factor: Option<f32>,
    pub(crate) jitter: bool,
    pub(crate) max_times: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Zero,
    Constant,
    Exponential,
    Fibonacci,
}

impl Kind {
    const ALL: [(&'static str, Kind); 4] = [
        ("zero", Kind::Zero),
        ("constant", Kind::Constant),
        ("exponential", Kind::Exponential),
        ("fibonacci", Kind::Fibonacci),
    ];

    fn parse(name: &str) -> Option<Kind> {
        Kind::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, kind)| *kind)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Zero => "zero",
            Kind::Constant => "constant",
            Kind::Exponential => "exponential",
            Kind::Fibonacci => "fibonacci",
        }
    }

    /// The parameters `backoff(<kind>, ...)` accepts.
    fn parameters(self) -> &'static [&'static str] {
        match self {
            Kind::Zero => &["max_times"],
            Kind::Constant => &["delay", "jitter", "max_times"],
            Kind::Exponential => &["min", "max", "factor", "jitter", "max_times"],
            Kind::Fibonacci => &["min", "max", "jitter", "max_times"],
        }
    }
}

/// The delay of `backoff = "constant"` when none is given (as backon's).
pub(crate) const DEFAULT_CONSTANT_DELAY: Duration = Duration::from_secs(1);
/// orchestra's defaults for exponential and Fibonacci backoffs.
const DEFAULT_MIN: Duration = Duration::from_millis(100);
const DEFAULT_MAX: Duration = Duration::from_secs(30);

const CONDUCTOR_KEYS: &[&str] = &["name", "timeout", "crate"];
const PLAYER_KEYS: &[&str] = &[
    "name",
    "timeout",
    "restart",
    "backoff",
    "max_attempts",
    "max_restarts",
    "within",
    "delay",
    "after",
    "grace",
    "stable_after",
    "skip",
];
const RESTARTS: &[(&str, Restart)] = &[
    ("never", Restart::Never),
    ("on-failure", Restart::OnFailure),
    ("always", Restart::Always),
];

/// How each key is written, for messages.
fn example(key: &str) -> &'static str {
    match key {
        "name" => r#"name = "http""#,
        "timeout" => r#"timeout = "5s""#,
        "restart" => r#"restart = "on-failure""#,
        "backoff" => r#"backoff = "exponential""#,
        "max_attempts" => "max_attempts = 5",
        "max_restarts" => "max_restarts = 5",
        "within" => r#"within = "60s""#,
        "delay" => r#"delay = "2s""#,
        "after" => r#"after = "db""#,
        "grace" => r#"grace = "1s""#,
        "stable_after" => r#"stable_after = "10s""#,
        "crate" => r#"crate = "::orchestra""#,
        "min" => r#"min = "100ms""#,
        "max" => r#"max = "30s""#,
        "factor" => "factor = 2.0",
        "max_times" => "max_times = 5",
        _ => "",
    }
}

/// `` `a`, `b`, `c` ``
pub(crate) fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}`{item}`");
    }
    out
}

/// `` `a` `` alone, or `` one of `a`, `b`, `c` ``.
pub(crate) fn one_of<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.into_iter().collect();
    match items.as_slice() {
        [one] => format!("`{one}`"),
        _ => format!("one of {}", list(items)),
    }
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let normalized = |s: &str| s.to_lowercase().replace('_', "-");
    let word_n = normalized(word);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_n, &normalized(c)), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// What follows a key: nothing, `= tokens`, or `(tokens)`.
enum Value {
    Flag,
    Eq(TokenStream),
    List(TokenStream),
}

/// Consumes the value of the key just parsed, whatever it is, so that the
/// next key can be parsed even if this one is wrong.
fn take_value(input: ParseStream) -> syn::Result<Value> {
    if input.peek(Token![=]) {
        let eq: Token![=] = input.parse()?;
        let mut tokens = TokenStream::new();
        while !input.is_empty() && !input.peek(Token![,]) {
            tokens.extend([input.parse::<TokenTree>()?]);
        }
        if tokens.is_empty() {
            return Err(syn::Error::new(eq.span, "expected a value after `=`"));
        }
        Ok(Value::Eq(tokens))
    } else if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        Ok(Value::List(content.parse()?))
    } else {
        Ok(Value::Flag)
    }
}

/// A key of an attribute, for messages.
#[derive(Clone, Copy)]
struct Key {
    /// `player`, `conductor` or `backoff`.
    attr: &'static str,
    name: &'static str,
    span: Span,
}

impl Key {
    /// The tokens after `=`, or an error saying how the key is written.
    fn eq(self, cx: &Ctxt, value: Value) -> Option<TokenStream> {
        match value {
            Value::Eq(tokens) => Some(tokens),
            Value::Flag => {
                cx.error_at(
                    self.span,
                    format!("`{}` needs a value: `{}`", self.name, example(self.name)),
                );
                None
            }
            Value::List(_) => {
                cx.error_at(
                    self.span,
                    format!(
                        "expected `{}`, not `{}(...)`",
                        example(self.name),
                        self.name
                    ),
                );
                None
            }
        }
    }

    /// A flag such as `skip` or `jitter`, which takes no value.
    fn flag(self, cx: &Ctxt, value: &Value) -> bool {
        match value {
            Value::Flag => true,
            Value::Eq(tokens) | Value::List(tokens) => {
                let message = format!(
                    "`{}` takes no value: write `{}` alone",
                    self.name, self.name
                );
                if tokens.is_empty() {
                    cx.error_at(self.span, message);
                } else {
                    cx.error_spanned_by(tokens, message);
                }
                false
            }
        }
    }

    /// The single literal after `=`.
    fn literal(self, cx: &Ctxt, value: Value, what: &str) -> Option<Lit> {
        self.literal_tokens(cx, value, what).map(|(lit, _)| lit)
    }

    /// The single literal after `=`, and its tokens (`-1` is two tokens,
    /// which the literal's span does not cover on stable).
    fn literal_tokens(self, cx: &Ctxt, value: Value, what: &str) -> Option<(Lit, TokenStream)> {
        let tokens = self.eq(cx, value)?;
        if let Ok(lit) = syn::parse2::<Lit>(tokens.clone()) {
            return Some((lit, tokens));
        }
        cx.error_spanned_by(tokens, format!("expected {what}: `{}`", example(self.name)));
        None
    }

    /// The string after `=`.
    fn string(self, cx: &Ctxt, value: Value) -> Option<LitStr> {
        match self.literal(cx, value, "a string")? {
            Lit::Str(lit) => Some(lit),
            other => {
                cx.error_spanned_by(
                    other,
                    format!("expected a string: `{}`", example(self.name)),
                );
                None
            }
        }
    }

    /// A humane duration, such as `timeout = "5s"`.
    fn duration(self, cx: &Ctxt, value: Value) -> Option<Spanned<Duration>> {
        let lit = self.string(cx, value)?;
        match duration::parse(&lit.value()) {
            Ok(value) => Some(Spanned {
                value,
                span: lit.span(),
            }),
            Err(reason) => {
                cx.error_spanned_by(
                    &lit,
                    format!(
                        "invalid `{}` duration {:?}: {reason}; {}",
                        self.name,
                        lit.value(),
                        duration::EXPECTED
                    ),
                );
                None
            }
        }
    }

    /// An integer of at least 1, such as `max_attempts = 5`.
    fn count(self, cx: &Ctxt, value: Value) -> Option<Spanned<u32>> {
        let (lit, tokens) = self.literal_tokens(cx, value, "an integer")?;
        let n = match &lit {
            Lit::Int(int) => int.base10_parse::<i128>().ok(),
            _ => None,
        };
        let Some(n) = n else {
            cx.error_spanned_by(
                &tokens,
                format!("expected an integer: `{}`", example(self.name)),
            );
            return None;
        };
        if n < 1 {
            let hint = match self.name {
                "max_attempts" | "max_restarts" => {
                    "; to never restart a player, leave `restart` out (or write `restart = \"never\"`)"
                }
                _ => "",
            };
            cx.error_spanned_by(
                &tokens,
                format!("`{}` must be at least 1, not {n}{hint}", self.name),
            );
            return None;
        }
        match u32::try_from(n) {
            Ok(value) => Some(Spanned {
                value,
                span: lit.span(),
            }),
            Err(_) => {
                cx.error_spanned_by(
                    &tokens,
                    format!("`{}` is too large: at most {}", self.name, u32::MAX),
                );
                None
            }
        }
    }

    /// A player or conductor name: non-empty, without `/`.
    fn name_value(self, cx: &Ctxt, value: Value) -> Option<Spanned<String>> {
        let lit = self.string(cx, value)?;
        let name = lit.value();
        if name.is_empty() {
            cx.error_spanned_by(&lit, format!("a {} name cannot be empty", self.attr));
            return None;
        }
        if name.contains('/') {
            cx.error_spanned_by(
                &lit,
                format!(
                    "a {} name cannot contain `/`, which separates the names in a path such as `app/jobs/mailer`",
                    self.attr
                ),
            );
            return None;
        }
        Some(Spanned {
            value: name,
            span: lit.span(),
        })
    }
}

/// The keys seen so far in one attribute (or in several of the same kind).
struct Seen {
    attr: &'static str,
    keys: Vec<&'static str>,
}

impl Seen {
    /// Resolves the key written as `path` among `known`, reporting unknown
    /// and duplicate keys.
    fn key(&mut self, cx: &Ctxt, path: &syn::Path, known: &[&'static str]) -> Option<Key> {
        let written = path
            .segments
            .iter()
            .map(|s| s.ident.unraw().to_string())
            .collect::<Vec<_>>()
            .join("::");
        let name = match path.get_ident() {
            Some(_) => known.iter().copied().find(|k| *k == written),
            None => None,
        };
        let Some(name) = name else {
            let hint = match did_you_mean(&written, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`? "),
                None => String::new(),
            };
            cx.error_spanned_by(
                path,
                format!(
                    "unknown `{}` attribute `{written}`; {hint}expected one of {}",
                    self.attr,
                    list(known.iter().copied())
                ),
            );
            return None;
        };
        if self.keys.contains(&name) {
            let hint = if name == "after" {
                r#"; to start after several players, write `after("a", "b")`"#
            } else {
                ""
            };
            cx.error_spanned_by(
                path,
                format!("duplicate `{}` attribute `{name}`{hint}", self.attr),
            );
            return None;
        }
        self.keys.push(name);
        Some(Key {
            attr: self.attr,
            name,
            span: path.span(),
        })
    }
}

/// Calls `f` with every `key [= value | (...)]` of every `#[<name>(...)]`
/// among `attrs`; syntax errors end the attribute they are in, not the others.
fn each_key(
    cx: &Ctxt,
    attrs: &[Attribute],
    name: &'static str,
    mut f: impl FnMut(&syn::Path, Value),
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        match &attr.meta {
            // `#[player]` alone: nothing to set.
            Meta::Path(_) => {}
            Meta::NameValue(nv) => cx.error_spanned_by(
                nv,
                format!(
                    "expected `#[{name}(...)]`, such as `#[{name}({})]`",
                    example("timeout")
                ),
            ),
            Meta::List(_) => {
                let parsed = attr.parse_nested_meta(|meta| {
                    let value = take_value(meta.input)?;
                    f(&meta.path, value);
                    Ok(())
                });
                if let Err(error) = parsed {
                    cx.syn_error(error);
                }
            }
        }
    }
}

/// Parses the struct's `#[conductor(...)]`, and rejects `#[player]` there.
pub(crate) fn conductor(cx: &Ctxt, attrs: &[Attribute]) -> Conductor {
    for attr in attrs.iter().filter(|a| a.path().is_ident("player")) {
        cx.error_spanned_by(
            attr,
            format!(
                "`#[player(...)]` goes on the fields of a conductor; on the struct, use `#[conductor(...)]` with one of {}",
                list(CONDUCTOR_KEYS.iter().copied())
            ),
        );
    }
    let mut out = Conductor::default();
    let mut seen = Seen {
        attr: "conductor",
        keys: Vec::new(),
    };
    each_key(cx, attrs, "conductor", |path, value| {
        let Some(key) = seen.key(cx, path, CONDUCTOR_KEYS) else {
            return;
        };
        match key.name {
            "name" => out.name = key.name_value(cx, value),
            "timeout" => out.timeout = key.duration(cx, value),
            "crate" => {
                let Some(lit) = key.string(cx, value) else {
                    return;
                };
                match lit.parse::<syn::Path>() {
                    Ok(path) => out.krate = Some(path),
                    Err(_) => cx.error_spanned_by(
                        &lit,
                        format!(
                            "`crate` must be a path to the orchestra crate, such as `::orchestra` or `my_crate::orchestra`, not {:?}",
                            lit.value()
                        ),
                    ),
                }
            }
            _ => unreachable!("every conductor key is handled"),
        }
    });
    out
}

/// The `crate = "..."` of `#[conductor(...)]`, read leniently (errors are
/// reported by [`conductor`]): for the fallback impl.
pub(crate) fn crate_path(attrs: &[Attribute]) -> Option<syn::Path> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("conductor")) {
        let _ = attr.parse_nested_meta(|meta| {
            let value = take_value(meta.input)?;
            if let (true, Value::Eq(tokens)) = (meta.path.is_ident("crate"), value)
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
    for attr in attrs.iter().filter(|a| a.path().is_ident("conductor")) {
        cx.error_spanned_by(
            attr,
            format!(
                "`#[conductor(...)]` goes on the struct; on a field, use `#[player(...)]` with one of {}",
                list(PLAYER_KEYS.iter().copied())
            ),
        );
    }
    let mut out = Player::default();
    let mut seen = Seen {
        attr: "player",
        keys: Vec::new(),
    };
    each_key(cx, attrs, "player", |path, value| {
        let Some(key) = seen.key(cx, path, PLAYER_KEYS) else {
            return;
        };
        out.keys.push((key.name, key.span));
        match key.name {
            "name" => out.name = key.name_value(cx, value),
            "timeout" => out.timeout = key.duration(cx, value),
            "restart" => out.restart = restart(cx, key, value),
            "backoff" => out.backoff = backoff(cx, key, value),
            "max_attempts" => out.max_attempts = key.count(cx, value),
            "max_restarts" => out.max_restarts = key.count(cx, value),
            "within" => out.within = key.duration(cx, value),
            "delay" => out.delay = key.duration(cx, value),
            "after" => out.after = after(cx, key, value),
            "grace" => out.grace = key.duration(cx, value),
            "stable_after" => out.stable_after = key.duration(cx, value),
            "skip" => out.skip = key.flag(cx, &value),
            _ => unreachable!("every player key is handled"),
        }
    });
    out.check(cx);
    out
}

impl Player {
    fn key_span(&self, name: &str) -> Option<Span> {
        self.keys
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, span)| *span)
    }

    /// The rules between the keys of one field.
    fn check(&self, cx: &Ctxt) {
        if self.keys.iter().any(|(k, _)| *k == "skip") {
            for (key, span) in self.keys.iter().filter(|(k, _)| *k != "skip") {
                cx.error_at(
                    *span,
                    format!(
                        "`{key}` has no effect on a skipped field: `skip` leaves the field out of the conductor"
                    ),
                );
            }
            return;
        }
        match (self.key_span("max_restarts"), self.key_span("within")) {
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
        let restarts = self
            .restart
            .as_ref()
            .is_some_and(|r| r.value != Restart::Never);
        if !restarts {
            for key in ["backoff", "stable_after"] {
                if let Some(span) = self.key_span(key) {
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

fn restart(cx: &Ctxt, key: Key, value: Value) -> Option<Spanned<Restart>> {
    let lit = key.string(cx, value)?;
    let written = lit.value();
    if let Some((_, value)) = RESTARTS.iter().find(|(name, _)| *name == written) {
        return Some(Spanned {
            value: *value,
            span: lit.span(),
        });
    }
    let names = RESTARTS.iter().map(|(name, _)| *name);
    let hint = match did_you_mean(&written, names.clone()) {
        Some(near) => format!("did you mean `{near}`? "),
        None => String::new(),
    };
    cx.error_spanned_by(
        &lit,
        format!(
            "unknown restart policy `{written}`; {hint}expected one of {}",
            list(names)
        ),
    );
    None
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
            cx.error_spanned_by(&lit, format!("`{name}` is named twice in `after`"));
            continue;
        }
        names.push(Spanned {
            value: name,
            span: lit.span(),
        });
    }
    names
}

fn backoff(cx: &Ctxt, key: Key, value: Value) -> Option<Spanned<Backoff>> {
    match value {
        Value::List(tokens) => {
            let span = key.span;
            backoff_list(cx, tokens, span).map(|b| Spanned {
                value: Backoff::Builtin(b),
                span,
            })
        }
        value => {
            let lit = key.string(cx, value)?;
            let written = lit.value();
            if let Some(kind) = Kind::parse(&written) {
                return Some(Spanned {
                    value: Backoff::Builtin(Builtin::new(kind)),
                    span: lit.span(),
                });
            }
            if written.contains("::") {
                return match lit.parse::<syn::Path>() {
                    Ok(path) => Some(Spanned {
                        value: Backoff::Custom(path),
                        span: lit.span(),
                    }),
                    Err(_) => {
                        cx.error_spanned_by(
                            &lit,
                            format!(
                                "`{written}` is not a path to a function returning `orchestra::Backoff`, such as `\"crate::my_backoff\"`"
                            ),
                        );
                        None
                    }
                };
            }
            let kinds = Kind::ALL.iter().map(|(name, _)| *name);
            let function = "the path of a function returning `orchestra::Backoff`";
            let message = match did_you_mean(&written, kinds.clone()) {
                Some(near) => format!(
                    "unknown backoff `{written}`; did you mean `{near}`? expected {}, or {function} such as `\"crate::my_backoff\"`",
                    one_of(kinds)
                ),
                None => format!(
                    "unknown backoff `{written}`; expected {}, or {function}: for a function of this module, write `\"self::{written}\"`",
                    one_of(kinds)
                ),
            };
            cx.error_spanned_by(&lit, message);
            None
        }
    }
}

impl Builtin {
    fn new(kind: Kind) -> Self {
        Builtin {
            kind,
            min: None,
            max: None,
            delay: None,
            factor: None,
            jitter: false,
            max_times: None,
        }
    }
}

/// `backoff(exponential, min = "100ms", max = "30s", factor = 3.0, jitter, max_times = 5)`
fn backoff_list(cx: &Ctxt, tokens: TokenStream, span: Span) -> Option<Builtin> {
    let starts = || {
        format!(
            "`backoff(...)` starts with its strategy, {}, such as `backoff(exponential, max = \"10s\")`",
            one_of(Kind::ALL.iter().map(|(n, _)| *n))
        )
    };
    if tokens.is_empty() {
        cx.error_at(span, starts());
        return None;
    }
    // `None` until the strategy is read; `Some(None)` if it was invalid.
    let mut builtin: Option<Option<Builtin>> = None;
    let mut seen = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let value = take_value(meta.input)?;
        let written = meta.path.to_token_stream().to_string().replace(' ', "");
        let Some(state) = &mut builtin else {
            let kind = meta
                .path
                .get_ident()
                .and_then(|ident| Kind::parse(&ident.to_string()));
            match (kind, &value) {
                (Some(kind), Value::Flag) => builtin = Some(Some(Builtin::new(kind))),
                (Some(_), _) => {
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "the strategy takes no value: write `backoff({written}, <parameters>)`"
                        ),
                    );
                    builtin = Some(None);
                }
                (None, _) => {
                    let hint = match did_you_mean(&written, Kind::ALL.iter().map(|(n, _)| *n)) {
                        Some(near) => format!("did you mean `{near}`? "),
                        None => String::new(),
                    };
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown backoff strategy `{written}`; {hint}{}", starts()),
                    );
                    builtin = Some(None);
                }
            }
            return Ok(());
        };
        let Some(b) = state else {
            return Ok(());
        };
        let accepted = b.kind.parameters();
        let name = meta
            .path
            .get_ident()
            .and_then(|_| accepted.iter().copied().find(|p| *p == written));
        let Some(name) = name else {
            let hint = match did_you_mean(&written, accepted.iter().copied()) {
                Some(near) => format!("did you mean `{near}`? "),
                None => String::new(),
            };
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "unknown `backoff({})` parameter `{written}`; {hint}expected {}",
                    b.kind.name(),
                    one_of(accepted.iter().copied())
                ),
            );
            return Ok(());
        };
        if seen.contains(&name) {
            cx.error_spanned_by(
                &meta.path,
                format!("duplicate `backoff` parameter `{name}`"),
            );
            return Ok(());
        }
        seen.push(name);
        let key = Key {
            attr: "backoff",
            name,
            span: meta.path.span(),
        };
        match name {
            "min" => b.min = key.duration(cx, value),
            "max" => b.max = key.duration(cx, value),
            "delay" => b.delay = key.duration(cx, value).map(|d| d.value),
            "jitter" => b.jitter = key.flag(cx, &value),
            "max_times" => b.max_times = key.count(cx, value).map(|n| n.value),
            "factor" => b.factor = factor(cx, key, value),
            _ => unreachable!("every backoff parameter is handled"),
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(tokens) {
        cx.syn_error(error);
    }
    let b = builtin.flatten()?;
    check_bounds(cx, &b);
    Some(b)
}

/// The growth factor of an exponential backoff: a finite number of at least 1.
fn factor(cx: &Ctxt, key: Key, value: Value) -> Option<f32> {
    let lit = key.literal(cx, value, "a number")?;
    let parsed = match &lit {
        Lit::Float(float) => float.base10_parse::<f32>().ok(),
        Lit::Int(int) => int.base10_parse::<f32>().ok(),
        _ => None,
    };
    match parsed {
        Some(f) if f.is_finite() && f >= 1.0 => Some(f),
        Some(f) => {
            cx.error_spanned_by(&lit, format!("`factor` must be at least 1, not {f}"));
            None
        }
        None => {
            cx.error_spanned_by(&lit, "expected a number: `factor = 2.0`");
            None
        }
    }
}

/// `min` must not be longer than `max`, given or defaulted.
fn check_bounds(cx: &Ctxt, b: &Builtin) {
    let show = duration::display;
    match (&b.min, &b.max) {
        (Some(min), Some(max)) if min.value > max.value => cx.error_at(
            min.span,
            format!(
                "`min` ({}) is longer than `max` ({})",
                show(min.value),
                show(max.value)
            ),
        ),
        (Some(min), None) if min.value > DEFAULT_MAX => cx.error_at(
            min.span,
            format!(
                "`min` ({}) is longer than the default `max` ({}): set `max` too",
                show(min.value),
                show(DEFAULT_MAX)
            ),
        ),
        (None, Some(max)) if max.value < DEFAULT_MIN => cx.error_at(
            max.span,
            format!(
                "`max` ({}) is shorter than the default `min` ({}): set `min` too",
                show(max.value),
                show(DEFAULT_MIN)
            ),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, edit_distance};

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["name", "timeout", "backoff", "max_attempts", "restart"];
        assert_eq!(did_you_mean("backof", keys), Some("backoff"));
        assert_eq!(did_you_mean("timout", keys), Some("timeout"));
        assert_eq!(did_you_mean("max_attempt", keys), Some("max_attempts"));
        assert_eq!(did_you_mean("retries", keys), None);
        assert_eq!(
            did_you_mean("on_failure", ["never", "on-failure"]),
            Some("on-failure")
        );
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
