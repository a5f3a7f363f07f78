//! The platform's passive-reply rules, enforced for the SDK bots botgate serves exactly as the
//! platform enforces them — so a bot that works against botgate works against Tencent: a
//! message replies to one the app received (`msg_id`: 5 minutes in groups, 60 in C2C, 5
//! replies, each `msg_seq` once) or to an event that allows it (`event_id`), never to
//! nothing. Refusals carry the platform's codes.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::protocol::lenient;
use crate::protocol::qqbot::served::{Refusal, ReplyScope};

/// Messages and events remembered (the oldest go first beyond this).
const MEMORY: usize = 20_000;

struct Received {
    scope: ReplyScope,
    at: Instant,
    replies: u32,
    seqs: HashSet<i64>,
}

/// The reply state of one served app.
#[derive(Default)]
pub struct ReplyRules {
    messages: HashMap<String, Received>,
    events: HashMap<String, (ReplyScope, Instant)>,
    order: std::collections::VecDeque<String>,
}

fn window(scope: ReplyScope) -> Duration {
    match scope {
        ReplyScope::Group(_) => Duration::from_secs(5 * 60),
        ReplyScope::User(_) => Duration::from_secs(60 * 60),
    }
}

fn refuse(code: i64, message: &str) -> Refusal {
    Refusal { code, message: message.to_owned() }
}

/// What a send that passed the rules replies to, so the reply is counted once delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passive {
    /// The message replied to, if any (else an event).
    pub msg_id: Option<String>,
}

impl ReplyRules {
    /// Notes a message the app was sent, which it may reply to.
    pub fn received(&mut self, msg_id: &str, scope: ReplyScope, now: Instant) {
        if self.messages.contains_key(msg_id) {
            return;
        }
        self.messages.insert(
            msg_id.to_owned(),
            Received { scope, at: now, replies: 0, seqs: HashSet::new() },
        );
        self.remember(msg_id);
    }

    /// Notes an event the app may reply to with its `event_id`.
    pub fn event(&mut self, event_id: &str, scope: ReplyScope, now: Instant) {
        self.events.insert(event_id.to_owned(), (scope, now));
        self.remember(event_id);
    }

    fn remember(&mut self, id: &str) {
        self.order.push_back(id.to_owned());
        while self.order.len() > MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.messages.remove(&old);
                self.events.remove(&old);
            }
        }
    }

    /// Checks a message body posted to `scope`; its `msg_seq` is used up either way.
    pub fn check(
        &mut self,
        scope: ReplyScope,
        body: &Value,
        now: Instant,
    ) -> Result<Passive, Refusal> {
        if let Some(msg_id) = body.get("msg_id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            let Some(r) = self.messages.get_mut(msg_id).filter(|r| r.scope == scope) else {
                return Err(refuse(40034024, "msg_id 不存在或不属于该会话"));
            };
            if now.duration_since(r.at) >= window(scope) {
                return Err(refuse(40034005, "被动回复已过期"));
            }
            let seq = body.get("msg_seq").and_then(lenient::int_from_value).unwrap_or(1);
            if !r.seqs.insert(seq) {
                return Err(refuse(40054005, "消息被去重，请检查请求msgseq"));
            }
            if r.replies >= 5 {
                return Err(refuse(40034128, "被动回复次数已用完"));
            }
            return Ok(Passive { msg_id: Some(msg_id.to_owned()) });
        }
        if let Some(event_id) =
            body.get("event_id").and_then(Value::as_str).filter(|s| !s.is_empty())
        {
            return match self.events.get(event_id) {
                Some((s, at))
                    if *s == scope && now.duration_since(*at) < Duration::from_secs(300) =>
                {
                    Ok(Passive { msg_id: None })
                }
                Some(_) => Err(refuse(40034005, "event_id 已过期或不属于该会话")),
                None => Err(refuse(40034026, "event_id 不存在")),
            };
        }
        Err(refuse(40034102, "主动消息失败, 无权限"))
    }

    /// Counts a delivered reply.
    pub fn replied(&mut self, passive: &Passive) {
        if let Some(r) = passive.msg_id.as_ref().and_then(|id| self.messages.get_mut(id)) {
            r.replies += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_platforms_rules_and_codes() {
        let mut rules = ReplyRules::default();
        let g = ReplyScope::Group(1);
        let now = Instant::now();
        rules.received("m1", g, now);
        let code = |r: Result<Passive, Refusal>| r.err().map(|e| e.code);
        assert_eq!(code(rules.check(g, &json!({"content": "x"}), now)), Some(40034102));
        assert_eq!(code(rules.check(g, &json!({"msg_id": "nope"}), now)), Some(40034024));
        assert_eq!(
            code(rules.check(ReplyScope::User(1), &json!({"msg_id": "m1"}), now)),
            Some(40034024)
        );
        for seq in 1..=5 {
            let p = rules.check(g, &json!({"msg_id": "m1", "msg_seq": seq}), now).expect("reply");
            rules.replied(&p);
        }
        assert_eq!(
            code(rules.check(g, &json!({"msg_id": "m1", "msg_seq": 3}), now)),
            Some(40054005)
        );
        assert_eq!(
            code(rules.check(g, &json!({"msg_id": "m1", "msg_seq": 6}), now)),
            Some(40034128)
        );
        rules.received("m2", g, now);
        let late = now + Duration::from_secs(301);
        assert_eq!(code(rules.check(g, &json!({"msg_id": "m2"}), late)), Some(40034005));
        rules.event("e1", g, now);
        assert!(rules.check(g, &json!({"event_id": "e1"}), now).is_ok());
        assert_eq!(code(rules.check(g, &json!({"event_id": "e2"}), now)), Some(40034026));
    }
}
