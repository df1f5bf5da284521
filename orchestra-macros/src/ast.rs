//! The derive's input as the rest of the macro sees it: the struct and its
//! fields with their parsed attributes, keeping the syn nodes for spans.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Generics, Ident, Type};

use crate::attr;
use crate::ctxt::Ctxt;

/// A struct deriving `Conductor`.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: attr::Conductor,
    /// The conductor's name when it is not given one by its parent:
    /// `#[conductor(name)]`, or the struct's name in snake case.
    pub(crate) name: String,
    pub(crate) fields: Vec<Field<'a>>,
}

/// A field of the struct: a player, unless it is skipped.
pub(crate) struct Field<'a> {
    pub(crate) member: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: attr::Player,
    /// The player's name: `#[player(name)]`, or the field's name.
    pub(crate) name: String,
    /// Where the name is written: the `name` literal, or the field's name.
    pub(crate) name_span: Span,
}

impl Field<'_> {
    pub(crate) fn is_player(&self) -> bool {
        !self.attrs.skip
    }
}

const SHAPE: &str = "`#[derive(Conductor)]` needs a struct with named fields, one per player, such as `struct App { http: Http, jobs: Jobs }`";

impl<'a> Input<'a> {
    /// Reads the struct and its attributes; `None` if it is not a struct
    /// with named fields (the error is in `cx`).
    pub(crate) fn from_syn(cx: &Ctxt, node: &'a DeriveInput) -> Option<Self> {
        let attrs = attr::conductor(cx, &node.attrs);
        let fields = match &node.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(fields) => &fields.named,
                Fields::Unnamed(fields) => {
                    cx.error_spanned_by(
                        fields,
                        format!("{SHAPE}; players are named after their fields, so a tuple struct cannot be a conductor"),
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        &node.ident,
                        format!("{SHAPE}; a unit struct has no players"),
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    format!("{SHAPE}, not an enum; to choose players at run time, build an `orchestra::Conductor`"),
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, format!("{SHAPE}, not a union"));
                return None;
            }
        };
        let fields = fields
            .iter()
            .filter_map(|field| {
                let member = field.ident.as_ref()?;
                let attrs = attr::player(cx, &field.attrs);
                let (name, name_span) = match &attrs.name {
                    Some(name) => (name.value.clone(), name.span),
                    None => (member.unraw().to_string(), member.span()),
                };
                Some(Field {
                    member,
                    ty: &field.ty,
                    attrs,
                    name,
                    name_span,
                })
            })
            .collect();
        let name = match &attrs.name {
            Some(name) => name.value.clone(),
            None => snake_case(&node.ident.unraw().to_string()),
        };
        Some(Input {
            ident: &node.ident,
            generics: &node.generics,
            attrs,
            name,
            fields,
        })
    }

    /// The fields that are players.
    pub(crate) fn players(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.is_player())
    }
}

/// `MyService` → `my_service`, `HTTPServer` → `http_server`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let previous = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let starts_word = match previous {
                None | Some('_') => false,
                Some(p) => {
                    p.is_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
                }
            };
            if starts_word {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn struct_names_become_snake_case() {
        assert_eq!(snake_case("App"), "app");
        assert_eq!(snake_case("MyService"), "my_service");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("MyAPIServer2"), "my_api_server2");
        assert_eq!(snake_case("Api2Gateway"), "api2_gateway");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("Snake_Case"), "snake_case");
    }
}
