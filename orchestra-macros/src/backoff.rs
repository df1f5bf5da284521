//! The backoff mini-language of `#[player(backoff ...)]`: a strategy
//! (`backoff = "exponential"`), a strategy with parameters
//! (`backoff(exponential, max = "10s", jitter)`), or the path of a function
//! (`backoff = "crate::slow"`).
//!
//! Only what is written is checked and emitted: a parameter left out takes
//! orchestra's default at run time (`orchestra::Backoff`), which is also
//! where a value written here is checked against a default (a `min` longer
//! than the default `max` fails the conductor's start, as it does for a
//! `Backoff` built in code). The one default of the derive's own is the
//! delay of `backoff = "constant"`, which `Backoff::constant` requires.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::{Lit, LitStr};

use crate::ctxt::Ctxt;
use crate::duration;
use crate::key::{Attr, Key, Keys, Setter, Spanned, Value, resolve, take_value};
use crate::message::{did_you_mean, did_you_mean_hint, one_of};
use crate::symbol::{BACKOFF, DELAY, FACTOR, JITTER, MAX, MAX_TIMES, MIN, Symbol};

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

/// The delay of `backoff = "constant"` when none is given (as backon's).
pub(crate) const DEFAULT_CONSTANT_DELAY: Duration = Duration::from_secs(1);

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Zero,
        Kind::Constant,
        Kind::Exponential,
        Kind::Fibonacci,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Zero => "zero",
            Kind::Constant => "constant",
            Kind::Exponential => "exponential",
            Kind::Fibonacci => "fibonacci",
        }
    }

    fn names() -> impl Iterator<Item = &'static str> + Clone {
        Kind::ALL.into_iter().map(Kind::name)
    }

    fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The parameters `backoff(<kind>, ...)` accepts.
    fn parameters(self) -> &'static Keys<Parameters> {
        match self {
            Kind::Zero => &[P_MAX_TIMES],
            Kind::Constant => &[P_DELAY, P_JITTER, P_MAX_TIMES],
            Kind::Exponential => &[P_MIN, P_MAX, P_FACTOR, P_JITTER, P_MAX_TIMES],
            Kind::Fibonacci => &[P_MIN, P_MAX, P_JITTER, P_MAX_TIMES],
        }
    }
}

/// The parameters of `backoff(<kind>, ...)` as they are read.
#[derive(Default)]
struct Parameters {
    min: Attr<Spanned<Duration>>,
    max: Attr<Spanned<Duration>>,
    delay: Attr<Spanned<Duration>>,
    factor: Attr<f32>,
    jitter: Attr<()>,
    max_times: Attr<Spanned<u32>>,
}

type Parameter = (Symbol, Setter<Parameters>);

const P_MIN: Parameter = (MIN, |p, cx, key, value| {
    p.min.set(cx, key, || key.duration(cx, value))
});
const P_MAX: Parameter = (MAX, |p, cx, key, value| {
    p.max.set(cx, key, || key.duration(cx, value))
});
const P_DELAY: Parameter = (DELAY, |p, cx, key, value| {
    p.delay.set(cx, key, || key.duration(cx, value))
});
const P_FACTOR: Parameter = (FACTOR, |p, cx, key, value| {
    p.factor.set(cx, key, || factor(cx, key, value))
});
const P_JITTER: Parameter = (JITTER, |p, cx, key, value| {
    p.jitter.set(cx, key, || key.flag(cx, &value))
});
const P_MAX_TIMES: Parameter = (MAX_TIMES, |p, cx, key, value| {
    p.max_times.set(cx, key, || key.count(cx, value))
});

impl Parameters {
    fn finish(self, kind: Kind) -> Builtin {
        Builtin {
            kind,
            min: self.min.get(),
            max: self.max.get(),
            delay: self.delay.get().map(|d| d.value),
            factor: self.factor.get(),
            jitter: self.jitter.get().is_some(),
            max_times: self.max_times.get().map(|n| n.value),
        }
    }
}

/// The value of `backoff`: `= "<strategy or path>"` or `(<strategy>, ...)`.
pub(crate) fn parse(cx: &Ctxt, key: Key, value: Value) -> Option<Spanned<Backoff>> {
    if let Value::List(tokens) = value {
        let span = key.span;
        return list(cx, tokens, span).map(|b| Spanned {
            value: Backoff::Builtin(b),
            span,
        });
    }
    let lit = key.string(cx, value)?;
    let span = lit.span();
    let value = string(cx, &lit)?;
    Some(Spanned { value, span })
}

