//! `source: oicq-webd` — an account held by an oicq_webd daemon. Its push packets (either
//! generation) become model events fanned out to every client, each in its own protocol; its
//! base64 msgIDs get int32 numbers from the store's id maps; requests get event ids that
//! lead back to their `eventID`; commands go to the daemon's HTTP API, its status codes
//! mapped to errors. While the push link is down mirai clients get `BotOfflineEventDropped`
//! and, when it is back, `BotReloginEvent`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use actix::prelude::*;
use log::{debug, info, warn};
use serde_json::{json, Value};

use super::qqbot::IdBook;
use super::Source;
use crate::bot::actor::{BotActor, Reply};
use crate::bot::world::unix_now;
use crate::connection::oicq_link::{OicqApi, OicqConfig, OicqLink, OicqNotice};
use crate::model::{
    BotError, BotOfflineReason, Command, CommandOutput, Event, ForwardNode, Friend, Group,
    MessageEvent, MessageKind, MessageSource, MessageTarget, Permission, RequestAnswer, Segment,
    SharedEvent, UserId,
};
use crate::protocol::lenient;
use crate::protocol::oicq::{content, read};
use crate::protocol::qqbot::dispatch::IdMap;

/// The account's state as the daemon told it.
pub(crate) struct OicqSource {
    config: OicqConfig,
    api: Option<OicqApi>,
    pub(crate) link: Option<Addr<OicqLink>>,
    online: bool,
    ever_online: bool,
    nickname: String,
    ids: IdBook,
    /// Request `eventID`s (later daemons) by the event id botgate gave the request.
    requests: HashMap<i64, Option<String>>,
    next_request: i64,
    groups: BTreeMap<UserId, Group>,
    /// Packets held while a forwarded bundle is expanded, so everything stays in order.
    held: Option<VecDeque<Value>>,
}

impl OicqSource {
    /// The source of bot `qq` reached through `config`.
    pub(crate) fn new(qq: UserId, config: OicqConfig, message_bound: usize) -> Self {
        OicqSource {
            config,
            api: None,
            link: None,
            online: false,
            ever_online: false,
            nickname: String::new(),
            ids: IdBook::new(qq, message_bound),
            requests: HashMap::new(),
            next_request: 1,
            groups: BTreeMap::new(),
            held: None,
        }
    }

    /// Whether the push link is up.
    pub(crate) fn online(&self) -> bool {
        self.online
    }

    /// The account's nickname, as the daemon reported it.
    pub(crate) fn nickname(&self) -> &str {
        &self.nickname
    }
}

impl BotActor {
    fn oicq_source(&mut self) -> &mut OicqSource {
        match &mut self.source {
            Source::Oicq(s) => s,
            _ => unreachable!("only called for oicq_webd-sourced bots"),
        }
    }

    /// Loads the msgID numbers, then opens the push link.
    pub(crate) fn start_oicq(&mut self, ctx: &mut Context<Self>) {
        let s = self.oicq_source();
        s.api = Some(OicqApi::new(&s.config));
        self.load_id_book(ctx, |act| &mut act.oicq_source().ids);
        let config = self.oicq_source().config.clone();
        self.oicq_source().link = Some(OicqLink::new(config, ctx.address().recipient()).start());
    }

    fn persist_oicq_ids(&mut self) {
        self.persist_id_book(|act| &mut act.oicq_source().ids);
    }

    /// Takes a packet in arrival order: behind an expansion under way, or now.
    fn on_packet_in_order(&mut self, packet: Value, ctx: &mut Context<Self>) {
        if let Some(held) = self.oicq_source().held.as_mut() {
            held.push_back(packet);
            return;
        }
        self.deliver_or_expand(packet, ctx);
    }

