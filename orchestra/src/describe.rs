//! A conductor describing itself: its tree of players and their options.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::options::PlayerOptions;
use crate::reload::OnReload;
use crate::restart::Restart;
use crate::supervision::{OnExit, Strategy, Supervision};

/// The tree of players below a player, with their options: for a startup log
/// line ([`Display`](fmt::Display), or `{:#}` for one line) and for a
/// Graphviz rendering ([`to_dot`](Description::to_dot)).
///
/// ```
/// use orchestra::{describe, player_fn, Conductor, Context, PlayerOptions, Restart};
///
/// let idle = || player_fn(|ctx: Context| async move { ctx.cancelled().await; Ok(()) });
/// let mut app = Conductor::named("app");
/// app.add("http", idle())?;
/// app.add_with("worker", idle(), PlayerOptions::new().restart(Restart::OnFailure))?;
///
/// let tree = describe(&app);
/// assert_eq!(format!("{tree:#}"), "app[http, worker(restart = on-failure)]");
/// assert!(tree.to_dot().contains("\"app\" -> \"app/worker\""));
/// # Ok::<(), orchestra::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Description {
    name: String,
    options: PlayerOptions,
    node: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Player {
        type_name: &'static str,
    },
    Conductor {
        timeout: Option<Duration>,
        supervision: Supervision,
        drain: Option<Duration>,
        players: Vec<Description>,
    },
}

impl Description {
    pub(crate) fn leaf(name: &str, options: PlayerOptions, type_name: &'static str) -> Self {
        Description {
            name: name.to_owned(),
            options,
            node: Node::Player { type_name },
        }
    }

    pub(crate) fn conductor(
        name: &str,
        options: PlayerOptions,
        timeout: Option<Duration>,
        supervision: Supervision,
        drain: Option<Duration>,
        players: Vec<Description>,
    ) -> Self {
        Description {
            name: name.to_owned(),
            options,
            node: Node::Conductor {
                timeout,
                supervision,
                drain,
                players,
            },
        }
    }

    /// The name of the described player.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The players below, if this is a conductor.
    pub fn players(&self) -> &[Description] {
        match &self.node {
            Node::Conductor { players, .. } => players,
            Node::Player { .. } => &[],
        }
    }

