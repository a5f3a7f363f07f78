//! How the simulated platform answers commands and takes injected traffic: the rules a real
//! platform enforces (who may recall what, what a message may contain), applied to the
//! [`SimWorld`] and the bot's [`MessageCache`], with the events the platform would emit.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use super::cache::MessageCache;
use super::faces;
use super::world::{unix_now, SimWorld};
use crate::model::{
    BotError, Command, CommandOutput, Event, InjectedOrigin, Media, MessageEvent, MessageKind,
    MessageSource, MessageTarget, Permission, Quote, RequestKind, Segment, SimulatedInput, UserId,
};

/// How long after sending an ordinary member may recall their own message (QQ's rule).
const RECALL_WINDOW_SECS: i64 = 120;

/// The longest text QQ accepts in one message, in characters.
const MAX_MESSAGE_CHARS: usize = 4500;

fn hex_digest(seed: &str, salt: u64) -> String {
    let mut a = DefaultHasher::new();
    (salt, seed).hash(&mut a);
    let mut b = DefaultHasher::new();
    (seed, salt.wrapping_add(0x9e37_79b9)).hash(&mut b);
    format!("{:016X}{:016X}", a.finish(), b.finish())
}

/// Gives media the id and URL the platform would after an upload.
fn upload(mut m: Media, kind: &str) -> Result<Media, BotError> {
    if m.id.is_none() {
        let seed = if let Some(url) = &m.url {
            url.clone()
        } else if let Some(path) = &m.path {
            let p = Path::new(path);
            if !p.is_file() {
                let shown = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
                return Err(BotError::FileNotFound(shown.display().to_string()));
            }
            path.clone()
        } else if let Some(b64) = &m.base64 {
            b64.clone()
        } else {
            return Err(BotError::InvalidParameter(format!("{kind} without a source")));
        };
        let hex = hex_digest(&seed, kind.len() as u64);
        m.id = Some(match kind {
            "Voice" => format!("{hex}.amr"),
            "Video" => hex.clone(),
            _ => {
                let ext = match m.format.to_ascii_lowercase().as_str() {
                    "png" => "png",
                    "gif" => "gif",
                    _ => "jpg",
                };
                format!(
                    "{{{}-{}-{}-{}-{}}}.{ext}",
                    &hex[0..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..32]
                )
            }
        });
        if m.url.is_none() {
            m.url = Some(format!("http://gchat.qpic.cn/gchatpic_new/0/0-0-{hex}/0?term=2"));
        }
    }
    m.path = None;
    m.base64 = None;
    Ok(m)
}

/// Checks and completes an outgoing message the way the platform would.
fn prepare_outgoing(message: Vec<Segment>, in_group: bool) -> Result<Vec<Segment>, BotError> {
    let mut out = Vec::with_capacity(message.len());
    let mut chars = 0usize;
    for seg in message {
        let seg = match seg {
            Segment::Text(t) => {
                chars += t.chars().count();
                Segment::Text(t)
            }
            Segment::At { .. } | Segment::AtAll if !in_group => {
                return Err(BotError::Internal(
                    "At and AtAll can only be sent to a group".to_owned(),
                ))
            }
            Segment::Face { id, name, is_super } => {
                let id = if id >= 0 {
                    id
                } else {
                    faces::id_of(&name).unwrap_or(faces::UNKNOWN_FACE_ID)
                };
                let name = faces::name_of(id).map(str::to_owned).unwrap_or(name);
                Segment::Face { id, name, is_super }
            }
            Segment::Image(m) => Segment::Image(upload(m, "Image")?),
            Segment::FlashImage(m) => Segment::FlashImage(upload(m, "Image")?),
            Segment::Voice(m) => Segment::Voice(upload(m, "Voice")?),
            Segment::Video(m) => Segment::Video(upload(m, "Video")?),
            other => other,
        };
        out.push(seg);
    }
    if out.is_empty() {
        return Err(BotError::Internal("message is empty".to_owned()));
    }
    if chars > MAX_MESSAGE_CHARS {
        return Err(BotError::MessageTooLarge);
    }
    Ok(out)
}