    /// Delivers a packet, first expanding its forwarded bundles through the API
    /// (`mesg/parseForwardedMsg`); later packets wait meanwhile.
    fn deliver_or_expand(&mut self, packet: Value, ctx: &mut Context<Self>) {
        let ids = content::forward_ids(&packet["data"]["msgContent"]);
        let api = self.oicq_source().api.clone();
        let (false, Some(api)) = (ids.is_empty() || packet["type"] != "msg", api) else {
            return self.on_packet(packet, Vec::new(), ctx);
        };
        self.oicq_source().held = Some(VecDeque::new());
        let fetch = async move {
            let mut bundles = Vec::new();
            for id in ids {
                let answer = api.call("mesg/parseForwardedMsg", &[("id", id.clone())], None).await;
                match answer {
                    Ok(a) => bundles.push(content::forward_nodes(&a["msgs"])),
                    Err(e) => {
                        debug!("forwarded bundle {id} not expanded: {e}");
                        bundles.push(Vec::new());
                    }
                }
            }
            bundles
        };
        ctx.spawn(fetch.into_actor(self).map(move |bundles, act, ctx| {
            act.on_packet(packet, bundles, ctx);
            let mut rest = act.oicq_source().held.take().unwrap_or_default();
            while let Some(next) = rest.pop_front() {
                act.deliver_or_expand(next, ctx);
                if let Some(again) = act.oicq_source().held.as_mut() {
                    // Another bundle is being expanded: the rest waits behind it.
                    again.extend(rest);
                    return;
                }
            }
        }));
    }

    fn on_packet(
        &mut self,
        packet: Value,
        bundles: Vec<Vec<ForwardNode>>,
        ctx: &mut Context<Self>,
    ) {
        let qq = self.bot_id();
        let s = self.oicq_source();
        let decoded = read::read(&packet, qq, |id| s.ids.message(id));
        self.persist_oicq_ids();
        let mut r = match decoded {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(why) => {
                warn!("bot {qq}: oicq_webd packet not understood ({why}); dropped");
                return;
            }
        };
        match &mut r.event {
            Event::BotOnline | Event::BotOffline(_) => {
                // The account's own login state: the link's state says the same to clients.
                debug!("bot {qq}: the daemon reports {:?}", r.event);
                return;
            }
            Event::Request(req) => {
                let s = self.oicq_source();
                req.event_id = s.next_request;
                s.next_request += 1;
                s.requests.insert(req.event_id, r.request.clone());
            }
            Event::Message(m) => {
                let mut bundles = bundles.into_iter();
                for segment in m.message.iter_mut() {
                    if let Segment::Forward(nodes) = segment {
                        *nodes = bundles.next().unwrap_or_default();
                    }
                }
                if let MessageKind::Group { sender } = &m.kind {
                    self.oicq_source()
                        .groups
                        .entry(sender.group.id)
                        .or_insert_with(|| sender.group.clone());
                }
                if let Some(context) = m.kind.context_id() {
                    if self.cache.get(Some(context), m.source.id).is_some() {
                        return;
                    }
                    self.cache.insert(context, Arc::new(m.clone()));
                }
            }
            _ => {}
        }
        let time = match &r.event {
            Event::Message(m) => m.source.time,
            _ => unix_now(),
        };
        self.fan_out_shared(SharedEvent::new(qq, time, r.event));
        self.record_changes(ctx);
    }

    /// Runs a command through the daemon's HTTP API.
    pub(crate) fn run_oicq(&mut self, command: Command, _: &mut Context<Self>) -> Reply {
        let qq = self.bot_id();
        if let Command::MessageFromId { context, message_id } = &command {
            return self.cached_message(*context, *message_id);
        }
        let s = self.oicq_source();
        if let Command::BotInfo = command {
            let me = Friend { id: qq, nickname: s.nickname.clone(), remark: String::new() };
            return Reply::Now(Ok(CommandOutput::Friend(me)));
        }
        let Some(api) = s.api.clone() else {
            return Reply::Now(Err(BotError::Internal(format!("bot {qq} has not started"))));
        };
        let call = match self.oicq_call(&command) {
            Ok(c) => c,
            Err(e) => return Reply::Now(Err(e)),
        };
        let (route, query, body) = call;
        let request = async move { api.call(route, &query, body).await };
        Reply::Later(Box::pin(request.into_actor(self).map(move |answer, act, ctx| {
            let answer = answer?;
            act.oicq_done(command, &answer, ctx)
        })))
    }

