//! The grammar every attribute shares: `key`, `key = value` or
//! `key(...)`, each key resolved against the keys its attribute accepts and
//! stored once in an [`Attr`], which reports a repeated key on the spot.
//! The readers of [`Key`] turn a value into a string, a duration, a count or
//! a name, reporting what is wrong at the offending token.

use std::time::Duration;

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned as _;
use syn::{Attribute, Lit, LitStr, Meta, Token};

use crate::ctxt::Ctxt;
use crate::duration;
use crate::message::{did_you_mean_hint, one_of};
use crate::symbol::{BACKOFF, MAX_ATTEMPTS, MAX_RESTARTS, Symbol};

/// A value and where it was written (the literal, for values).
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// What follows a key: nothing, `= tokens`, or `(tokens)`.
pub(crate) enum Value {
    Flag,
    Eq(TokenStream),
    List(TokenStream),
}

/// Consumes the value of the key just parsed, whatever it is, so that the
/// next key can be parsed even if this one is wrong.
pub(crate) fn take_value(input: ParseStream) -> syn::Result<Value> {
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

/// How a key stores its value into the attributes `A` being read.
pub(crate) type Setter<A> = fn(&mut A, &Ctxt, Key, Value);

/// The keys an attribute accepts, each with its [`Setter`]: the one list
/// that both resolves the keys and names them in messages.
pub(crate) type Keys<A> = [(Symbol, Setter<A>)];

/// The names of `keys`, for messages.
pub(crate) fn names<A>(keys: &Keys<A>) -> impl Iterator<Item = &'static str> + Clone + '_ {
    keys.iter().map(|(symbol, _)| symbol.name)
}

/// A key as written in an attribute, resolved.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    /// The attribute the key is in: `player`, `conductor` or `backoff`.
    pub(crate) scope: Symbol,
    pub(crate) symbol: Symbol,
    /// The key as written.
    pub(crate) span: Span,
}

/// Resolves the key written as `path` among `keys`, reporting an unknown
/// one; `shown` is how the scope reads in that message (`backoff(zero)`).
pub(crate) fn resolve<A>(
    cx: &Ctxt,
    scope: Symbol,
    shown: &str,
    path: &syn::Path,
    keys: &Keys<A>,
) -> Option<(Key, Setter<A>)> {
    let written = path
        .segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect::<Vec<_>>()
        .join("::");
    let found = path
        .get_ident()
        .and_then(|_| keys.iter().find(|(symbol, _)| symbol.name == written));
    let Some(&(symbol, set)) = found else {
        cx.error_spanned_by(
            path,
            format!(
                "unknown `{shown}` {} `{written}`; {}expected {}",
                item(scope),
                did_you_mean_hint(&written, names(keys)),
                one_of(names(keys))
            ),
        );
        return None;
    };
    let key = Key {
        scope,
        symbol,
        span: path.span(),
    };
    Some((key, set))
}

/// What the keys of `scope` are called in messages.
fn item(scope: Symbol) -> &'static str {
    if scope == BACKOFF {
        "parameter"
    } else {
        "attribute"
    }
}

/// Every key of every `#[<scope>(...)]` among `attrs`, in the order
/// written, with its value and setter. Unknown keys are reported and left
/// out; a syntax error ends the attribute it is in, not the others.
pub(crate) fn read<A>(
    cx: &Ctxt,
    attrs: &[Attribute],
    scope: Symbol,
    keys: &Keys<A>,
) -> Vec<(Key, Value, Setter<A>)> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| *a.path() == scope) {
        match &attr.meta {
            // `#[player]` alone: nothing to set.
            Meta::Path(_) => {}
            Meta::NameValue(nv) => cx.error_spanned_by(
                nv,
                format!("expected `#[{scope}(...)]`, such as `{}`", scope.example),
            ),
            Meta::List(_) => {
                let parsed = attr.parse_nested_meta(|meta| {
                    let value = take_value(meta.input)?;
                    if let Some((key, set)) = resolve(cx, scope, scope.name, &meta.path, keys) {
                        out.push((key, value, set));
                    }
                    Ok(())
                });
                if let Err(error) = parsed {
                    cx.syn_error(error);
                }
            }
        }
    }
    out
}

/// The value of one key and where the key is written. A key given twice is
/// reported where it is repeated, when it is stored (as serde_derive's
/// `Attr<T>`).
pub(crate) struct Attr<T> {
    span: Option<Span>,
    value: Option<T>,
}

impl<T> Default for Attr<T> {
    fn default() -> Self {
        Attr {
            span: None,
            value: None,
        }
    }
}

