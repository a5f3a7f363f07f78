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
    /// How to end each connection living there (and those gone, until the next placement).
    at_home: Mutex<Vec<Weak<Hangup>>>,
}

/// Ends the frames of a connection at home when its listeners stop: the workers' connections
/// end with the workers' threads, but the bots' thread outlives them. Held by the connection's
/// [`Site`] and its frames: while it lives, the connection takes a place at home.
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
        let shared = Shared { home, room, at_home: Mutex::new(Vec::new()) };
        Placement { shared: Arc::new(shared) }
    }

    /// Places a new connection: at home while the home has room, else on the worker that
    /// accepted it. A place at home is taken until the connection's socket and frames are
    /// dropped.
    pub fn place(&self) -> Site {
        let mut at_home = lock(&self.shared.at_home);
        at_home.retain(|h| h.strong_count() > 0);
        if at_home.len() >= self.shared.room {
            return Site::here();
        }
        let hangup = Arc::new(Hangup::default());
        at_home.push(Arc::downgrade(&hangup));
        Site { home: Some(self.shared.home.clone()), hangup: Some(hangup) }
    }

    /// Ends every connection at home (their actors stop, their sockets close), as stopping
    /// the listeners' workers ends theirs.
    pub fn hang_up(&self) {
        let at_home = std::mem::take(&mut *lock(&self.shared.at_home));
        for hangup in at_home.iter().filter_map(Weak::upgrade) {
            hangup.hang_up();
        }
    }
}

/// Where one connection lives: its socket's tasks and its actor run there.
pub struct Site {
    /// The home arbiter, or `None` for the worker that accepted the connection.
    home: Option<ArbiterHandle>,
    /// What ends the connection's frames, and holds its place, at home.
    hangup: Option<Arc<Hangup>>,
}

impl Site {
    /// The worker that accepted the connection, outside any placement.
    pub fn here() -> Self {
        Site { home: None, hangup: None }
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

    /// The same place without its hold on it: for the actor, while the socket keeps `self`.
    pub(super) fn actor_site(&self) -> Site {
        Site { home: self.home.clone(), hangup: None }
    }

    /// What ends the connection's frames, at home.
    pub(super) fn hangup(&self) -> Option<Arc<Hangup>> {
        self.hangup.clone()
    }
}

fn lock(at_home: &Mutex<Vec<Weak<Hangup>>>) -> std::sync::MutexGuard<'_, Vec<Weak<Hangup>>> {
    at_home.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Placement {
        /// How many connections live at home now.
        fn at_home(&self) -> usize {
            lock(&self.shared.at_home).iter().filter(|h| h.strong_count() > 0).count()
        }
    }

    #[actix::test]
    async fn the_home_takes_the_first_connections_and_the_workers_the_rest() {
        let placement = Placement::new(Arbiter::current(), 3);
        let sites: Vec<Site> = (0..5).map(|_| placement.place()).collect();
        let at_home: Vec<bool> = sites.iter().map(|s| s.home().is_some()).collect();
        assert_eq!(at_home, [true, true, true, false, false]);
        assert_eq!(placement.at_home(), 3);
        drop(sites);
        assert_eq!(placement.at_home(), 0);
    }

    #[actix::test]
    async fn a_closed_connection_gives_its_place_back() {
        let placement = Placement::new(Arbiter::current(), 1);
        let first = placement.place();
        let second = placement.place();
        assert!(first.home().is_some() && second.home().is_none());
        // An actor's copy of the site holds no place.
        let copy = first.actor_site();
        drop(first);
        assert_eq!(placement.at_home(), 0);
        assert!(copy.home().is_some());
        // The home's place is free again: the next connection takes it.
        let third = placement.place();
        assert!(third.home().is_some());
        assert_eq!(placement.at_home(), 1);
    }

    #[actix::test]
    async fn hanging_up_ends_the_frames_of_the_connections_at_home() {
        let placement = Placement::new(Arbiter::current(), 2);
        let site = placement.place();
        let hangup = site.hangup().expect("at home");
        let waker = futures_util::task::noop_waker();
        let mut cx = TaskContext::from_waker(&waker);
        assert!(!hangup.poll(&mut cx));
        placement.hang_up();
        assert!(hangup.poll(&mut cx));
    }
}
