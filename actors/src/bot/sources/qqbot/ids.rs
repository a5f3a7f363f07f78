//! [`IdBook`]: the numbers a QQ official bot's string ids were given, held in memory and
//! made to last through the store's id maps. Only this book hands out numbers, in order,
//! so none is given twice; what it hands out is written to the store at once, and loaded
//! back before the bot handles anything after a restart.

use std::collections::{HashMap, VecDeque};

use crate::model::UserId;
use crate::protocol::qqbot::dispatch::{ContactKey, IdMap};
use crate::store::{IdMapping, IdSpace};

/// The first number given to a contact: far from small test numbers, below QQ's range.
const FIRST_CONTACT: UserId = 100_000;

/// The id maps of one bot.
#[derive(Debug)]
pub(crate) struct IdBook {
    bot: UserId,
    contacts: HashMap<ContactKey, UserId>,
    by_number: HashMap<UserId, ContactKey>,
    messages: HashMap<String, i32>,
    message_keys: HashMap<i32, String>,
    message_order: VecDeque<i32>,
    message_bound: usize,
    next_contact: UserId,
    next_message: i32,
    /// Mappings given since the last [`IdBook::take_new`], for the store.
    new: Vec<IdMapping>,
}

impl IdBook {
    /// An empty book of bot `bot`, keeping at most `message_bound` message numbers.
    pub(crate) fn new(bot: UserId, message_bound: usize) -> Self {
        IdBook {
            bot,
            contacts: HashMap::new(),
            by_number: HashMap::new(),
            messages: HashMap::new(),
            message_keys: HashMap::new(),
            message_order: VecDeque::new(),
            message_bound: message_bound.max(1),
            next_contact: FIRST_CONTACT,
            next_message: 1,
            new: Vec::new(),
        }
    }

    /// Takes in what the store kept; numbering continues after it.
    pub(crate) fn load(&mut self, stored: Vec<IdMapping>) {
        for m in stored {
            match m.space {
                IdSpace::Contact => {
                    let Some(key) = ContactKey::decode(&m.key) else {
                        continue;
                    };
                    self.next_contact = self.next_contact.max(m.id + 1);
                    self.by_number.insert(m.id, key.clone());
                    self.contacts.insert(key, m.id);
                }
                IdSpace::Openid => {}
                IdSpace::Message => {
                    let Ok(id) = i32::try_from(m.id) else {
                        continue;
                    };
                    self.next_message = id.checked_add(1).unwrap_or(1);
                    self.remember_message(m.key, id);
                }
            }
        }
    }

    /// The mappings given since last asked, to be written to the store.
    pub(crate) fn take_new(&mut self) -> Vec<IdMapping> {
        std::mem::take(&mut self.new)
    }

    /// The contact a number names.
    pub(crate) fn contact_of(&self, number: UserId) -> Option<&ContactKey> {
        self.by_number.get(&number)
    }

    /// The platform id of message `number`.
    pub(crate) fn message_key(&self, number: i32) -> Option<&str> {
        self.message_keys.get(&number).map(String::as_str)
    }

    fn remember_message(&mut self, key: String, id: i32) {
        if let Some(old) = self.message_keys.insert(id, key.clone()) {
            self.messages.remove(&old);
        }
        self.messages.insert(key, id);
        self.message_order.push_back(id);
        while self.message_order.len() > self.message_bound {
            if let Some(old) = self.message_order.pop_front() {
                if let Some(key) = self.message_keys.remove(&old) {
                    self.messages.remove(&key);
                }
            }
        }
    }
}

impl IdMap for IdBook {
    fn contact(&mut self, key: &ContactKey) -> UserId {
        if let Some(n) = self.contacts.get(key) {
            return *n;
        }
        if self.next_contact == self.bot {
            // The bot's own number names the bot.
            self.next_contact += 1;
        }
        let n = self.next_contact;
        self.next_contact += 1;
        self.contacts.insert(key.clone(), n);
        self.by_number.insert(n, key.clone());
        self.new.push(IdMapping { space: IdSpace::Contact, key: key.encode(), id: n });
        n
    }

    fn message(&mut self, platform_id: &str) -> i32 {
        if let Some(n) = self.messages.get(platform_id) {
            return *n;
        }
        let n = self.next_message;
        // OneBot's message ids are int32: after 2³¹ − 1 numbering starts over at 1, long after
        // the store forgot the first ones.
        self.next_message = n.checked_add(1).unwrap_or(1);
        self.remember_message(platform_id.to_owned(), n);
        self.new.push(IdMapping {
            space: IdSpace::Message,
            key: platform_id.to_owned(),
            id: n as i64,
        });
        n
    }

    fn known_message(&self, platform_id: &str) -> Option<i32> {
        self.messages.get(platform_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_reversible_and_continue_after_a_reload() {
        let mut book = IdBook::new(100_001, 2);
        let g = ContactKey::Group("G".into());
        assert_eq!(book.contact(&g), 100_000);
        assert_eq!(
            book.contact(&ContactKey::User("U".into())),
            100_002,
            "the bot's number is skipped"
        );
        assert_eq!(book.contact(&g), 100_000);
        assert_eq!(book.contact_of(100_002), Some(&ContactKey::User("U".into())));
        assert_eq!((book.message("m1"), book.message("m2"), book.message("m1")), (1, 2, 1));
        assert_eq!(book.message("m3"), 3);
        assert_eq!(book.known_message("m1"), None, "bounded");
        assert_eq!(book.message_key(3), Some("m3"));
        let stored = book.take_new();
        assert_eq!(stored.len(), 5);
        assert!(book.take_new().is_empty());

        let mut again = IdBook::new(100_001, 2);
        again.load(stored);
        assert_eq!(again.contact(&g), 100_000);
        assert_eq!(again.contact(&ContactKey::Channel("C".into())), 100_003);
        assert_eq!(again.known_message("m3"), Some(3));
        assert_eq!(again.message("m4"), 4);
    }
}