impl<T> Attr<T> {
    /// Stores the value `read` parses (`None` if it is invalid, which `read`
    /// reported), unless `key` was given before.
    pub(crate) fn set(&mut self, cx: &Ctxt, key: Key, read: impl FnOnce() -> Option<T>) {
        if self.span.is_some() {
            let hint = match key.symbol.repeated {
                Some(instead) => format!("; {instead}"),
                None => String::new(),
            };
            cx.error_at(
                key.span,
                format!(
                    "duplicate `{}` {} `{}`{hint}",
                    key.scope,
                    item(key.scope),
                    key.symbol
                ),
            );
            return;
        }
        self.span = Some(key.span);
        self.value = read();
    }

    /// Where the key is written, if it is, whether its value is valid or not.
    pub(crate) fn span(&self) -> Option<Span> {
        self.span
    }

    pub(crate) fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value
    }
}

impl Key {
    /// The tokens after `=`, or an error saying how the key is written.
    fn eq(self, cx: &Ctxt, value: Value) -> Option<TokenStream> {
        let symbol = self.symbol;
        match value {
            Value::Eq(tokens) => Some(tokens),
            Value::Flag => {
                cx.error_at(
                    self.span,
                    format!("`{symbol}` needs a value: `{}`", symbol.example),
                );
                None
            }
            Value::List(_) => {
                cx.error_at(
                    self.span,
                    format!("expected `{}`, not `{symbol}(...)`", symbol.example),
                );
                None
            }
        }
    }

    /// A flag such as `skip` or `jitter`, which takes no value.
    pub(crate) fn flag(self, cx: &Ctxt, value: &Value) -> Option<()> {
        match value {
            Value::Flag => Some(()),
            Value::Eq(tokens) | Value::List(tokens) => {
                let symbol = self.symbol;
                let message = format!("`{symbol}` takes no value: write `{symbol}` alone");
                if tokens.is_empty() {
                    cx.error_at(self.span, message);
                } else {
                    cx.error_spanned_by(tokens, message);
                }
                None
            }
        }
    }

    /// The single literal after `=`.
    pub(crate) fn literal(self, cx: &Ctxt, value: Value, what: &str) -> Option<Lit> {
        self.literal_tokens(cx, value, what).map(|(lit, _)| lit)
    }

    /// The single literal after `=`, and its tokens (`-1` is two tokens,
    /// which the literal's span does not cover on stable).
    fn literal_tokens(self, cx: &Ctxt, value: Value, what: &str) -> Option<(Lit, TokenStream)> {
        let tokens = self.eq(cx, value)?;
        if let Ok(lit) = syn::parse2::<Lit>(tokens.clone()) {
            return Some((lit, tokens));
        }
        cx.error_spanned_by(
            tokens,
            format!("expected {what}: `{}`", self.symbol.example),
        );
        None
    }

    /// The string after `=`.
    pub(crate) fn string(self, cx: &Ctxt, value: Value) -> Option<LitStr> {
        match self.literal(cx, value, "a string")? {
            Lit::Str(lit) => Some(lit),
            other => {
                cx.error_spanned_by(
                    other,
                    format!("expected a string: `{}`", self.symbol.example),
                );
                None
            }
        }
    }

    /// A humane duration, such as `timeout = "5s"`.
    pub(crate) fn duration(self, cx: &Ctxt, value: Value) -> Option<Spanned<Duration>> {
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
                        self.symbol,
                        lit.value(),
                        duration::EXPECTED
                    ),
                );
                None
            }
        }
    }

    /// An integer of at least 1, such as `max_attempts = 5`.
    pub(crate) fn count(self, cx: &Ctxt, value: Value) -> Option<Spanned<u32>> {
        let (lit, tokens) = self.literal_tokens(cx, value, "an integer")?;
        let n = match &lit {
            Lit::Int(int) => int.base10_parse::<i128>().ok(),
            _ => None,
        };
        let Some(n) = n else {
            cx.error_spanned_by(
                &tokens,
                format!("expected an integer: `{}`", self.symbol.example),
            );
            return None;
        };
        if n < 1 {
            let hint = if self.symbol == MAX_ATTEMPTS || self.symbol == MAX_RESTARTS {
                "; to never restart a player, leave `restart` out (or write `restart = \"never\"`)"
            } else {
                ""
            };
            cx.error_spanned_by(
                &tokens,
                format!("`{}` must be at least 1, not {n}{hint}", self.symbol),
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
                    format!("`{}` is too large: at most {}", self.symbol, u32::MAX),
                );
                None
            }
        }
    }

    /// A player or conductor name: non-empty, without `/`.
    pub(crate) fn name(self, cx: &Ctxt, value: Value) -> Option<Spanned<String>> {
        let lit = self.string(cx, value)?;
        let name = lit.value();
        if name.is_empty() {
            cx.error_spanned_by(&lit, format!("a {} name cannot be empty", self.scope));
            return None;
        }
        if name.contains('/') {
            cx.error_spanned_by(
                &lit,
                format!(
                    "a {} name cannot contain `/`, which separates the names in a path such as `app/jobs/mailer`",
                    self.scope
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
