//! [`PassiveReplies`]: since 2025-04-21 a bot on the QQ official platform speaks only in reply
//! — to a received message (`msg_id`: 5 minutes in groups and channels, 60 minutes in C2C, at
//! most 5 replies each in groups and C2C) or to an event that allows it (`event_id`). This
//! remembers what each scope received, picks what a send replies to (the quoted message, else
//! the newest that still takes a reply, else an event), and numbers the replies to a message
//! with a strictly increasing `msg_seq` — the platform refuses a number used twice.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::model::BotError;
use crate::protocol::qqbot::dispatch::{ReplyRef, Scope};
use crate::protocol::qqbot::outgoing::PassiveFields;

/// Received messages remembered per scope, newest last.
const PER_SCOPE: usize = 32;

/// The first `msg_seq` for a message adopted after a restart: the numbers used before it are
/// not known, but a message takes 5 replies, so fewer than this many were tried.
const ADOPTED_FIRST_SEQ: u32 = 101;

struct Received {
    scope: Scope,
    at: Instant,
    replies: u32,
    next_seq: u32,
}

/// The passive-reply state of one bot.
#[derive(Default)]
pub(crate) struct PassiveReplies {
    messages: HashMap<String, Received>,
    recent: HashMap<Scope, VecDeque<String>>,
    events: HashMap<Scope, (String, Instant)>,
}

/// How long a received message or event can be replied to.
fn window(scope: &Scope) -> Duration {
    match scope {
        Scope::User(_) => Duration::from_secs(60 * 60),
        Scope::Group(_) | Scope::Channel(_) | Scope::Direct(_) => Duration::from_secs(5 * 60),
    }
}

/// How many replies one received message takes.
fn max_replies(scope: &Scope) -> u32 {
    match scope {
        Scope::Group(_) | Scope::User(_) => 5,
        Scope::Channel(_) | Scope::Direct(_) => u32::MAX,
    }
}

fn scope_name(scope: &Scope) -> &'static str {
    match scope {
        Scope::Group(_) => "group",
        Scope::User(_) => "C2C chat",
        Scope::Channel(_) => "channel",
        Scope::Direct(_) => "direct-message session",
    }
}

impl PassiveReplies {
    /// Notes what an inbound event lets the bot reply to.
    pub(crate) fn record(&mut self, reply: &ReplyRef, now: Instant) {
        self.prune(now);
        if let Some(msg_id) = &reply.msg_id {
            if !self.messages.contains_key(msg_id) {
                self.messages.insert(
                    msg_id.clone(),
                    Received { scope: reply.scope.clone(), at: now, replies: 0, next_seq: 1 },
                );
                let recent = self.recent.entry(reply.scope.clone()).or_default();
                recent.push_back(msg_id.clone());
                while recent.len() > PER_SCOPE {
                    recent.pop_front();
                }
            }
        } else if let Some(event_id) = &reply.event_id {
            self.events.insert(reply.scope.clone(), (event_id.clone(), now));
        }
    }

    /// Whether `msg_id` is a message this knows.
    pub(crate) fn knows(&self, msg_id: &str) -> bool {
        self.messages.contains_key(msg_id)
    }

    /// Takes in a message received before a restart (`age` ago, from the store), if it can
    /// still be replied to; its replies are numbered clear of those made before.
    pub(crate) fn adopt(&mut self, msg_id: &str, scope: Scope, age: Duration, now: Instant) {
        if age >= window(&scope) || self.messages.contains_key(msg_id) {
            return;
        }
        let at = now.checked_sub(age).unwrap_or(now);
        self.messages.insert(
            msg_id.to_owned(),
            Received { scope: scope.clone(), at, replies: 0, next_seq: ADOPTED_FIRST_SEQ },
        );
        self.recent.entry(scope).or_default().push_front(msg_id.to_owned());
    }