    /// The route, query and body of a command.
    #[allow(clippy::type_complexity)]
    fn oicq_call(
        &mut self,
        command: &Command,
    ) -> Result<(&'static str, Vec<(&'static str, String)>, Option<Value>), BotError> {
        let post = |route, body| Ok((route, Vec::new(), Some(body)));
        let get = |route, query| Ok((route, query, None));
        match command {
            Command::SendMessage { target, message, quote } => {
                let (route, mut body) = match *target {
                    MessageTarget::Friend(dest) => ("sendMsg/private", json!({"dest": dest})),
                    MessageTarget::Group(dest) => ("sendMsg/group", json!({"dest": dest})),
                    MessageTarget::Temp { group, member } => {
                        ("sendMsg/private", json!({"dest": member, "from": group}))
                    }
                    MessageTarget::OtherClient(_) => {
                        return Err(BotError::Unsupported("oicq_webd has no other clients".into()))
                    }
                };
                body["msgContent"] = content::encode(message, None);
                if let Some(q) = quote {
                    let context = match *target {
                        MessageTarget::Friend(d) | MessageTarget::Group(d) => d,
                        MessageTarget::Temp { member, .. } => member,
                        MessageTarget::OtherClient(d) => d,
                    };
                    let id = self.oicq_source().ids.message_key(*q).map(str::to_owned);
                    let origin = self.cache.get(Some(context), *q).map(|(_, m)| Arc::clone(m));
                    let (Some(id), Some(origin)) = (id, origin) else {
                        return Err(BotError::NoSuchElement(format!("message {q}")));
                    };
                    let summary = content::plain(&origin.message);
                    body["reply"] = json!({"to": origin.kind.sender_id(self.bot_id()),
                        "time": origin.source.time, "id": id, "summary": summary, "text": summary});
                }
                Ok((route, Vec::new(), Some(body)))
            }
            Command::Recall { context, message_id } => {
                let found = self
                    .cache
                    .get(*context, *message_id)
                    .map(|(c, m)| (c, m.kind.group().is_some()));
                let Some((channel, group)) = found else {
                    return Err(BotError::NoSuchElement(format!("message {message_id}")));
                };
                let Some(id) = self.oicq_source().ids.message_key(*message_id).map(str::to_owned)
                else {
                    return Err(BotError::NoSuchElement(format!("message {message_id}")));
                };
                let route = if group { "revoke/group" } else { "revoke/private" };
                post(route, json!({"channel": channel, "msgID": id}))
            }
            Command::FriendList => get("user/getFriendList", Vec::new()),
            Command::GroupList => get("user/getGroupList", Vec::new()),
            Command::MemberList { group, .. } => {
                get("group/getMemberList", vec![("group", group.to_string())])
            }
            Command::Mute { group, member, seconds } => {
                post("group/mute", json!({"group": group, "target": member, "duration": seconds}))
            }
            Command::Unmute { group, member } => {
                post("group/mute", json!({"group": group, "target": member, "duration": 0}))
            }
            Command::MuteAll { group, enable } => post(
                "group/mute",
                json!({"group": group, "target": 0, "duration": if *enable { i64::from(u32::MAX) } else { 0 }}),
            ),
            Command::Kick { group, member, .. } => {
                post("group/kick", json!({"group": group, "who": member}))
            }
            Command::SetAdmin { group, member, assign } => {
                post("group/setAdmin", json!({"group": group, "who": member, "set": assign}))
            }
            Command::Quit { group } => post("user/leaveGroup", json!({"group": group})),
            Command::RespondRequest { kind, event_id, from_id, group_id, answer, .. } => {
                let accept = matches!(answer, RequestAnswer::Accept);
                let event = self.oicq_source().requests.get(event_id).cloned().flatten();
                let route = match kind {
                    crate::model::RequestType::NewFriend => "user/acceptFriend",
                    crate::model::RequestType::BotInvitedJoinGroup => "user/acceptGroupInvite",
                    crate::model::RequestType::MemberJoin => "group/acceptJoin",
                };
                let mut body = json!({"accept": accept, "who": from_id.unwrap_or(0),
                                      "group": group_id.unwrap_or(0)});
                if let Some(event) = event {
                    body["eventID"] = json!(event);
                }
                post(route, body)
            }
            other => Err(BotError::Unsupported(format!(
                "oicq_webd's API has no counterpart for {}",
                format!("{other:?}").split([' ', '{', '(']).next().unwrap_or("this command")
            ))),
        }
    }

    /// What a successful call means for the caches, and the command's output.
    fn oicq_done(
        &mut self,
        command: Command,
        answer: &Value,
        ctx: &mut Context<Self>,
    ) -> Result<CommandOutput, BotError> {
        let list = || answer.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
        let int = |v: &Value, k: &str| v.get(k).and_then(lenient::int_from_value).unwrap_or(0);
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Ok(match command {
            Command::SendMessage { target, message, quote: _ } => {
                let msg_id = answer.get("msgID").and_then(Value::as_str).ok_or_else(|| {
                    BotError::Internal(format!("oicq_webd answered no msgID: {answer}"))
                })?;
                let message_id = self.oicq_source().ids.message(msg_id);
                self.persist_oicq_ids();
                let (kind, context) = match target {
                    MessageTarget::Group(g) => {
                        let group = self.oicq_source().groups.get(&g).cloned().unwrap_or(Group {
                            id: g,
                            name: String::new(),
                            permission: Permission::Member,
                        });
                        (MessageKind::GroupSync { subject: group }, g)
                    }
                    MessageTarget::Friend(f) | MessageTarget::Temp { member: f, .. } => {
                        let subject =
                            Friend { id: f, nickname: String::new(), remark: String::new() };
                        (MessageKind::FriendSync { subject }, f)
                    }
                    MessageTarget::OtherClient(_) => {
                        return Err(BotError::Unsupported("other client".into()))
                    }
                };
                let sent = MessageEvent {
                    kind,
                    source: MessageSource { id: message_id, time: unix_now() },
                    message,
                };
                self.cache.insert(context, Arc::new(sent));
                self.record_changes(ctx);
                CommandOutput::Sent { message_id }
            }
            Command::Recall { context, message_id } => {
                if let Some((c, _)) = self.cache.get(context, message_id) {
                    self.cache.remove(c, message_id);
                    self.record_changes(ctx);
                }
                CommandOutput::Done
            }
            Command::FriendList => CommandOutput::Friends(
                list()
                    .iter()
                    .map(|f| Friend {
                        id: int(f, "id"),
                        nickname: text(f, "nickname"),
                        remark: String::new(),
                    })
                    .collect(),
            ),
            Command::GroupList => {
                let groups: Vec<Group> = list()
                    .iter()
                    .map(|g| Group {
                        id: int(g, "id"),
                        name: text(g, "name"),
                        permission: Permission::Member,
                    })
                    .collect();
                let s = self.oicq_source();
                for g in &groups {
                    s.groups.insert(g.id, g.clone());
                }
                CommandOutput::Groups(groups)
            }
            Command::MemberList { group, .. } => {
                let g = self.oicq_source().groups.get(&group).cloned().unwrap_or(Group {
                    id: group,
                    name: String::new(),
                    permission: Permission::Member,
                });
                CommandOutput::Members(
                    list()
                        .iter()
                        .map(|m| {
                            let mut member =
                                read::member(int(m, "id"), group, &text(m, "nickname"), &g.name);
                            member.card = text(m, "alias");
                            if !member.card.is_empty() {
                                member.member_name = member.card.clone();
                            }
                            member
                        })
                        .collect(),
                )
            }
            _ => CommandOutput::Done,
        })
    }
}

