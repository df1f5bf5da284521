//! `#[derive(Conductor)]` for [orchestra](https://docs.rs/orchestra): use it
//! through `orchestra`, which re-exports it (feature `derive`, on by default).
//!
//! The macro is split by stage: `attr` parses the attributes into typed
//! values, `ast` is the input with them, `check` holds the rules between
//! fields, `expand` generates the impl and `fallback` the impl emitted
//! beside errors; `ctxt` collects every error of one pass. Below `attr`,
//! by sub-grammar: `symbol` names every key once, `key` reads the
//! `key = value` grammar they share, `duration` and `backoff` the values'
//! own mini-languages, and `message` words the errors.

mod ast;
mod attr;
mod backoff;
mod check;
mod ctxt;
mod duration;
mod expand;
mod fallback;
mod key;
mod message;
mod symbol;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `orchestra::Player` for a struct whose fields are players: a
/// typed conductor.
///
/// Each field is a player (anything implementing `Player`: a type of yours,
/// an `orchestra::player_fn`, a runtime-built `orchestra::Conductor`, or
/// another derived conductor), run **on its own tokio task** under the
/// field's name. The struct is itself a player, so it runs with
/// `play_until_signal`, nests in other conductors and takes runtime-built
/// ones as fields; paths compose through nesting (`app/jobs/mailer`).
///
/// ```
/// use orchestra::{BoxError, Conductor, Context, PlayExt, Player};
///
/// struct Http;
///
/// impl Player for Http {
///     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
///         ctx.ready(); // bound and serving: the players after it may start
///         ctx.cancelled().await;
///         Ok(())
///     }
/// }
///
/// struct Mailer;
///
/// impl Player for Mailer {
///     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
///         ctx.cancelled().await;
///         Ok(())
///     }
/// }
///
/// #[derive(Conductor)]
/// struct Jobs {
///     #[player(restart = "on-failure", backoff(exponential, max = "10s", jitter))]
///     mailer: Mailer,
/// }
///
/// #[derive(Conductor)]
/// #[conductor(name = "app", timeout = "10s")]
/// struct Service {
///     #[player(timeout = "5s")]
///     http: Http,
///     #[player(after = "http")]
///     jobs: Jobs,
///     #[player(skip)]
///     config: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestra::Error> {
/// let app = Service { http: Http, jobs: Jobs { mailer: Mailer }, config: String::new() };
/// assert_eq!(app.describe().paths(), ["app/http", "app/jobs/mailer"]);
/// # let app_future =
/// app.play_until_signal()
/// # ; drop(app_future);
/// # let app = Service { http: Http, jobs: Jobs { mailer: Mailer }, config: String::new() };
/// # app.play_until(async {}).await
/// # }
/// ```
///
/// # Attributes
///
/// On the struct, `#[conductor(...)]`:
///
/// | attribute | meaning | default |
/// |---|---|---|
/// | `name = "app"` | the name that starts the paths of its players when it runs at the top (nested, a conductor is named after its field) | the struct's name in snake case: `MyService` → `my_service` |
/// | `timeout = "10s"` | the budget of its whole graceful stop, and the stop timeout of each field that sets none | the conductor's above; 9 s at the top |
/// | `drain = "5s"` | a drain phase (lame duck) before the stop, when it runs at the top (`Conductor::drain`; an error at start when nested) | none |
/// | `strategy = "one-for-all"` | which players restart with one that restarts: `"one-for-one"` (itself), `"one-for-all"` (every running one), `"rest-for-one"` (it and those ordered `after` it) | `"one-for-one"` |
/// | `max_restarts = 5, within = "1m"` | at most this many restarts of its players, all together, within any such window; one more and the conductor fails; the two go together | no limit |
/// | `crate = "path"` | the path to orchestra, if it is renamed or re-exported (`"::orch"`, `"my_crate::orchestra"`) | `::orchestra` |
///
/// On each field, `#[player(...)]`; every key but `skip` sets one of
/// `orchestra::PlayerOptions`:
///
/// | attribute | meaning | default |
/// |---|---|---|
/// | `name = "http"` | the player's name in paths, logs and errors (not empty, no `/`) | the field's name, without `r#` |
/// | `timeout = "5s"` | how long it has to return once asked to stop; then it is aborted and named in `Error::StopTimedOut` | the conductor's |
/// | `restart = "on-failure"` | `"never"`: an error or a panic stops the conductor; `"on-failure"`: restart after an error or a panic; `"always"`: also after `Ok(())` | `"never"` |
/// | `backoff = "exponential"` | the delays between restarts, see below (needs a `restart` policy) | exponential, 100 ms to 30 s |
/// | `max_attempts = 5` | at most this many runs in all; then a failure is final (at least 1) | no limit |
/// | `max_restarts = 5, within = "1m"` | at most this many restarts within any such window (Erlang/OTP's intensity); the two go together | no limit |
/// | `delay = "2s"` | defers the first start | none |
/// | `after = "db"`, `after("db", "cache")` | starts once these siblings are ready (they called `ctx.ready()`, or their `grace` passed), and stops before them | none |
/// | `grace = "1s"` | how long the players `after` this one wait for its `ctx.ready()` before starting anyway, with a warning | none: they wait for `ctx.ready()` |
/// | `ready_within = "30s"` | how long each run has to call `ctx.ready()`; a run not ready by then is cut and counts as failed | none |
/// | `readiness = "ignore"` | left out of the service's readiness (health probes, systemd's `READY=1`); `"required"` is the default | `"required"` |
/// | `stable_after = "10s"` | how long a run must last for the backoff to start over (needs a `restart` policy) | 10 s |
/// | `on_exit = "stop"` | what its end (after its restarts) does to the conductor: `"stop-on-failure"`, `"stop"` (any end), `"continue"` (none) | `"stop-on-failure"` |
/// | `on_reload = "restart"` | what a reload (`SIGHUP`) does to it: `"notify"`: it keeps running, `ctx.reload_requested()` completes; `"restart"`: its run is stopped gracefully and it starts again (not counted as a failure nor towards the restart limits) | `"notify"` |
/// | `skip` | the field is not a player: not run, and it need not implement `Player` (alone: no other key) | |
///
/// Durations are humane strings, checked at compile time: one or more
/// `<integer><unit>` parts, units from the largest to the smallest among
/// `d`, `h`, `m`, `s`, `ms`, `us`, `ns`: `"250ms"`, `"5s"`, `"1m30s"`, `"1h"`.
/// They must be longer than zero; fractions are written with a smaller unit
/// (`"1500ms"`).
///
/// A `backoff` is one of:
///
/// - `"zero"`, `"constant"` (1 s), `"exponential"` (100 ms, doubling, up to
///   30 s) or `"fibonacci"` (100 ms up to 30 s);
/// - a strategy with parameters: `backoff(zero, max_times = 3)`,
///   `backoff(constant, delay = "1s", jitter, max_times = 3)`,
///   `backoff(exponential, min = "100ms", max = "30s", factor = 2.0, jitter, max_times = 10)`,
///   `backoff(fibonacci, min = "100ms", max = "30s", jitter, max_times = 10)`,
///   each parameter optional; `max_times` ends the backoff, making the next
///   failure final;
/// - the path of a function returning `orchestra::Backoff`, as a string
///   containing `::`: `backoff = "crate::policies::slow"`, or
///   `backoff = "self::slow"` for a function of the same module.
///
/// ```
/// use orchestra::{Backoff, BoxError, Conductor, Context, PlayExt, Player};
/// use std::time::Duration;
///
/// # struct Worker;
/// # impl Player for Worker {
/// #     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
/// #         ctx.cancelled().await;
/// #         Ok(())
/// #     }
/// # }
/// fn slow() -> Backoff {
///     Backoff::custom(|| [1, 5, 30].map(Duration::from_secs))
/// }
///
/// #[derive(Conductor)]
/// struct Workers {
///     #[player(restart = "on-failure", backoff = "self::slow")]
///     a: Worker,
///     #[player(restart = "always", backoff = "zero", max_restarts = 10, within = "1m")]
///     b: Worker,
///     #[player(restart = "on-failure", backoff(constant, delay = "500ms", max_times = 3), delay = "2s")]
///     c: Worker,
/// }
///
/// # fn main() {
/// let workers = Workers { a: Worker, b: Worker, c: Worker };
/// assert_eq!(
///     format!("{:#}", workers.describe()),
///     "workers[a(restart = on-failure, backoff = custom), \
///      b(restart = always, backoff = zero, max_restarts = 10 within 60s), \
///      c(restart = on-failure, backoff = constant(delay = 500ms, max_times = 3), delay = 2s)]"
/// );
/// # }
/// ```
///
/// # Generics
///
/// Generic conductors are supported. The impl is bounded by what the fields
/// need: a player field whose type involves a type parameter must be a
/// `Player` (`struct App<W> { worker: W }` is a player when `W: Player`;
/// `struct Pool<J> { workers: Workers<J> }` when `Workers<J>: Player`), a
/// skipped one `Send + 'static`, and lifetime parameters must be `'static`.
///
/// ```
/// use orchestra::{Conductor, PlayExt, Player};
///
/// #[derive(Conductor)]
/// struct Supervised<W> {
///     #[player(restart = "on-failure")]
///     worker: W,
/// }
///
/// fn supervise<W: Player>(worker: W) -> Supervised<W> {
///     Supervised { worker }
/// }
/// # let app = supervise(orchestra::player_fn(|_| async { Ok(()) }));
/// # assert_eq!(app.describe().paths(), ["supervised/worker"]);
/// ```
///
/// # Checked at compile time
///
/// Every mistake below is a compile error pointing at the offending token,
/// and all of them are reported at once: unknown or duplicate keys (with the
/// accepted ones), malformed durations, unknown `restart` or `backoff`
/// values, an unknown `on_reload` action, backoff parameters, a zero
/// `max_attempts` or `max_restarts`,
/// `max_restarts` without `within` (or the reverse), `backoff` or
/// `stable_after` without a restart policy, `skip` with other keys, empty
/// names or names with `/`, two players of the same name, `after` naming no
/// player (or itself, or a skipped field), a cycle of `after`, a field type
/// that is not a `Player` (reported once, on the type), enums, unions, tuple
/// and unit structs, structs without players, and a conductor that contains
/// itself, directly (`Box<Self>`, `Option<Box<App>>`) or through other
/// conductors (`A` holds `B`, which holds `Box<A>`: rustc reports a cycle).
///
/// ```compile_fail
/// use orchestra::Conductor;
///
/// #[derive(Conductor)]
/// struct App {
///     #[player(timeout = "5 s")] // invalid `timeout` duration "5 s": unexpected space
///     http: orchestra::Conductor,
/// }
/// ```
///
/// # What it generates
///
/// An `impl Player` whose `play(&mut self, ctx)` runs the fields in place,
/// under `ctx`'s path, and whose hidden methods hand the fields to
/// orchestra's engine as a tree of members (each leaf on a task of its own)
/// and describe that tree (`PlayExt::describe`). The macro generates data
/// and glue only: the engine is the one that runs `orchestra::Conductor`.
#[proc_macro_derive(Conductor, attributes(conductor, player))]
pub fn derive_conductor(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
