//! The rules that span several fields: at least one player, unique names,
//! `after` naming a sibling and making no cycle, and no conductor holding
//! itself.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{GenericArgument, Ident, PathArguments, Type};

use crate::ast::{Field, Input};
use crate::ctxt::Ctxt;
use crate::message::{did_you_mean_hint, list};

pub(crate) fn check(cx: &Ctxt, input: &Input<'_>) {
    has_players(cx, input);
    not_self_containing(cx, input);
    unique_names(cx, input);
    let edges = after_targets(cx, input);
    no_after_cycle(cx, input, &edges);
}

fn has_players(cx: &Ctxt, input: &Input<'_>) {
    if input.players().next().is_none() {
        let skipped = if input.fields.is_empty() {
            ""
        } else {
            " (fields marked `#[player(skip)]` do not count)"
        };
        cx.error_spanned_by(
            input.ident,
            format!(
                "`{}` has no players: a conductor needs at least one field that is a player{skipped}",
                input.ident.unraw()
            ),
        );
    }
}

/// A field whose type is the conductor itself, directly or as a generic
/// argument (`Self`, `App`, `Box<App>`, `Option<Box<Self>>`…). Cycles through
/// other conductor types are rejected by rustc (see `Player::__DEPTH`).
fn not_self_containing(cx: &Ctxt, input: &Input<'_>) {
    for field in input.players() {
        if let Some(found) = find_self(field.ty, input.ident) {
            let through = if matches!(field.ty, Type::Path(p) if p.path.get_ident() == Some(found))
            {
                String::new()
            } else {
                format!(" (in `{}`)", type_string(field.ty))
            };
            cx.error_spanned_by(
                found,
                format!(
                    "a conductor cannot contain itself: the field `{}` holds `{}`{through}, which would nest `{}` inside itself without end",
                    field.member.unraw(),
                    input.ident.unraw(),
                    input.ident.unraw(),
                ),
            );
        }
    }
}

/// `Self` or the struct's own name, at the top of `ty` or among its generic
/// arguments.
fn find_self<'t>(ty: &'t Type, own: &Ident) -> Option<&'t Ident> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let segments = &path.path.segments;
            if let (1, Some(first)) = (segments.len(), segments.first())
                && path.path.leading_colon.is_none()
                && (first.ident == "Self" || first.ident.unraw() == own.unraw())
            {
                return Some(&first.ident);
            }
            segments
                .iter()
                .find_map(|segment| match &segment.arguments {
                    PathArguments::AngleBracketed(args) => {
                        args.args.iter().find_map(|arg| match arg {
                            GenericArgument::Type(ty) => find_self(ty, own),
                            _ => None,
                        })
                    }
                    _ => None,
                })
        }
        Type::Paren(ty) => find_self(&ty.elem, own),
        Type::Group(ty) => find_self(&ty.elem, own),
        Type::Array(ty) => find_self(&ty.elem, own),
        Type::Slice(ty) => find_self(&ty.elem, own),
        Type::Tuple(ty) => ty.elems.iter().find_map(|ty| find_self(ty, own)),
        _ => None,
    }
}

/// A type as written, for messages: `Box<App>`.
fn type_string(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
}

fn unique_names(cx: &Ctxt, input: &Input<'_>) {
    let players: Vec<&Field<'_>> = input.players().collect();
    for (i, field) in players.iter().enumerate() {
        if let Some(first) = players[..i].iter().find(|f| f.name == field.name) {
            cx.error_at(
                field.name_span,
                format!(
                    "duplicate player name `{}`: the field `{}` is named `{}` too; give one of them another name with `#[player(name = \"...\")]`",
                    field.name,
                    first.member.unraw(),
                    field.name
                ),
            );
        }
    }
}

/// An `after` between two players: `from` starts after `to` (indices among
/// the players), as written at `span`.
struct Edge {
    from: usize,
    to: usize,
    span: Span,
}

/// Checks that every `after` names another player, and resolves them.
fn after_targets(cx: &Ctxt, input: &Input<'_>) -> Vec<Edge> {
    let players: Vec<&Field<'_>> = input.players().collect();
    let mut edges = Vec::new();
    for (from, field) in players.iter().enumerate() {
        for after in &field.attrs.after {
            let target = &after.value;
            if *target == field.name {
                cx.error_at(
                    after.span,
                    format!("player `{target}` cannot start `after` itself"),
                );
                continue;
            }
            if let Some(to) = players.iter().position(|p| p.name == *target) {
                edges.push(Edge {
                    from,
                    to,
                    span: after.span,
                });
                continue;
            }
            let by_field = input
                .fields
                .iter()
                .find(|f| f.member.unraw() == target.as_str());
            let message = match by_field {
                Some(f) if !f.is_player() => format!(
                    "`{target}` is skipped (`#[player(skip)]`), so it is not a player to start after"
                ),
                Some(f) => format!(
                    "no player is named `{target}`: the field `{target}` is named `{}`; write `after = \"{}\"`",
                    f.name, f.name
                ),
                None => {
                    let mut names: Vec<&str> = Vec::new();
                    for player in &players {
                        if !names.contains(&player.name.as_str()) {
                            names.push(&player.name);
                        }
                    }
                    let names = names.into_iter();
                    let hint = did_you_mean_hint(target, names.clone());
                    format!(
                        "no player named `{target}` in `{}`; {hint}its players are {}",
                        input.ident.unraw(),
                        list(names)
                    )
                }
            };
            cx.error_at(after.span, message);
        }
    }
    edges
}

/// Reports every cycle of `after` once, at the first `after` in it.
fn no_after_cycle(cx: &Ctxt, input: &Input<'_>, edges: &[Edge]) {
    let players: Vec<&Field<'_>> = input.players().collect();
    let n = players.len();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; n];
    let mut reported: Vec<Vec<usize>> = Vec::new();

    // Depth-first, iteratively: each frame is a player and the index of the
    // next edge to follow; `via` is the edge that led to each frame.
    for root in 0..n {
        if marks[root] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        let mut via: Vec<&Edge> = Vec::new();
        marks[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let outgoing = edges.iter().filter(|e| e.from == node).nth(*next);
            *next += 1;
            match outgoing {
                None => {
                    marks[node] = Mark::Done;
                    stack.pop();
                    via.pop();
                }
                Some(edge) => match marks[edge.to] {
                    Mark::New => {
                        marks[edge.to] = Mark::OnPath;
                        stack.push((edge.to, 0));
                        via.push(edge);
                    }
                    Mark::OnPath => {
                        let start = stack
                            .iter()
                            .position(|(n, _)| *n == edge.to)
                            .unwrap_or_default();
                        let mut cycle: Vec<&Edge> = via[start..].to_vec();
                        cycle.push(edge);
                        let mut members: Vec<usize> = cycle.iter().map(|e| e.from).collect();
                        members.sort_unstable();
                        if reported.contains(&members) {
                            continue;
                        }
                        reported.push(members);
                        let mut path: Vec<&str> = cycle
                            .iter()
                            .map(|e| players[e.from].name.as_str())
                            .collect();
                        path.push(&players[edge.to].name);
                        cx.error_at(
                            cycle[0].span,
                            format!(
                                "a cycle of `after`: {} (each starts after the next), so none of them could start",
                                path.iter()
                                    .map(|name| format!("`{name}`"))
                                    .collect::<Vec<_>>()
                                    .join(" → ")
                            ),
                        );
                    }
                    Mark::Done => {}
                },
            }
        }
    }
}
