//! How the message store's thread gives way to the event and command paths while they are
//! busy, at [`StorePriority::Background`](super::StorePriority::Background).
//!
//! A thread that runs beside those paths costs them more than its CPU time. On a machine
//! whose idle cores poll — most virtual machines' — a thread woken onto an idle core starts
//! at once; one woken onto the core the store occupies waits for an interrupt that preempts
//! the store, tens of microseconds on a virtual CPU, on every hop of every command. With the
//! store writing beside 1 × 64 pipelined commands their p99 doubled, even with the store at
//! the lowest scheduling class; with the store pausing, it was the bare server's.
//!
//! So the store writes in chunks, and after a chunk during which it was preempted — another
//! thread wanted its core — it pauses for a moment: while the paths are busy it writes in
//! their gaps, and it catches up once they are quiet. A bot far behind waits for its store
//! (the recorder's backpressure); then nothing preempts the store and it writes flat out.

use std::time::Duration;

/// Changes written between two looks at whether the thread was preempted: some 150 µs of
/// work, so a look (one system call) costs nothing measurable.
pub(super) const EVERY: usize = 64;

/// How long the store pauses after a chunk during which it was preempted: long enough for
/// the busy paths' cores to go idle between their wake-ups.
const PAUSE: Duration = Duration::from_millis(1);

/// The state of one thread's giving way: how often it had been preempted at the last look.
pub(super) struct GiveWay {
    preemptions: fn() -> Option<u64>,
    seen: Option<u64>,
}

impl GiveWay {
    /// Gives way for the calling thread, which must be the one that calls
    /// [`GiveWay::between_chunks`].
    pub(super) fn for_this_thread() -> Self {
        Self::counting(preemptions_of_this_thread)
    }

    fn counting(preemptions: fn() -> Option<u64>) -> Self {
        GiveWay { preemptions, seen: preemptions() }
    }

    /// Called between two chunks of work: pauses when the thread was preempted since the
    /// last call. Answers whether it paused.
    pub(super) fn between_chunks(&mut self) -> bool {
        let now = (self.preemptions)();
        let preempted = matches!((self.seen, now), (Some(before), Some(now)) if now > before);
        self.seen = now;
        if preempted {
            std::thread::sleep(PAUSE);
            // A sleep is a voluntary switch; a preemption during it would not be the work's.
            self.seen = (self.preemptions)();
        }
        preempted
    }
}

/// How many times the calling thread was preempted (its involuntary context switches).
#[cfg(target_os = "linux")]
fn preemptions_of_this_thread() -> Option<u64> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_THREAD).ok()?;
    u64::try_from(usage.involuntary_context_switches()).ok()
}

/// Elsewhere the count is not known, and the store never pauses.
#[cfg(not(target_os = "linux"))]
fn preemptions_of_this_thread() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    static COUNT: AtomicU64 = AtomicU64::new(0);

    fn counted() -> Option<u64> {
        Some(COUNT.load(Ordering::SeqCst))
    }

    #[test]
    fn it_pauses_after_a_chunk_it_was_preempted_in_and_only_then() {
        let mut give_way = GiveWay::counting(counted);
        assert!(!give_way.between_chunks(), "not preempted yet");
        COUNT.fetch_add(1, Ordering::SeqCst);
        let started = std::time::Instant::now();
        assert!(give_way.between_chunks(), "preempted once");
        assert!(started.elapsed() >= PAUSE);
        assert!(!give_way.between_chunks(), "a preemption counts once");
    }

    #[test]
    fn without_a_count_it_never_pauses() {
        let mut give_way = GiveWay::counting(|| None);
        assert!(!give_way.between_chunks());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_sharing_its_core_is_seen_preempted() {
        // Two threads spinning on one core take it in turns: the kernel preempts each. The
        // core is the first this process may run on (a container may not offer core 0).
        let this_thread = nix::unistd::Pid::from_raw(0);
        let allowed = nix::sched::sched_getaffinity(this_thread).expect("affinity");
        let first = (0..nix::sched::CpuSet::count())
            .find(|&core| allowed.is_set(core).unwrap_or(false))
            .expect("a core this process may run on");
        let one_core = |core| {
            std::thread::spawn(move || {
                let mut set = nix::sched::CpuSet::new();
                set.set(core).expect("a core");
                nix::sched::sched_setaffinity(this_thread, &set).expect("pin");
                let before = preemptions_of_this_thread().expect("counted");
                let until = std::time::Instant::now() + Duration::from_millis(300);
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                }
                preemptions_of_this_thread().expect("counted") - before
            })
        };
        let (a, b) = (one_core(first), one_core(first));
        let (a, b) = (a.join().expect("thread"), b.join().expect("thread"));
        assert!(a > 0 && b > 0, "preemptions seen: {a} and {b}");
    }
}
