//! A bounded queue between a producer that must never wait (a bot fanning out an event) and
//! one consumer (a connection actor) that drains it in batches.
//!
//! The producer never blocks: when the queue is full the [`OverflowPolicy`] decides, and every
//! overflow is counted. The consumer is woken by a callback that fires once per batch rather
//! than once per item, so a burst of events costs one wake-up and is written as one batch.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// What a full outbox does with a new item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Drop the oldest queued item to make room (replay buffers keep the newest events).
    DropOldest,
    /// Refuse the item and close the outbox; the consumer disconnects its client.
    Close,
}

/// What happened to a pushed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The item was queued.
    Queued,
    /// The item was queued and the oldest one dropped to make room.
    DroppedOldest,
    /// The outbox is closed; the item was discarded and the producer should forget it.
    Closed,
}

type Waker = Box<dyn Fn() + Send + Sync>;

struct Inner<T> {
    queue: VecDeque<T>,
    capacity: usize,
    policy: OverflowPolicy,
    dropped: u64,
    closed: bool,
    wake_pending: bool,
    waker: Option<Waker>,
}

/// A bounded, shared outbox. Clones share the same queue.
pub struct Outbox<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox { inner: Arc::clone(&self.inner) }
    }
}

impl<T> std::fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Outbox")
            .field("len", &inner.queue.len())
            .field("capacity", &inner.capacity)
            .field("dropped", &inner.dropped)
            .field("closed", &inner.closed)
            .finish()
    }
}