    /// The paths of every leaf player below, such as `app/jobs/mailer`.
    pub fn paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        self.walk("", &mut |path, d| {
            if matches!(d.node, Node::Player { .. }) {
                paths.push(path.to_owned());
            }
        });
        paths
    }

    /// The tree as a Graphviz DOT digraph: one node per player, labelled with
    /// its options; an edge from each conductor to its players, and a dashed
    /// edge for each `after`.
    pub fn to_dot(&self) -> String {
        let mut dot =
            String::from("digraph orchestra {\n  node [shape=box, fontname=\"monospace\"];\n");
        self.walk("", &mut |path, d| {
            let shape = match d.node {
                Node::Conductor { .. } => ", style=rounded",
                Node::Player { .. } => "",
            };
            let mut label = d.name.clone();
            let options = d.option_list();
            if !options.is_empty() {
                let _ = write!(label, "\\n{}", options.join("\\n"));
            }
            let _ = writeln!(dot, "  \"{path}\" [label=\"{}\"{shape}];", escape(&label));
            let parent = path.rsplit_once('/').map(|(parent, _)| parent);
            if let Some(parent) = parent {
                let _ = writeln!(dot, "  \"{parent}\" -> \"{path}\";");
                for after in &d.options.after {
                    let _ = writeln!(
                        dot,
                        "  \"{parent}/{after}\" -> \"{path}\" [style=dashed, label=\"after\"];"
                    );
                }
            }
        });
        dot.push_str("}\n");
        dot
    }

    fn walk(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Description)) {
        let path = if prefix.is_empty() {
            self.name.clone()
        } else {
            format!("{prefix}/{}", self.name)
        };
        visit(&path, self);
        for player in self.players() {
            player.walk(&path, visit);
        }
    }

    /// The options that differ from the defaults, as the derive spells them.
    fn option_list(&self) -> Vec<String> {
        let o = &self.options;
        let mut list = Vec::new();
        if let Node::Conductor {
            timeout: Some(timeout),
            ..
        } = self.node
            && o.timeout.is_none()
        {
            list.push(format!("timeout = {timeout:?}"));
        }
        if let Node::Conductor {
            drain: Some(drain), ..
        } = self.node
        {
            list.push(format!("drain = {drain:?}"));
        }
        if let Some(timeout) = o.timeout {
            list.push(format!("timeout = {timeout:?}"));
        }
        if let Node::Conductor { supervision, .. } = self.node {
            if supervision.strategy != Strategy::OneForOne {
                list.push(format!("strategy = {}", supervision.strategy));
            }
            if let Some((n, within)) = supervision.max_restarts {
                list.push(format!("max_restarts = {n} within {within:?}"));
            }
        }
        if o.restart != Restart::Never {
            list.push(format!("restart = {}", o.restart));
        }
        if let Some(backoff) = &o.backoff {
            list.push(format!("backoff = {backoff}"));
        }
        if let Some(n) = o.max_attempts {
            list.push(format!("max_attempts = {n}"));
        }
        if let Some((n, within)) = o.max_restarts {
            list.push(format!("max_restarts = {n} within {within:?}"));
        }
        if let Some(delay) = o.delay {
            list.push(format!("delay = {delay:?}"));
        }
        for after in &o.after {
            list.push(format!("after = {after}"));
        }
        if let Some(grace) = o.grace {
            list.push(format!("grace = {grace:?}"));
        }
        if let Some(within) = o.ready_within {
            list.push(format!("ready_within = {within:?}"));
        }
        if o.ignore_readiness {
            list.push("readiness = ignore".to_owned());
        }
        if let Some(stable) = o.stable_after {
            list.push(format!("stable_after = {stable:?}"));
        }
        if o.on_exit != OnExit::StopOnFailure {
            list.push(format!("on_exit = {}", o.on_exit));
        }
        if o.on_reload != OnReload::Notify {
            list.push(format!("on_reload = {}", o.on_reload));
        }
        list
    }

    fn fmt_tree(&self, f: &mut fmt::Formatter<'_>, indent: &str) -> fmt::Result {
        let players = self.players();
        for (i, player) in players.iter().enumerate() {
            let last = i + 1 == players.len();
            let (branch, more) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            write!(f, "\n{indent}{branch}")?;
            player.fmt_head(f)?;
            player.fmt_tree(f, &format!("{indent}{more}"))?;
        }
        Ok(())
    }

    fn fmt_head(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        let options = self.option_list();
        if !options.is_empty() {
            write!(f, " ({})", options.join(", "))?;
        }
        if let Node::Player { type_name } = self.node {
            write!(f, " : {}", short_type_name(type_name))?;
        }
        Ok(())
    }

    fn fmt_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        let options = self.option_list();
        if !options.is_empty() {
            write!(f, "({})", options.join(", "))?;
        }
        if let Node::Conductor { players, .. } = &self.node {
            f.write_str("[")?;
            for (i, player) in players.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                player.fmt_line(f)?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// An indented tree; with `{:#}`, one line such as `app[http, jobs[mailer]]`.
impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return self.fmt_line(f);
        }
        self.fmt_head(f)?;
        self.fmt_tree(f, "")
    }
}

/// `my_app::players::Http<my_app::Db>` → `Http<Db>`.
fn short_type_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut segment = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(&segment));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(&segment));
    out
}

fn escape(label: &str) -> String {
    label.replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_lose_their_module_paths() {
        assert_eq!(short_type_name("a::b::Http<c::Db, u8>"), "Http<Db, u8>");
        assert_eq!(short_type_name("Plain"), "Plain");
    }
}
