//! A conductor built at run time (Go orchestra's `Conductor{Players: ...}`).

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry, HashTable};

use crate::context::Context;
use crate::engine::member::{Access, Group, Held, Member};
use crate::engine::member_of;
use crate::error::{BoxError, Error};
use crate::options::{Name, PlayerOptions, SharedOptions, check_name};
use crate::player::Player;
use crate::supervision::Strategy;

/// A group of named players assembled at run time, such as N workers read
/// from configuration. It runs them with the same engine and options as
/// `#[derive(Conductor)]`, and is itself a [`Player`], so it nests inside
/// other conductors, derived or not.
///
/// ```
/// use orchestra::{player_fn, Conductor, Context, PlayExt, PlayerOptions, Restart};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestra::Error> {
/// let mut workers = Conductor::named("workers");
/// workers.timeout(Duration::from_secs(5));
/// for n in 0..4 {
///     let worker = player_fn(move |ctx: Context| async move {
///         tracing::info!(n, "working");
///         ctx.cancelled().await;
///         Ok(())
///     });
///     let options = PlayerOptions::new().restart(Restart::OnFailure);
///     workers.add_with(&format!("worker-{n}"), worker, options)?;
/// }
/// // A name can be used once only.
/// assert!(workers.add("worker-0", player_fn(|_| async { Ok(()) })).is_err());
///
/// workers.play_until(tokio::time::sleep(Duration::from_millis(10))).await
/// # }
/// ```
pub struct Conductor {
    name: Name,
    /// The players' indices, by name, for the duplicate check: an index
    /// takes no reference count on the name, and kept with its hash it
    /// lets the table grow without hashing any name again. foldhash, not
    /// SipHash: names come from the program, and SipHash cost a tenth of
    /// `add`.
    names: HashTable<Named>,
    hasher: RandomState,
    group: Group<'static>,
}

/// A player's index, with its name's hash: growing the table moves the
/// hashes, rather than hashing every name again.
#[derive(Clone, Copy)]
struct Named {
    index: usize,
    hash: u64,
}

impl Default for Conductor {
    fn default() -> Self {
        Conductor::new()
    }
}

impl Conductor {
    /// An empty conductor named `conductor`.
    pub fn new() -> Self {
        Conductor::named("conductor")
    }

    /// An empty conductor with a name, which starts its players' paths when
    /// it is run at the top (nested, it takes the name it is added under).
    pub fn named(name: &str) -> Self {
        Conductor {
            name: Name::new(name),
            names: HashTable::new(),
            hasher: RandomState::default(),
            group: Group::default(),
        }
    }