impl Handler<OicqNotice> for BotActor {
    type Result = ();

    fn handle(&mut self, notice: OicqNotice, ctx: &mut Self::Context) {
        let qq = self.bot_id();
        match notice {
            OicqNotice::Up => {
                // The daemon's account: checked against the entry (later daemons say who).
                let Some(api) = self.oicq_source().api.clone() else {
                    return;
                };
                let ask = async move { api.call("user/basicInfo", &[], None).await };
                ctx.spawn(ask.into_actor(self).map(move |answer, act, _| {
                    match answer {
                        Ok(a) => {
                            let id = a["basic"].get("id").and_then(lenient::int_from_value);
                            if id.is_some_and(|id| id != qq) {
                                warn!(
                                    "bot {qq}: the oicq_webd daemon at {} holds account {}; fix the \
                                     entry's qq under bots:",
                                    act.oicq_source().config.url,
                                    id.unwrap_or(0)
                                );
                                return;
                            }
                            act.oicq_source().nickname =
                                a["basic"]["nickname"].as_str().unwrap_or("").to_owned();
                        }
                        Err(e) => debug!("bot {qq}: no user/basicInfo ({e}); an older daemon"),
                    }
                    let s = act.oicq_source();
                    if std::mem::replace(&mut s.online, true) {
                        return;
                    }
                    let relogin = std::mem::replace(&mut s.ever_online, true);
                    info!("bot {qq}: online through oicq_webd");
                    act.fan_out(vec![if relogin { Event::BotRelogin } else { Event::BotOnline }]);
                }));
            }
            OicqNotice::Down { why } => {
                if std::mem::replace(&mut self.oicq_source().online, false) {
                    warn!("bot {qq}: offline, {why}");
                    self.fan_out(vec![Event::BotOffline(BotOfflineReason::Dropped)]);
                }
            }
            OicqNotice::Packet(packet) => self.on_packet_in_order(packet, ctx),
        }
    }
}