impl SimWorld {
    /// Answers one command, changing the world and the cache as the platform would and
    /// collecting the events it emits into `events`.
    pub fn execute(
        &mut self,
        command: Command,
        cache: &mut MessageCache,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        match command {
            Command::BotInfo => Ok(CommandOutput::Friend(self.bot_contact())),
            Command::FriendList => Ok(CommandOutput::Friends(self.friends())),
            Command::GroupList => Ok(CommandOutput::Groups(self.groups())),
            Command::GroupInfo { group } => {
                let info = self.group(group)?;
                Ok(CommandOutput::GroupInfo(info, self.members(group)?.len() + 1))
            }
            Command::MemberList { group, with_bot } => {
                let mut members = self.members(group)?;
                if with_bot {
                    members.insert(0, self.bot_member(group)?);
                }
                Ok(CommandOutput::Members(members))
            }
            Command::BotProfile => Ok(CommandOutput::Profile(self.bot_profile())),
            Command::FriendProfile { friend } => {
                self.friend_profile(friend).map(CommandOutput::Profile)
            }
            Command::MemberProfile { group, member } => {
                self.member_profile(group, member).map(CommandOutput::Profile)
            }
            Command::UserProfile { user } => self.user_profile(user).map(CommandOutput::Profile),
            Command::MessageFromId { context, message_id } => cache
                .get(context, message_id)
                .map(|(_, m)| CommandOutput::Message(Arc::clone(m)))
                .ok_or_else(|| BotError::NoSuchElement(format!("message {message_id}"))),
            Command::SendMessage { target, message, quote } => self
                .send(target, message, quote, cache)
                .map(|message_id| CommandOutput::Sent { message_id }),
            Command::Recall { context, message_id } => {
                let event = self.recall(context, message_id, cache)?;
                events.push(event);
                Ok(CommandOutput::Done)
            }
            Command::RoamingMessages { target, time_start, time_end } => {
                self.roaming(target, time_start, time_end)
            }
            Command::SendNudge { target, subject, kind } => {
                self.nudge(target, subject, kind, events)
            }
            Command::DeleteFriend { friend } => self.delete_friend(friend, events),
            Command::Mute { group, member, seconds } => self.mute(group, member, seconds, events),
            Command::Unmute { group, member } => self.unmute(group, member, events),
            Command::Kick { group, member, block, .. } => self.kick(group, member, block, events),
            Command::Quit { group } => self.quit(group, events),
            Command::MuteAll { group, enable } => self.mute_all(group, enable, events),
            Command::SetEssence { group, message_id } => self.set_essence(group, message_id, cache),
            Command::RemoveEssence { group, message_id } => {
                self.remove_essence(group, message_id, cache)
            }
            Command::EssenceList { group } => self.essences(group),
            Command::GroupHonors { group } => self.honors(group),
            Command::GetGroupConfig { group } => {
                Ok(CommandOutput::GroupConfig(self.group_state(group)?.config.clone()))
            }
            Command::UpdateGroupConfig { group, update } => {
                self.update_group_config(group, update, events)
            }
            Command::GetMemberInfo { group, member } => self.member_info(group, member),
            Command::UpdateMemberInfo { group, member, card, special_title } => {
                self.update_member_info(group, member, card, special_title, events)
            }
            Command::SetAdmin { group, member, assign } => {
                self.set_admin(group, member, assign, events)
            }
            Command::ListAnnouncements { group, offset, size } => {
                self.announcements(group, offset, size)
            }
            Command::PublishAnnouncement { group, content, .. } => {
                self.publish_announcement(group, content)
            }
            Command::DeleteAnnouncement { group, fid } => self.delete_announcement(group, &fid),
            Command::RespondRequest { kind, event_id, from_id, group_id, answer, .. } => {
                self.respond(kind, event_id, from_id, group_id, answer, events)
            }
            Command::LatestMemberList { group, members } => self.latest_members(group, &members),
            Command::SendChannelMessage { .. } => {
                Err(BotError::Unsupported("a simulated account is in no QQ guild".into()))
            }
        }
    }