impl<T> Outbox<T> {
    /// An empty outbox holding at most `capacity` items (at least one).
    pub fn new(capacity: usize, policy: OverflowPolicy) -> Self {
        let capacity = capacity.max(1);
        Outbox {
            inner: Arc::new(Mutex::new(Inner {
                // Allocated on first use: most outboxes of idle clients stay empty.
                queue: VecDeque::new(),
                capacity,
                policy,
                dropped: 0,
                closed: false,
                wake_pending: false,
                waker: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic while holding this lock cannot leave the queue inconsistent (every mutation
        // is a single VecDeque call), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the callback that wakes the consumer. It is called at most once until the consumer
    /// next drains the outbox empty, and immediately if items are already waiting.
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        let mut inner = self.lock();
        inner.waker = Some(Box::new(waker));
        inner.wake_pending = false;
        if !inner.queue.is_empty() {
            inner.wake_pending = true;
            if let Some(w) = &inner.waker {
                w();
            }
        }
    }

    /// Whether one more item fits without an overflow (a producer that can wait, such as a
    /// durable feed, waits while it does not).
    pub fn has_room(&self) -> bool {
        let inner = self.lock();
        inner.queue.len() < inner.capacity
    }

    /// Removes the wake-up callback; items keep queueing (up to the bound) until one is set.
    pub fn clear_waker(&self) {
        let mut inner = self.lock();
        inner.waker = None;
        inner.wake_pending = false;
    }

    /// Queues an item without ever waiting.
    pub fn push(&self, item: T) -> Delivery {
        let mut inner = self.lock();
        if inner.closed {
            return Delivery::Closed;
        }
        let mut delivery = Delivery::Queued;
        if inner.queue.len() >= inner.capacity {
            inner.dropped += 1;
            match inner.policy {
                OverflowPolicy::DropOldest => {
                    inner.queue.pop_front();
                    delivery = Delivery::DroppedOldest;
                }
                OverflowPolicy::Close => {
                    inner.closed = true;
                    inner.queue.clear();
                    let waker = inner.waker.take();
                    drop(inner);
                    // The consumer must learn it was closed; wake it one last time.
                    if let Some(w) = waker {
                        w();
                    }
                    return Delivery::Closed;
                }
            }
        }
        inner.queue.push_back(item);
        if !inner.wake_pending && inner.waker.is_some() {
            inner.wake_pending = true;
            if let Some(w) = &inner.waker {
                w();
            }
        }
        delivery
    }

    /// Takes up to `max` items, oldest first. The consumer is woken again by the next push
    /// only once it has drained the outbox empty; `more` says whether items remain.
    pub fn drain(&self, max: usize) -> (Vec<T>, bool) {
        let mut inner = self.lock();
        let n = inner.queue.len().min(max);
        let batch: Vec<T> = inner.queue.drain(..n).collect();
        let more = !inner.queue.is_empty();
        if !more {
            inner.wake_pending = false;
        }
        (batch, more)
    }

    /// Takes up to `max` of the newest items, oldest of them first (mirai's
    /// `fetchLatestMessage`).
    pub fn drain_newest(&self, max: usize) -> Vec<T> {
        let mut inner = self.lock();
        let n = inner.queue.len().min(max);
        let start = inner.queue.len() - n;
        let batch: Vec<T> = inner.queue.drain(start..).collect();
        if inner.queue.is_empty() {
            inner.wake_pending = false;
        }
        batch
    }

    /// Copies up to `max` items without removing them: the oldest, or with `newest` the
    /// newest (mirai's `peekMessage` / `peekLatestMessage`).
    pub fn peek(&self, max: usize, newest: bool) -> Vec<T>
    where
        T: Clone,
    {
        let inner = self.lock();
        let n = inner.queue.len().min(max);
        let start = if newest { inner.queue.len() - n } else { 0 };
        inner.queue.range(start..start + n).cloned().collect()
    }

    /// Closes the outbox: queued items are discarded and later pushes are refused, so the
    /// producer drops its handle on the next event.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.queue.clear();
        inner.waker = None;
    }

    /// Whether the outbox was closed (by its consumer, or by overflow under `Close`).
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// How many items overflow has cost so far.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no item waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn drop_oldest_keeps_the_newest_items_in_order_and_counts() {
        let outbox = Outbox::new(3, OverflowPolicy::DropOldest);
        for i in 0..5 {
            outbox.push(i);
        }
        assert_eq!(outbox.dropped(), 2);
        assert_eq!(outbox.drain(10), (vec![2, 3, 4], false));
    }

    #[test]
    fn close_policy_closes_on_overflow_and_refuses_later_items() {
        let outbox = Outbox::new(2, OverflowPolicy::Close);
        assert_eq!(outbox.push(1), Delivery::Queued);
        assert_eq!(outbox.push(2), Delivery::Queued);
        assert_eq!(outbox.push(3), Delivery::Closed);
        assert!(outbox.is_closed());
        assert_eq!(outbox.push(4), Delivery::Closed);
        assert_eq!(outbox.dropped(), 1);
    }

    #[test]
    fn a_burst_wakes_the_consumer_once_until_it_drains_empty() {
        let outbox = Outbox::new(100, OverflowPolicy::DropOldest);
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        outbox.set_waker(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        for i in 0..10 {
            outbox.push(i);
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        let (batch, more) = outbox.drain(4);
        assert_eq!((batch.len(), more), (4, true));
        outbox.push(10);
        assert_eq!(wakes.load(Ordering::SeqCst), 1, "not drained empty yet");
        let (batch, more) = outbox.drain(100);
        assert_eq!((batch.len(), more), (7, false));
        outbox.push(11);
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn peek_and_drain_newest_pick_from_either_end() {
        let outbox = Outbox::new(10, OverflowPolicy::DropOldest);
        for i in 0..5 {
            outbox.push(i);
        }
        assert_eq!(outbox.peek(2, false), vec![0, 1]);
        assert_eq!(outbox.peek(2, true), vec![3, 4]);
        assert_eq!(outbox.len(), 5);
        assert_eq!(outbox.drain_newest(2), vec![3, 4]);
        assert_eq!(outbox.drain(10), (vec![0, 1, 2], false));
    }

    #[test]
    fn setting_a_waker_on_a_non_empty_outbox_wakes_at_once() {
        let outbox = Outbox::new(4, OverflowPolicy::DropOldest);
        outbox.push(1);
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        outbox.set_waker(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
    }
}
