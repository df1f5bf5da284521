//! Generates the `Player` impl of a conductor: glue that hands its fields to
//! orchestra's engine, never an engine of its own.

use std::collections::HashSet;
use std::time::Duration;

use proc_macro2::{Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{DeriveInput, Ident, Type, WherePredicate, parse_quote};

use crate::ast::{Field, Input};
use crate::attr::{OnExit, OnReload, Restart, Strategy};
use crate::backoff::{self, Backoff, Builtin, Kind};
use crate::check;
use crate::ctxt::Ctxt;
use crate::fallback;

/// The `Player` impl of `node`, or every error found in it followed by a
/// fallback impl (so that one typo does not also make every use of the
/// struct fail).
pub(crate) fn derive(node: &DeriveInput) -> TokenStream {
    match try_expand(node) {
        Ok(tokens) => tokens,
        Err(error) => fallback::expand(node, &error),
    }
}

fn try_expand(node: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let input = Input::from_syn(&cx, node);
    if let Some(input) = &input {
        check::check(&cx, input);
    }
    cx.check()?;
    match input {
        Some(input) => Ok(impl_player(&input)),
        None => Err(syn::Error::new_spanned(node, "not a conductor")),
    }
}

/// The name of `Player`'s depth constant: what rustc's error names when
/// conductor types contain one another.
const DEPTH: &str = "__DEPTH_CYCLES_IF_A_CONDUCTOR_CONTAINS_ITSELF";

/// The path to the runtime crate: `::orchestra` unless `#[conductor(crate)]`.
pub(crate) fn default_crate() -> syn::Path {
    parse_quote!(::orchestra)
}

fn impl_player(input: &Input<'_>) -> TokenStream {
    let krate = input.attrs.krate.clone().unwrap_or_else(default_crate);
    let ident = input.ident;
    let name = &input.name;
    let timeout = optional_duration(&krate, input.attrs.timeout.as_ref().map(|t| t.value));
    let drain = input.attrs.drain.as_ref().map(|drain| {
        let drain = duration(&krate, drain.value);
        quote!(.drain(#drain))
    });

    let supervised = supervision(&krate, input);
    let players: Vec<&Field<'_>> = input.players().collect();
    let members: Vec<&Ident> = players.iter().map(|f| f.member).collect();
    let names: Vec<&str> = players.iter().map(|f| f.name.as_str()).collect();
    let indices: Vec<Literal> = (0..players.len()).map(Literal::usize_unsuffixed).collect();
    let count = Literal::usize_unsuffixed(players.len());
    let private = quote!(#krate::__private010);
    // A field's options, made by a function of its own when it sets any;
    // a field with none takes the default options every member shares.
    let mut option_fns = Vec::new();
    let options: Vec<TokenStream> = players
        .iter()
        .enumerate()
        .map(|(i, f)| match player_options(&krate, f) {
            Some(body) => {
                let options = format_ident!("__options_{}", i);
                option_fns.push(quote! {
                    fn #options() -> #krate::PlayerOptions {
                        #body
                    }
                });
                quote!(#private::shared(#options()))
            }
            None => quote!(#private::default_options()),
        })
        .collect();
    let depth_const = format_ident!("{}", DEPTH);
    // The depth is also where a field type that is not a player is
    // reported: once, on the type (`__conductor` dispatches through
    // `Field` and adds no error of its own).
    let depth = players.iter().fold(quote!(0), |rest, f| {
        let ty = f.ty;
        quote!(#private::max(<#ty as #krate::Player>::#depth_const, #rest))
    });
    // The fields, given, lent or shown as `__access` is.
    let fields = |access: TokenStream, field: TokenStream| {
        quote! {
            #private::Access::#access(__this) => ::std::vec![#(
                #private::Field(#private::Access::#access(#field __this.#members))
                    .member(__NAMES.get(#indices), #options),
            )*]
        }
    };
    let own = fields(quote!(Own), quote!());
    let borrow = fields(quote!(Borrow), quote!(&mut));
    let show = fields(quote!(Show), quote!(&));

    let mut generics = input.generics.clone();
    generics
        .make_where_clause()
        .predicates
        .extend(bounds(input, &krate));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // A cycle of conductor types (A holds B, B holds `Box<A>`) makes
    // evaluating the depth a cycle, which rustc rejects, naming the
    // constant: evaluate it where the struct is defined (a generic one,
    // where it is used).
    // Its name is the last line of rustc's cycle error.
    let depth_check = input.generics.params.is_empty().then(|| {
        let check = format_ident!("{}_contains_itself", ident);
        quote! {
            #[allow(dead_code, non_upper_case_globals)]
            const #check: ::core::primitive::usize = <#ident as #krate::Player>::#depth_const;
        }
    });
    let depth_item = quote_spanned! {ident.span()=>
        const #depth_const: ::core::primitive::usize = 1 + #depth;
    };

    quote! {
        const _: () = {
            use #private::{IsPlayer as _, NotAPlayer as _};

            #[automatically_derived]
            impl #impl_generics #krate::Player for #ident #ty_generics #where_clause {
                fn play(
                    &mut self,
                    __ctx: #krate::Context,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<(), #krate::BoxError>,
                > + ::core::marker::Send {
                    #private::play(self, __ctx)
                }

                #depth_item

                fn __conductor(
                    __access: #private::Access<'_, Self>,
                ) -> #private::Member<'_> {
                    #private::Member::conductor(
                        #name,
                        __TIMEOUT,
                        match __access {
                            #own,
                            #borrow,
                            #show,
                        },
                    )
                    #supervised
                    #drain
                }
            }

            const __TIMEOUT: ::core::option::Option<#private::Duration> = #timeout;

            // Shared by the members of every value, made once.
            static __NAMES: #private::Names<#count> = #private::Names::new([#(#names),*]);

            #(#option_fns)*

            #depth_check
        };
    }
}

/// The where-predicates of the impl.
///
/// A player field whose type involves the struct's generic parameters must
/// be a `Player` (so `struct App<W> { w: W }` is a player when `W: Player`,
/// and `struct Pool<J> { workers: Workers<J> }` when `Workers<J>: Player`),
/// and a skipped one `Send + 'static`, as every player is; a lifetime
/// parameter must be `'static`. Fields of concrete types need no bound:
/// `__DEPTH` checks them where the struct is defined.
fn bounds(input: &Input<'_>, krate: &syn::Path) -> Vec<WherePredicate> {
    let params = generic_params(input.generics);
    let mut seen = HashSet::new();
    let mut predicates = Vec::new();
    for field in &input.fields {
        let ty = field.ty;
        if !mentions(ty.to_token_stream(), &params)
            || !seen.insert((field.is_player(), ty.to_token_stream().to_string()))
        {
            continue;
        }
        // Spanned from the type's first token to its last, so that rustc
        // underlines the whole type.
        let end = last_span(ty);
        let bound = if field.is_player() {
            let krate = respan(krate.to_token_stream(), end);
            quote_spanned!(end=> #krate::Player)
        } else {
            quote_spanned!(end=> ::core::marker::Send + 'static)
        };
        predicates.push(parse_quote!(#ty: #bound));
    }
    for lifetime in input.generics.lifetimes() {
        let lifetime = &lifetime.lifetime;
        predicates.push(parse_quote!(#lifetime: 'static));
    }
    predicates
}

/// The names of the generic parameters (types, lifetimes, consts).
fn generic_params(generics: &syn::Generics) -> HashSet<String> {
    generics
        .params
        .iter()
        .map(|param| match param {
            syn::GenericParam::Type(t) => t.ident.to_string(),
            syn::GenericParam::Lifetime(l) => l.lifetime.to_string(),
            syn::GenericParam::Const(c) => c.ident.to_string(),
        })
        .collect()
}

/// Whether `tokens` name one of `params`.
fn mentions(tokens: TokenStream, params: &HashSet<String>) -> bool {
    let mut tokens = tokens.into_iter().peekable();
    while let Some(tt) = tokens.next() {
        let found = match &tt {
            TokenTree::Ident(ident) => params.contains(&ident.to_string()),
            TokenTree::Punct(p) if p.as_char() == '\'' => match tokens.peek() {
                Some(TokenTree::Ident(ident)) => params.contains(&format!("'{ident}")),
                _ => false,
            },
            TokenTree::Group(group) => mentions(group.stream(), params),
            _ => false,
        };
        if found {
            return true;
        }
    }
    false
}

/// The span of the last token of `ty`.
fn last_span(ty: &Type) -> Span {
    ty.to_token_stream()
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |tt| tt.span())
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(group) = &tt {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tt = TokenTree::Group(inner);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

fn duration(krate: &syn::Path, duration: Duration) -> TokenStream {
    let secs = Literal::u64_unsuffixed(duration.as_secs());
    let nanos = Literal::u32_unsuffixed(duration.subsec_nanos());
    quote!(#krate::__private010::Duration::new(#secs, #nanos))
}

fn optional_duration(krate: &syn::Path, value: Option<Duration>) -> TokenStream {
    match value {
        Some(value) => {
            let value = duration(krate, value);
            quote!(::core::option::Option::Some(#value))
        }
        None => quote!(::core::option::Option::None),
    }
}

/// The conductor's strategy and intensity, when `#[conductor(...)]` sets
/// them: `.supervised(strategy, max_restarts)`.
fn supervision(krate: &syn::Path, input: &Input<'_>) -> Option<TokenStream> {
    let a = &input.attrs;
    let window = match (&a.max_restarts, &a.within) {
        (Some(restarts), Some(within)) => {
            let restarts = Literal::u32_unsuffixed(restarts.value);
            let within = duration(krate, within.value);
            Some(quote!(::core::option::Option::Some((#restarts, #within))))
        }
        _ => None,
    };
    if a.strategy.is_none() && window.is_none() {
        return None;
    }
    let strategy = match a.strategy.as_ref().map(|s| s.value) {
        None | Some(Strategy::OneForOne) => quote!(OneForOne),
        Some(Strategy::OneForAll) => quote!(OneForAll),
        Some(Strategy::RestForOne) => quote!(RestForOne),
    };
    let window = window.unwrap_or_else(|| quote!(::core::option::Option::None));
    Some(quote!(.supervised(#krate::Strategy::#strategy, #window)))
}

/// The `PlayerOptions` a field's `#[player(...)]` sets; `None` if it sets
/// none.
fn player_options(krate: &syn::Path, field: &Field<'_>) -> Option<TokenStream> {
    let a = &field.attrs;
    let mut calls = Vec::new();
    if let Some(timeout) = &a.timeout {
        let timeout = duration(krate, timeout.value);
        calls.push(quote!(.timeout(#timeout)));
    }
    if let Some(restart) = &a.restart {
        let variant = match restart.value {
            Restart::Never => quote!(Never),
            Restart::OnFailure => quote!(OnFailure),
            Restart::Always => quote!(Always),
        };
        calls.push(quote!(.restart(#krate::Restart::#variant)));
    }
    let mut lets = TokenStream::new();
    if let Some(backoff) = &a.backoff {
        let backoff = match &backoff.value {
            Backoff::Builtin(builtin) => builtin_backoff(krate, builtin),
            Backoff::Custom(path) => {
                // Typed here, so that a function of another type is
                // reported on the attribute.
                let call = quote_spanned!(backoff.span=> #path());
                lets.extend(quote!(let __backoff: #krate::Backoff = #call;));
                quote!(__backoff)
            }
        };
        calls.push(quote!(.backoff(#backoff)));
    }
    if let Some(attempts) = &a.max_attempts {
        let attempts = Literal::u32_unsuffixed(attempts.value);
        calls.push(quote!(.max_attempts(#attempts)));
    }
    if let (Some(restarts), Some(within)) = (&a.max_restarts, &a.within) {
        let restarts = Literal::u32_unsuffixed(restarts.value);
        let within = duration(krate, within.value);
        calls.push(quote!(.max_restarts(#restarts, #within)));
    }
    if let Some(delay) = &a.delay {
        let delay = duration(krate, delay.value);
        calls.push(quote!(.delay(#delay)));
    }
    for after in &a.after {
        let after = &after.value;
        calls.push(quote!(.after(#after)));
    }
    if let Some(grace) = &a.grace {
        let grace = duration(krate, grace.value);
        calls.push(quote!(.grace(#grace)));
    }
    if let Some(within) = &a.ready_within {
        let within = duration(krate, within.value);
        calls.push(quote!(.ready_within(#within)));
    }
    if a.ignore_readiness {
        calls.push(quote!(.ignore_readiness()));
    }
    if let Some(on_reload) = &a.on_reload {
        let variant = match on_reload.value {
            OnReload::Notify => quote!(Notify),
            OnReload::Restart => quote!(Restart),
        };
        calls.push(quote!(.on_reload(#krate::OnReload::#variant)));
    }
    if let Some(stable) = &a.stable_after {
        let stable = duration(krate, stable.value);
        calls.push(quote!(.stable_after(#stable)));
    }
    if let Some(on_exit) = &a.on_exit {
        let variant = match on_exit.value {
            OnExit::StopOnFailure => quote!(StopOnFailure),
            OnExit::Stop => quote!(Stop),
            OnExit::Continue => quote!(Continue),
        };
        calls.push(quote!(.on_exit(#krate::OnExit::#variant)));
    }
    if calls.is_empty() {
        return None;
    }
    Some(quote! {
        #lets
        #krate::PlayerOptions::new() #(#calls)*
    })
}

fn builtin_backoff(krate: &syn::Path, b: &Builtin) -> TokenStream {
    let mut tokens = match b.kind {
        Kind::Zero => quote!(#krate::Backoff::zero()),
        Kind::Constant => {
            let delay = duration(krate, b.delay.unwrap_or(backoff::DEFAULT_CONSTANT_DELAY));
            quote!(#krate::Backoff::constant(#delay))
        }
        Kind::Exponential => quote!(#krate::Backoff::exponential()),
        Kind::Fibonacci => quote!(#krate::Backoff::fibonacci()),
    };
    if let Some(min) = &b.min {
        let min = duration(krate, min.value);
        tokens.extend(quote!(.min_delay(#min)));
    }
    if let Some(max) = &b.max {
        let max = duration(krate, max.value);
        tokens.extend(quote!(.max_delay(#max)));
    }
    if let Some(factor) = b.factor {
        let factor = Literal::f32_unsuffixed(factor);
        tokens.extend(quote!(.factor(#factor)));
    }
    if b.jitter {
        tokens.extend(quote!(.jitter()));
    }
    if let Some(times) = b.max_times {
        let times = Literal::usize_unsuffixed(times as usize);
        tokens.extend(quote!(.max_times(#times)));
    }
    tokens
}