    fn send(
        &mut self,
        target: MessageTarget,
        message: Vec<Segment>,
        quote: Option<i32>,
        cache: &mut MessageCache,
    ) -> Result<i32, BotError> {
        let (kind, context) = match target {
            MessageTarget::Friend(id) => {
                (MessageKind::FriendSync { subject: self.friend(id)? }, id)
            }
            MessageTarget::Group(id) => {
                let group = self.group(id)?;
                if self.bot_muted_in(id) {
                    return Err(BotError::BotMuted);
                }
                (MessageKind::GroupSync { subject: group }, id)
            }
            MessageTarget::Temp { group, member } => {
                (MessageKind::TempSync { subject: self.member(group, member)? }, member)
            }
            MessageTarget::OtherClient(id) => {
                let client = self
                    .other_clients
                    .iter()
                    .find(|c| c.id == id)
                    .cloned()
                    .ok_or_else(|| BotError::NoSuchElement(format!("other client {id}")))?;
                // mirai has no "sync" packet for these; the client is the contact.
                (MessageKind::OtherClient { sender: client }, id)
            }
        };
        let in_group = matches!(kind, MessageKind::GroupSync { .. });
        let mut segments = prepare_outgoing(message, in_group)?;
        if let Some(q) = quote {
            let (_, origin) = cache
                .get(Some(context), q)
                .ok_or_else(|| BotError::NoSuchElement(format!("quoted message {q}")))?;
            let group_id = origin.kind.group().map_or(0, |g| g.id);
            let quote = Quote {
                id: q,
                sender_id: origin.kind.sender_id(self.bot_id()),
                target_id: if group_id != 0 { group_id } else { context },
                group_id,
                origin: origin.message.clone(),
            };
            segments.insert(0, Segment::Quote(quote));
        }
        let source = MessageSource { id: self.next_message_id(), time: unix_now() };
        let key = Self::history_key(&kind, context);
        let stored = Arc::new(MessageEvent { kind, source, message: segments });
        self.remember(key, Arc::clone(&stored));
        cache.insert(context, stored);
        Ok(source.id)
    }

    fn recall(
        &mut self,
        context: Option<UserId>,
        message_id: i32,
        cache: &mut MessageCache,
    ) -> Result<Event, BotError> {
        let bot = self.bot_id();
        let (context, message) = cache
            .get(context, message_id)
            .map(|(c, m)| (c, Arc::clone(m)))
            .ok_or_else(|| BotError::NoSuchElement(format!("message {message_id}")))?;
        let author = message.kind.sender_id(bot);
        let fresh = unix_now() - message.source.time <= RECALL_WINDOW_SECS;
        let event = match message.kind.group() {
            Some(cached_group)
                if !matches!(
                    message.kind,
                    MessageKind::Temp { .. } | MessageKind::TempSync { .. }
                ) =>
            {
                let group = self.group(cached_group.id)?;
                let allowed = if author == bot {
                    fresh || group.permission > Permission::Member
                } else {
                    let author_rank =
                        self.member(group.id, author).map_or(Permission::Member, |m| m.permission);
                    group.permission > author_rank
                };
                if !allowed {
                    return Err(BotError::PermissionDenied(format!(
                        "the bot may not recall message {message_id} in group {}",
                        group.id
                    )));
                }
                Event::GroupRecall {
                    author_id: author,
                    message_id,
                    time: message.source.time,
                    group,
                    operator: None,
                }
            }
            _ => {
                if author != bot || !fresh {
                    return Err(BotError::PermissionDenied(format!(
                        "only the bot's own private messages of the last {RECALL_WINDOW_SECS} s \
                         can be recalled"
                    )));
                }
                Event::FriendRecall {
                    author_id: author,
                    message_id,
                    time: message.source.time,
                    operator: bot,
                }
            }
        };
        cache.remove(context, message_id);
        Ok(event)
    }