    /// Sets the default stop timeout of its players (9 s unless a conductor
    /// above sets another).
    ///
    /// Like [`add`](Conductor::add), it changes the conductor in place and
    /// returns it for chaining, as [`std::process::Command`] does.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.group.timeout = Some(timeout);
        self
    }

    /// Sets which players restart with one that is to be restarted
    /// ([`Strategy::OneForOne`] by default: only that one).
    ///
    /// ```
    /// use orchestra::{Conductor, Strategy};
    /// use std::time::Duration;
    ///
    /// let mut app = Conductor::named("app");
    /// // `db` restarts with the players ordered after it; more than 5
    /// // restarts in a minute, and `app` itself fails.
    /// app.strategy(Strategy::RestForOne)
    ///     .max_restarts(5, Duration::from_secs(60));
    /// ```
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Self {
        self.group.supervision.strategy = strategy;
        self
    }

    /// Allows at most `restarts` restarts of its players, all together,
    /// within any window of `within` (Erlang/OTP's supervisor intensity);
    /// one more, and the conductor stops its players and fails with
    /// [`Error::RestartLimit`], for the conductor above to restart it or
    /// fail in turn. A restart that takes siblings along counts once.
    pub fn max_restarts(&mut self, restarts: u32, within: Duration) -> &mut Self {
        self.group.supervision.max_restarts = Some((restarts, within));
        self
    }

    /// Sets a drain phase (lame duck) of `drain` before the stop, when this
    /// conductor runs at the top: on the first signal the run drains first
    /// ([`Runner::drain`](crate::Runner::drain) says what that is), then stops
    /// gracefully. A drain is the run's: on a nested conductor it is a
    /// configuration error when the run starts.
    ///
    /// ```
    /// use orchestra::Conductor;
    /// use std::time::Duration;
    ///
    /// let mut app = Conductor::named("app");
    /// app.drain(Duration::from_secs(5));
    /// assert_eq!(format!("{:#}", orchestra::describe(&app)), "app(drain = 5s)[]");
    /// ```
    pub fn drain(&mut self, drain: Duration) -> &mut Self {
        self.group.drain = Some(drain);
        self
    }

    /// Reserves room for at least `additional` more players, as
    /// [`Vec::reserve`] does: a conductor of a known number of players
    /// then grows no table or list as they are added.
    ///
    /// ```
    /// use orchestra::{player_fn, Conductor, Context};
    ///
    /// let workers = 8;
    /// let mut pool = Conductor::named("pool");
    /// pool.reserve(workers);
    /// for n in 0..workers {
    ///     pool.add(&format!("worker-{n}"), player_fn(|ctx: Context| async move {
    ///         ctx.cancelled().await;
    ///         Ok(())
    ///     }))?;
    /// }
    /// assert_eq!(pool.len(), workers);
    /// # Ok::<(), orchestra::Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize) -> &mut Self {
        self.group.members.reserve(additional);
        self.names.reserve(additional, |named| named.hash);
        self
    }

    /// Adds a player with the default options.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateName`] if the conductor already has a player of that
    /// name, [`Error::Config`] if the name is empty or contains `/`.
    pub fn add<P: Player>(&mut self, name: &str, player: P) -> Result<&mut Self, Error> {
        self.insert(name, player, SharedOptions::DEFAULTS)
    }

    /// Adds a player with options.
    ///
    /// # Errors
    ///
    /// As [`add`](Conductor::add).
    pub fn add_with<P: Player>(
        &mut self,
        name: &str,
        player: P,
        options: PlayerOptions,
    ) -> Result<&mut Self, Error> {
        self.insert(name, player, options.into_shared())
    }

    fn insert<P: Player>(
        &mut self,
        name: &str,
        player: P,
        options: SharedOptions,
    ) -> Result<&mut Self, Error> {
        if let Err(message) = check_name(name) {
            return Err(Error::Config {
                path: Arc::from(format!("{}/{name}", self.name)),
                message,
            });
        }
        // One hash per player: find its place, or the name already there.
        let members = &self.group.members;
        let hash = self.hasher.hash_one(name);
        let entry = self.names.entry(
            hash,
            |named| named.hash == hash && members[named.index].name == name,
            |named| named.hash,
        );
        let Entry::Vacant(place) = entry else {
            return Err(Error::DuplicateName {
                conductor: Arc::from(self.name.as_str()),
                name: Arc::from(name),
            });
        };
        place.insert(Named {
            index: members.len(),
            hash,
        });
        let member = member_of(Access::Own(player), Some(Name::new(name)), options);
        self.group.members.push(member);
        Ok(self)
    }

    /// The number of players added.
    pub fn len(&self) -> usize {
        self.group.members.len()
    }

    /// Whether no player was added.
    pub fn is_empty(&self) -> bool {
        self.group.members.is_empty()
    }

    /// The conductor's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Conductor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conductor")
            .field("name", &self.name)
            .field("timeout", &self.group.timeout)
            .field("drain", &self.group.drain)
            .field(
                "players",
                &self
                    .group
                    .members
                    .iter()
                    .map(Member::name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Player for Conductor {
    /// Runs every player, each on a task of its own, until all are done, one
    /// fails, or `ctx` is cancelled. Players come back when their tasks end,
    /// so the conductor can be played again.
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        self.group.play(ctx).await.map_err(BoxError::from)
    }

    /// A conductor, however deeply its players nest (known at run time only).
    const __DEPTH_CYCLES_IF_A_CONDUCTOR_CONTAINS_ITSELF: usize = 1;

    /// Given, its members go to the engine; lent, it runs its group in place
    /// (as `play`); shown, a copy of its tree without the players.
    fn __conductor(access: Access<'_, Self>) -> Member<'_> {
        match access {
            Access::Own(mut this) => {
                // Its players stay for the whole run: the room that adding
                // them one by one left over goes back (up to half of it).
                let mut group = std::mem::take(&mut this.group);
                group.members.shrink_to_fit();
                Member::of_group(this.name.clone(), group)
            }
            Access::Borrow(this) => Member::player(
                this.name.clone(),
                SharedOptions::DEFAULTS,
                std::any::type_name::<Self>,
                Held::Borrowed(this),
            ),
            Access::Show(this) => Member::of_group(this.name.clone(), this.group.shown()),
        }
    }
}