/// `backoff = "exponential"` or `backoff = "crate::my_backoff"`.
fn string(cx: &Ctxt, lit: &LitStr) -> Option<Backoff> {
    let written = lit.value();
    if let Some(kind) = Kind::parse(&written) {
        return Some(Backoff::Builtin(Parameters::default().finish(kind)));
    }
    if written.contains("::") {
        return match lit.parse::<syn::Path>() {
            Ok(path) => Some(Backoff::Custom(path)),
            Err(_) => {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "`{written}` is not a path to a function returning `orchestra::Backoff`, such as `\"crate::my_backoff\"`"
                    ),
                );
                None
            }
        };
    }
    let function = "the path of a function returning `orchestra::Backoff`";
    let kinds = one_of(Kind::names());
    let message = match did_you_mean(&written, Kind::names()) {
        Some(near) => format!(
            "unknown backoff `{written}`; did you mean `{near}`? expected {kinds}, or {function} such as `\"crate::my_backoff\"`"
        ),
        None => format!(
            "unknown backoff `{written}`; expected {kinds}, or {function}: for a function of this module, write `\"self::{written}\"`"
        ),
    };
    cx.error_spanned_by(lit, message);
    None
}

/// `backoff(exponential, min = "100ms", max = "30s", factor = 3.0, jitter, max_times = 5)`
fn list(cx: &Ctxt, tokens: TokenStream, span: Span) -> Option<Builtin> {
    let starts = || {
        format!(
            "`backoff(...)` starts with its strategy, {}, such as `backoff(exponential, max = \"10s\")`",
            one_of(Kind::names())
        )
    };
    if tokens.is_empty() {
        cx.error_at(span, starts());
        return None;
    }
    // `None` until the strategy is read; `Some(None)` if it was invalid.
    let mut strategy: Option<Option<Kind>> = None;
    let mut parameters = Parameters::default();
    let parser = syn::meta::parser(|meta| {
        let value = take_value(meta.input)?;
        match strategy {
            Some(Some(kind)) => {
                let shown = format!("{BACKOFF}({})", kind.name());
                if let Some((key, set)) =
                    resolve(cx, BACKOFF, &shown, &meta.path, kind.parameters())
                {
                    set(&mut parameters, cx, key, value);
                }
            }
            // The strategy was invalid: its parameters cannot be checked.
            Some(None) => {}
            None => {
                let written = meta.path.to_token_stream().to_string().replace(' ', "");
                let kind = meta.path.get_ident().and_then(|_| Kind::parse(&written));
                strategy = Some(match (kind, &value) {
                    (Some(kind), Value::Flag) => Some(kind),
                    (Some(_), _) => {
                        cx.error_spanned_by(
                            &meta.path,
                            format!(
                                "the strategy takes no value: write `backoff({written}, <parameters>)`"
                            ),
                        );
                        None
                    }
                    (None, _) => {
                        cx.error_spanned_by(
                            &meta.path,
                            format!(
                                "unknown backoff strategy `{written}`; {}{}",
                                did_you_mean_hint(&written, Kind::names()),
                                starts()
                            ),
                        );
                        None
                    }
                });
            }
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(tokens) {
        cx.syn_error(error);
    }
    let builtin = parameters.finish(strategy.flatten()?);
    check_bounds(cx, &builtin);
    Some(builtin)
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
            cx.error_spanned_by(&lit, format!("`{FACTOR}` must be at least 1, not {f}"));
            None
        }
        None => {
            cx.error_spanned_by(&lit, format!("expected a number: `{}`", FACTOR.example));
            None
        }
    }
}

/// `min` must not be longer than `max` when both are written (against a
/// default, orchestra checks it when the conductor starts).
fn check_bounds(cx: &Ctxt, b: &Builtin) {
    if let (Some(min), Some(max)) = (&b.min, &b.max)
        && min.value > max.value
    {
        cx.error_at(
            min.span,
            format!(
                "`{MIN}` ({}) is longer than `{MAX}` ({})",
                duration::display(min.value),
                duration::display(max.value)
            ),
        );
    }
}
