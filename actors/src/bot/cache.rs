//! The per-bot message cache: the last `capacity` messages, keyed by (contact, message id),
//! evicted oldest first. It serves `messageFromId`, `recall` and `quote`. Every change is
//! also journaled for the store, which keeps what the cache evicts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::model::{MessageEvent, UserId};
use crate::store::MessageChange;

type Key = (UserId, i32);

/// A FIFO cache of messages; `cacheSize` in the mirai config sets its capacity.
#[derive(Debug)]
pub struct MessageCache {
    capacity: usize,
    order: VecDeque<Key>,
    messages: HashMap<Key, Arc<MessageEvent>>,
    journal: Vec<MessageChange>,
}

impl MessageCache {
    /// An empty cache holding at most `capacity` messages (0 caches nothing).
    pub fn new(capacity: usize) -> Self {
        MessageCache {
            capacity,
            order: VecDeque::with_capacity(capacity.min(1024)),
            messages: HashMap::with_capacity(capacity.min(1024)),
            journal: Vec::new(),
        }
    }

    /// Stores a message under its contact and id, evicting the oldest when full.
    pub fn insert(&mut self, context: UserId, message: Arc<MessageEvent>) {
        self.journal.push(MessageChange::Added(context, Arc::clone(&message)));
        self.restore(context, message);
    }

    /// Puts back a message found in the store (not journaled: the store has it).
    pub fn restore(&mut self, context: UserId, message: Arc<MessageEvent>) {
        if self.capacity == 0 {
            return;
        }
        let key = (context, message.source.id);
        if self.messages.insert(key, message).is_none() {
            self.order.push_back(key);
        }
        while self.messages.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.messages.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Finds a message by contact and id; with no contact, the newest message with that id.
    pub fn get(&self, context: Option<UserId>, id: i32) -> Option<(UserId, &Arc<MessageEvent>)> {
        match context {
            Some(c) => self.messages.get(&(c, id)).map(|m| (c, m)),
            None => self
                .order
                .iter()
                .rev()
                .find(|(_, i)| *i == id)
                .and_then(|k| self.messages.get(k).map(|m| (k.0, m))),
        }
    }

    /// Removes a message (after a recall).
    pub fn remove(&mut self, context: UserId, id: i32) -> Option<Arc<MessageEvent>> {
        self.journal.push(MessageChange::Removed(context, id));
        let removed = self.messages.remove(&(context, id));
        if removed.is_some() {
            self.order.retain(|k| *k != (context, id));
        }
        removed
    }

    /// The changes since the last call, oldest first, for the store.
    pub fn take_changes(&mut self) -> Vec<MessageChange> {
        std::mem::take(&mut self.journal)
    }

    /// How many messages are cached.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Friend, MessageKind, MessageSource};

    fn msg(id: i32) -> Arc<MessageEvent> {
        Arc::new(MessageEvent {
            kind: MessageKind::Friend {
                sender: Friend { id: 1, nickname: String::new(), remark: String::new() },
            },
            source: MessageSource { id, time: 0 },
            message: vec![],
        })
    }

    #[test]
    fn holds_exactly_capacity_entries_evicting_the_oldest() {
        let mut c = MessageCache::new(3);
        for id in 1..=5 {
            c.insert(1, msg(id));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(Some(1), 2).is_none());
        assert!(c.get(Some(1), 3).is_some());
        assert!(c.get(Some(2), 3).is_none(), "ids are per contact");
        assert_eq!(c.get(None, 5).map(|(ctx, _)| ctx), Some(1));
    }

    #[test]
    fn remove_forgets_the_message() {
        let mut c = MessageCache::new(10);
        c.insert(7, msg(1));
        assert!(c.remove(7, 1).is_some());
        assert!(c.get(Some(7), 1).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let mut c = MessageCache::new(0);
        c.insert(1, msg(1));
        assert!(c.is_empty());
    }
}
