//! What a struct that failed to derive expands to besides its errors: a
//! `Player` impl that does nothing, so that the struct's uses (`play_until`,
//! nesting) do not add a cascade of "not a player" errors (as thiserror-impl's
//! `fallback.rs`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, parse_quote};

use crate::attr;
use crate::expand::default_crate;

pub(crate) fn expand(node: &DeriveInput, error: &syn::Error) -> TokenStream {
    let krate = attr::crate_path(&node.attrs).unwrap_or_else(default_crate);
    let ident = &node.ident;
    let mut generics = node.generics.clone();
    if !generics.params.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .push(parse_quote!(Self: ::core::marker::Send + 'static));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let error = error.to_compile_error();
    quote! {
        #error

        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::Player for #ident #ty_generics #where_clause {
                fn play(
                    &mut self,
                    _: #krate::Context,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<(), #krate::BoxError>,
                > + ::core::marker::Send {
                    async { ::core::unreachable!() }
                }
            }
        };
    }
}