    /// What a message to `scope` replies to: `quoted` (a message's platform id) when given,
    /// else the newest received message that still takes a reply, else the newest event.
    /// Numbers the reply. An error says why the platform would refuse the send.
    pub(crate) fn choose(
        &mut self,
        scope: &Scope,
        quoted: Option<&str>,
        now: Instant,
    ) -> Result<PassiveFields, BotError> {
        self.prune(now);
        let open = |r: &Received| r.replies < max_replies(&r.scope);
        let msg_id = match quoted {
            Some(id) => match self.messages.get(id) {
                Some(r) if r.scope == *scope && open(r) => Some(id.to_owned()),
                Some(r) if r.scope == *scope => {
                    return Err(BotError::PermissionDenied(format!(
                        "the quoted message has had its {} replies",
                        max_replies(scope)
                    )))
                }
                _ => {
                    return Err(BotError::PermissionDenied(format!(
                        "the quoted message cannot be replied to: it is older than the {}-minute \
                         window of a {} or not from there",
                        window(scope).as_secs() / 60,
                        scope_name(scope)
                    )))
                }
            },
            None => self.recent.get(scope).and_then(|ids| {
                ids.iter().rev().find(|id| self.messages.get(*id).is_some_and(open)).cloned()
            }),
        };
        if let Some(msg_id) = msg_id {
            let r = self
                .messages
                .get_mut(&msg_id)
                .ok_or_else(|| BotError::Internal("passive reply state lost a message".into()))?;
            let msg_seq = r.next_seq;
            r.next_seq += 1;
            return Ok(PassiveFields { msg_id: Some(msg_id), event_id: None, msg_seq });
        }
        if let Some((event_id, _)) = self.events.get(scope) {
            return Ok(PassiveFields {
                msg_id: None,
                event_id: Some(event_id.clone()),
                msg_seq: 1,
            });
        }
        Err(BotError::PermissionDenied(format!(
            "the QQ official platform stopped proactive messages on 2025-04-21: a bot only \
             replies, and this {} sent nothing the bot may still reply to (within {} minutes, \
             at most {} replies each)",
            scope_name(scope),
            window(scope).as_secs() / 60,
            max_replies(scope).min(5)
        )))
    }

    /// Counts a reply the platform accepted.
    pub(crate) fn replied(&mut self, fields: &PassiveFields) {
        if let Some(r) = fields.msg_id.as_ref().and_then(|id| self.messages.get_mut(id)) {
            r.replies += 1;
        }
    }

    fn prune(&mut self, now: Instant) {
        self.messages.retain(|_, r| now.duration_since(r.at) < window(&r.scope));
        let messages = &self.messages;
        self.recent.retain(|_, ids| {
            ids.retain(|id| messages.contains_key(id));
            !ids.is_empty()
        });
        self.events.retain(|scope, (_, at)| now.duration_since(*at) < window(scope));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(scope: Scope, id: &str) -> ReplyRef {
        ReplyRef { scope, msg_id: Some(id.into()), event_id: Some(format!("E-{id}")) }
    }

    #[test]
    fn replies_are_numbered_counted_and_bounded_by_window() {
        let mut p = PassiveReplies::default();
        let g = Scope::Group("G".into());
        let start = Instant::now();
        p.record(&message(g.clone(), "m1"), start);
        p.record(&message(g.clone(), "m2"), start);
        for seq in 1..=5 {
            let f = p.choose(&g, None, start).expect("reply");
            assert_eq!((f.msg_id.as_deref(), f.msg_seq), (Some("m2"), seq));
            p.replied(&f);
        }
        // m2 has had its five replies: the next goes to m1.
        let f = p.choose(&g, None, start).expect("reply");
        assert_eq!((f.msg_id.as_deref(), f.msg_seq), (Some("m1"), 1));
        assert!(p.choose(&g, Some("m2"), start).is_err(), "quoting a spent message");
        assert_eq!(
            p.choose(&g, Some("m1"), start).expect("q").msg_seq,
            2,
            "a failed try still used 1"
        );

        let later = start + Duration::from_secs(5 * 60 + 1);
        let e = p.choose(&g, None, later).expect_err("window over");
        assert!(e.to_string().contains("2025-04-21"), "{e}");

        let u = Scope::User("U".into());
        p.record(&message(u.clone(), "c1"), start);
        assert_eq!(p.choose(&u, None, later).expect("60 min").msg_id.as_deref(), Some("c1"));

        let c = Scope::Channel("C".into());
        p.adopt("old", c.clone(), Duration::from_secs(60), later);
        assert_eq!(p.choose(&c, Some("old"), later).expect("adopted").msg_seq, ADOPTED_FIRST_SEQ);
        p.adopt("older", c.clone(), Duration::from_secs(301), later);
        assert!(!p.knows("older"), "past the window");

        let robot = ReplyRef { scope: g.clone(), msg_id: None, event_id: Some("EV".into()) };
        p.record(&robot, later);
        let f = p.choose(&g, None, later).expect("event");
        assert_eq!((f.msg_id, f.event_id.as_deref()), (None, Some("EV")));
    }
}