    /// Takes one injected happening as if the platform had delivered it: resolves contacts
    /// against the world, assigns message ids, fills the cache, and collects the events.
    /// Answers the new message's id for messages.
    pub fn inject(
        &mut self,
        input: SimulatedInput,
        cache: &mut MessageCache,
        events: &mut Vec<Event>,
    ) -> Result<Option<i32>, BotError> {
        let bot = self.bot_id();
        let not_in_world = |e: BotError| BotError::InvalidParameter(e.to_string());
        match input {
            SimulatedInput::Message { origin, message, source } => {
                let time = source.map(|s| s.time).filter(|t| *t > 0).unwrap_or_else(unix_now);
                let (kind, context) = match origin {
                    InjectedOrigin::Friend(id) => {
                        (MessageKind::Friend { sender: self.friend(id).map_err(not_in_world)? }, id)
                    }
                    InjectedOrigin::Group { group, member } => {
                        let sender = self.member(group, member).map_err(not_in_world)?;
                        if sender.mute_time_remaining > 0 {
                            return Err(BotError::InvalidParameter(format!(
                                "member {member} is muted in group {group} and cannot speak"
                            )));
                        }
                        self.touch_member(group, member, time);
                        let sender = self.member(group, member).map_err(not_in_world)?;
                        (MessageKind::Group { sender }, group)
                    }
                    InjectedOrigin::Temp { group, member } => {
                        let sender = self.member(group, member).map_err(not_in_world)?;
                        (MessageKind::Temp { sender }, member)
                    }
                    InjectedOrigin::OtherClient(id) => {
                        let client = self
                            .other_clients
                            .iter()
                            .find(|c| c.id == id)
                            .cloned()
                            .ok_or_else(|| {
                                not_in_world(BotError::NoSuchElement(format!("other client {id}")))
                            })?;
                        (MessageKind::OtherClient { sender: client }, id)
                    }
                    InjectedOrigin::Sync { target, stranger } => match target {
                        MessageTarget::Friend(id) if stranger => {
                            let subject = crate::model::Friend {
                                id,
                                nickname: String::new(),
                                remark: String::new(),
                            };
                            (MessageKind::StrangerSync { subject }, id)
                        }
                        MessageTarget::Friend(id) => (
                            MessageKind::FriendSync {
                                subject: self.friend(id).map_err(not_in_world)?,
                            },
                            id,
                        ),
                        MessageTarget::Group(id) => (
                            MessageKind::GroupSync {
                                subject: self.group(id).map_err(not_in_world)?,
                            },
                            id,
                        ),
                        MessageTarget::Temp { group, member } => {
                            let subject = self.member(group, member).map_err(not_in_world)?;
                            (MessageKind::TempSync { subject }, member)
                        }
                        MessageTarget::OtherClient(id) => {
                            return Err(BotError::InvalidParameter(format!(
                                "no sync messages to other client {id}"
                            )))
                        }
                    },
                    InjectedOrigin::Stranger { id, nickname } => {
                        if id == bot {
                            return Err(BotError::InvalidParameter(
                                "a stranger message cannot come from the bot itself".to_owned(),
                            ));
                        }
                        let sender = crate::model::Friend { id, nickname, remark: String::new() };
                        (MessageKind::Stranger { sender }, id)
                    }
                };
                if message.is_empty() {
                    return Err(BotError::InvalidParameter("the message is empty".to_owned()));
                }
                let source = MessageSource { id: self.next_message_id(), time };
                let event = MessageEvent { kind, source, message };
                let stored = Arc::new(event.clone());
                self.remember(Self::history_key(&event.kind, context), Arc::clone(&stored));
                cache.insert(context, stored);
                events.push(Event::Message(event));
                Ok(Some(source.id))
            }
            SimulatedInput::FriendRecall { author_id, message_id, operator } => {
                let friend = if author_id == bot { operator } else { author_id };
                self.friend(friend).map_err(not_in_world)?;
                let time =
                    cache.remove(friend, message_id).map_or_else(unix_now, |m| m.source.time);
                events.push(Event::FriendRecall { author_id, message_id, time, operator });
                Ok(None)
            }
            SimulatedInput::GroupRecall { group, author_id, message_id, operator } => {
                let group_info = self.group(group).map_err(not_in_world)?;
                let operator = match operator {
                    Some(op) if op != bot => Some(self.member(group, op).map_err(not_in_world)?),
                    _ => None,
                };
                let time = cache.remove(group, message_id).map_or_else(unix_now, |m| m.source.time);
                events.push(Event::GroupRecall {
                    author_id,
                    message_id,
                    time,
                    group: group_info,
                    operator,
                });
                Ok(None)
            }
            SimulatedInput::Event(event) => match *event {
                Event::Request(mut request) => {
                    if let RequestKind::MemberJoin { .. } = request.kind {
                        self.group(request.group_id).map_err(not_in_world)?;
                    }
                    if request.event_id == 0 {
                        request.event_id = self.next_serial();
                    }
                    self.pending_requests.insert(request.event_id, request.clone());
                    events.push(Event::Request(request));
                    Ok(None)
                }
                event => {
                    events.push(self.apply_platform_event(event)?);
                    Ok(None)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::world::SimulatedWorldSpec;

    fn world() -> (SimWorld, MessageCache) {
        let spec: SimulatedWorldSpec = serde_json::from_value(serde_json::json!({
            "nickname": "bot",
            "friends": [{"id": 2, "nickname": "friend"}],
            "groups": [
                {"id": 3, "name": "owned", "permission": "OWNER",
                 "members": [{"id": 4, "nickname": "admin", "permission": "ADMINISTRATOR"}]},
                {"id": 5, "name": "plain",
                 "members": [{"id": 4, "nickname": "admin", "permission": "ADMINISTRATOR"}]}
            ]
        }))
        .unwrap();
        (SimWorld::new(1, &spec), MessageCache::new(16))
    }

    fn text(t: &str) -> Vec<Segment> {
        vec![Segment::Text(t.into())]
    }

    #[test]
    fn sending_stores_the_message_under_a_fresh_id() {
        let (mut w, mut c) = world();
        let mut ev = vec![];
        let sent = w.execute(
            Command::SendMessage {
                target: MessageTarget::Group(3),
                message: text("a"),
                quote: None,
            },
            &mut c,
            &mut ev,
        );
        let Ok(CommandOutput::Sent { message_id }) = sent else { panic!("{sent:?}") };
        let Ok(CommandOutput::Message(m)) =
            w.execute(Command::MessageFromId { context: Some(3), message_id }, &mut c, &mut ev)
        else {
            panic!()
        };
        assert!(matches!(m.kind, MessageKind::GroupSync { .. }));
        assert!(ev.is_empty(), "sending emits no event");
    }

    #[test]
    fn quote_prepends_the_origin_and_unknown_quotes_fail() {
        let (mut w, mut c) = world();
        let mut ev = vec![];
        let id = w
            .inject(
                SimulatedInput::Message {
                    origin: InjectedOrigin::Group { group: 3, member: 4 },
                    message: text("q"),
                    source: None,
                },
                &mut c,
                &mut ev,
            )
            .unwrap()
            .unwrap();
        let target = MessageTarget::Group(3);
        let Ok(CommandOutput::Sent { message_id }) = w.execute(
            Command::SendMessage { target, message: text("r"), quote: Some(id) },
            &mut c,
            &mut ev,
        ) else {
            panic!()
        };
        let (_, m) = c.get(Some(3), message_id).unwrap();
        let Segment::Quote(q) = &m.message[0] else { panic!() };
        assert_eq!((q.id, q.sender_id, q.group_id), (id, 4, 3));
        let bad = w.execute(
            Command::SendMessage { target, message: text("r"), quote: Some(999) },
            &mut c,
            &mut ev,
        );
        assert!(matches!(bad, Err(BotError::NoSuchElement(_))));
    }

    #[test]
    fn recall_follows_the_platform_rules() {
        let (mut w, mut c) = world();
        let mut ev = vec![];
        let inject = |w: &mut SimWorld, c: &mut MessageCache, group| {
            w.inject(
                SimulatedInput::Message {
                    origin: InjectedOrigin::Group { group, member: 4 },
                    message: text("x"),
                    source: None,
                },
                c,
                &mut vec![],
            )
            .unwrap()
            .unwrap()
        };
        // Owner bot may recall an administrator's message; member bot may not.
        let in_owned = inject(&mut w, &mut c, 3);
        w.execute(Command::Recall { context: Some(3), message_id: in_owned }, &mut c, &mut ev)
            .unwrap();
        assert!(matches!(ev[0], Event::GroupRecall { author_id: 4, operator: None, .. }));
        let again =
            w.execute(Command::Recall { context: Some(3), message_id: in_owned }, &mut c, &mut ev);
        assert!(matches!(again, Err(BotError::NoSuchElement(_))));
        let in_plain = inject(&mut w, &mut c, 5);
        let denied =
            w.execute(Command::Recall { context: Some(5), message_id: in_plain }, &mut c, &mut ev);
        assert!(matches!(denied, Err(BotError::PermissionDenied(_))));
    }

    #[test]
    fn outgoing_media_gets_an_id_and_missing_files_are_named() {
        let img = Media {
            url: Some("http://x/a.png".into()),
            format: "PNG".into(),
            ..Default::default()
        };
        let out = prepare_outgoing(vec![Segment::Image(img)], true).unwrap();
        let Segment::Image(m) = &out[0] else { panic!() };
        assert!(m.id.as_deref().unwrap().ends_with("}.png"));
        let missing = Media { path: Some("/no/such/file.png".into()), ..Default::default() };
        assert_eq!(
            prepare_outgoing(vec![Segment::Image(missing)], true),
            Err(BotError::FileNotFound("/no/such/file.png".into()))
        );
        assert!(matches!(prepare_outgoing(vec![], true), Err(BotError::Internal(_))));
        assert!(matches!(
            prepare_outgoing(vec![Segment::AtAll], false),
            Err(BotError::Internal(_))
        ));
        let long = "字".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(prepare_outgoing(text(&long), true), Err(BotError::MessageTooLarge));
    }

    #[test]
    fn injecting_from_outside_the_world_is_refused() {
        let (mut w, mut c) = world();
        let r = w.inject(
            SimulatedInput::Message {
                origin: InjectedOrigin::Group { group: 3, member: 99 },
                message: text("x"),
                source: None,
            },
            &mut c,
            &mut vec![],
        );
        assert!(matches!(r, Err(BotError::InvalidParameter(_))));
    }
}
