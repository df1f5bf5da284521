//! `#[derive(Conductor)]` for [orchestra](https://docs.rs/orchestra).

use proc_macro::TokenStream;

/// Derives a typed conductor. See the `orchestra` crate's documentation.
#[proc_macro_derive(Conductor, attributes(conductor, player))]
pub fn derive_conductor(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
