//! Which thread a served WebSocket connection lives on: the listener's worker that accepted
//! it, or the thread the bots run on.
//!
//! A command from a connection on a worker crosses to the bot's thread and its answer crosses
//! back: two wake-ups of a sleeping thread per round, which on the benchmark's virtual CPUs
//! cost more than running the command (a pipelined connection on a worker needed 8.2 µs of
//! server CPU per command, beside its bot 5.8 µs). Events, though, are written to their
//! clients' sockets by the threads those clients live on, in parallel, and the bots' thread
//! has the bots' own work besides: with a third of a thousand clients beside the bots, a bot
//! relaying a platform's events reached 0.64–0.69× of the rate its upstream served them at
//! (0.89× with every client on the workers). So the bots' thread takes the first few
//! connections — a deployment's bot frameworks and business servers, which send the
//! commands — and the workers take the rest, as they would without a placement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Context as TaskContext;

use actix::prelude::*;
use futures_util::task::AtomicWaker;

/// Places a listener's WebSocket connections; shared by its workers.
#[derive(Clone)]
pub struct Placement {
    shared: Arc<Shared>,
}

struct Shared {
    /// The arbiter the bot actors run on.
    home: ArbiterHandle,
    /// How many connections may live there at once.
    room: usize,
    counts: Mutex<Counts>,
}

/// The connections placed and still open.
#[derive(Default)]
struct Counts {
    at_home: usize,
    total: usize,
    /// How to end each connection at home.
    hangups: Vec<Weak<Hangup>>,
}

/// Ends the frames of a connection at home when its listeners stop: the workers' connections
/// end with the workers' threads, but the bots' thread outlives them.
#[derive(Default)]
pub(super) struct Hangup {
    done: AtomicBool,
    waker: AtomicWaker,
}

impl Hangup {
    /// Whether the connection is to end; if not, the task is woken when it is.
    pub(super) fn poll(&self, cx: &mut TaskContext<'_>) -> bool {
        self.waker.register(cx.waker());
        self.done.load(Ordering::Acquire)
    }

    fn hang_up(&self) {
        self.done.store(true, Ordering::Release);
        self.waker.wake();
    }
}

impl Placement {
    /// Places up to `room` connections at a time beside the actors of `home` (the arbiter
    /// the bots were started on), the others on the workers that accept them.
    pub fn new(home: ArbiterHandle, room: usize) -> Self {
        let shared = Shared { home, room, counts: Mutex::new(Counts::default()) };
        Placement { shared: Arc::new(shared) }
    }

    /// Places a new connection: at home while the home has room, else on the worker that
    /// accepted it. It counts until its [`Site`] is dropped.
    pub fn place(&self) -> Site {
        let mut counts = lock(&self.shared.counts);
        let home = counts.at_home < self.shared.room;
        counts.total += 1;
        let mut hangup = None;
        if home {
            counts.at_home += 1;
            let ends = Arc::new(Hangup::default());
            // Forget the connections that are gone now and then: the list stays as long as
            // the number of open ones.
            if counts.hangups.len() >= 64 && counts.hangups.len().is_power_of_two() {
                counts.hangups.retain(|h| h.strong_count() > 0);
            }
            counts.hangups.push(Arc::downgrade(&ends));
            hangup = Some(ends);
        }
        Site {
            home: home.then(|| self.shared.home.clone()),
            counted: Some(Arc::clone(&self.shared)),
            hangup,
        }
    }

    /// Ends every connection at home (their actors stop, their sockets close), as stopping
    /// the listeners' workers ends theirs.
    pub fn hang_up(&self) {
        let hangups = std::mem::take(&mut lock(&self.shared.counts).hangups);
        for hangup in hangups.iter().filter_map(Weak::upgrade) {
            hangup.hang_up();
        }
    }

    /// How many open connections live at home, and how many in all.
    pub fn counts(&self) -> (usize, usize) {
        let counts = lock(&self.shared.counts);
        (counts.at_home, counts.total)
    }
}

/// Where one connection lives: its socket's tasks and its actor run there. Dropped with the
/// socket, which gives its place back.
pub struct Site {
    /// The home arbiter, or `None` for the worker that accepted the connection.
    home: Option<ArbiterHandle>,
    /// The placement that counts this connection (none for an unplaced one).
    counted: Option<Arc<Shared>>,
    /// What ends the connection's frames, at home.
    hangup: Option<Arc<Hangup>>,
}

impl Site {
    /// The worker that accepted the connection, outside any placement.
    pub fn here() -> Self {
        Site { home: None, counted: None, hangup: None }
    }

    /// The arbiter to move the socket to, if it does not stay on the accepting worker.
    pub(crate) fn home(&self) -> Option<&ArbiterHandle> {
        self.home.as_ref()
    }

    /// Starts the connection's actor where the connection lives.
    pub fn start<A, F>(&self, create: F) -> Addr<A>
    where
        A: Actor<Context = Context<A>>,
        F: FnOnce(&mut Context<A>) -> A + Send + 'static,
    {
        match &self.home {
            Some(home) => A::start_in_arbiter(home, create),
            None => A::create(create),
        }
    }

    /// The same place, uncounted: for the actor, while the socket keeps `self`.
    pub(super) fn actor_site(&self) -> Site {
        Site { home: self.home.clone(), counted: None, hangup: None }
    }

    /// What ends the connection's frames, at home.
    pub(super) fn hangup(&self) -> Option<Arc<Hangup>> {
        self.hangup.clone()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(shared) = self.counted.take() {
            let mut counts = lock(&shared.counts);
            counts.total = counts.total.saturating_sub(1);
            if self.home.is_some() {
                counts.at_home = counts.at_home.saturating_sub(1);
            }
        }
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix::test]
    async fn the_home_takes_the_first_connections_and_the_workers_the_rest() {
        let placement = Placement::new(Arbiter::current(), 3);
        let sites: Vec<Site> = (0..5).map(|_| placement.place()).collect();
        let at_home: Vec<bool> = sites.iter().map(|s| s.home().is_some()).collect();
        assert_eq!(at_home, [true, true, true, false, false]);
        assert_eq!(placement.counts(), (3, 5));
        drop(sites);
        assert_eq!(placement.counts(), (0, 0));
    }

    #[actix::test]
    async fn a_closed_connection_gives_its_place_back() {
        let placement = Placement::new(Arbiter::current(), 1);
        let first = placement.place();
        let second = placement.place();
        assert!(first.home().is_some() && second.home().is_none());
        drop(first);
        assert_eq!(placement.counts(), (0, 1));
        // The home's place is free again: the next connection takes it.
        assert!(placement.place().home().is_some());
        // An actor's copy of the site is not counted.
        let copy = second.actor_site();
        drop(copy);
        assert_eq!(placement.counts(), (0, 1));
    }
}
