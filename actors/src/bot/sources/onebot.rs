//! `source: onebot` — an account held by a OneBot v11 implementation. The link
//! ([`OneBotUpstream`]) dials it; this source keeps the account's contacts (friend and group
//! lists at every login, members on first need and from every event's `sender`), maps its
//! events into the model — with the implementation's own bytes kept for OneBot clients — and
//! turns commands into its actions. Messages go into the cache and the store like any bot's,
//! so ids keep resolving after the implementation forgot them (NapCat: 5,000 messages or a
//! restart). While the link is down mirai clients get `BotOfflineEventDropped` and, when it
//! is back, `BotReloginEvent`; commands fail at once with the reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use log::{debug, error, info, warn};
use serde_json::Value;

use super::Source;
use crate::bot::actor::{BotActor, Reply};
use crate::bot::world::unix_now;
use crate::connection::onebot_upstream::{
    CallUpstream, OneBotUpstream, UpstreamConfig, UpstreamNotice,
};
use crate::model::{
    BotError, BotOfflineReason, Command, CommandOutput, Event, Friend, Group, Member, MessageEvent,
    MessageKind, MessageSource, MessageTarget, Permission, Segment, SharedEvent, UserId,
};
use crate::protocol::lenient;
use crate::protocol::onebot::{decode, message, upstream};

/// History calls in flight at once during a backfill (an account may have hundreds of
/// friends and groups).
const BACKFILL_CONCURRENCY: usize = 8;

/// Recently sent message ids kept to recognise the implementation's echo of them.
const SENT_MEMORY: usize = 4096;

/// The account's state as the implementation told it.
pub(crate) struct OneBotSource {
    config: UpstreamConfig,
    link: Option<Addr<OneBotUpstream>>,
    /// Logged in on the current connection (actions may be sent).
    linked: bool,
    /// Linked and the contact lists loaded: what clients see as online.
    online: bool,
    ever_online: bool,
    nickname: String,
    app_name: String,
    friends: Option<BTreeMap<UserId, Friend>>,
    groups: Option<BTreeMap<UserId, Group>>,
    members: HashMap<UserId, BTreeMap<UserId, Member>>,
    /// Groups whose whole member list was loaded (events teach only some members).
    complete: HashSet<UserId>,
    /// Contact lists still loading after a login.
    loading: u8,
    /// When the link went down (Unix seconds), until what was missed is backfilled.
    down_since: Option<i64>,
    /// Live events held while the history since `down_since` is fetched, so that everything
    /// reaches clients in order.
    held: Option<Vec<(Value, bytes::Bytes)>>,
    /// Counts logins, so a backfill that outlived its connection is recognised.
    logins: u64,
    /// Whether a forward's nodes are being fetched (the events after it are held).
    fetching_forward: bool,
    /// Member lists being loaded, with who waits for each: a cold group asked for twice
    /// at once is loaded once.
    member_loads: HashMap<UserId, Vec<tokio::sync::oneshot::Sender<()>>>,
    /// Request flags by the event id botgate gave the request.
    requests: HashMap<i64, String>,
    next_request: i64,
    /// (contact, id) of messages this gateway sent, so their `message_sent` echo is not
    /// reported as if another client had sent them.
    sent: HashSet<(UserId, i32)>,
    sent_order: std::collections::VecDeque<(UserId, i32)>,
}

impl OneBotSource {
    /// The source of an account reached through `config`.
    pub(crate) fn new(config: UpstreamConfig) -> Self {
        OneBotSource {
            config,
            link: None,
            linked: false,
            online: false,
            ever_online: false,
            nickname: String::new(),
            app_name: String::new(),
            friends: None,
            groups: None,
            members: HashMap::new(),
            complete: HashSet::new(),
            loading: 0,
            down_since: None,
            held: None,
            logins: 0,
            fetching_forward: false,
            member_loads: HashMap::new(),
            requests: HashMap::new(),
            next_request: 1,
            sent: HashSet::new(),
            sent_order: std::collections::VecDeque::new(),
        }
    }

    /// Starts the link; it reports to `bot`.
    pub(crate) fn start_link(&mut self, bot: Recipient<UpstreamNotice>) {
        self.link = Some(OneBotUpstream::new(self.config.clone(), bot).start());
    }

    /// Stops the link: another node of the cluster holds the account now.
    pub(crate) fn stop_link(&mut self) {
        if let Some(link) = self.link.take() {
            link.do_send(crate::connection::ws_client::StopLink);
        }
        self.online = false;
    }

    /// Whether the link is up and logged in as the account.
    pub(crate) fn online(&self) -> bool {
        self.online
    }

    /// Whether live events wait for a backfill of what the last outage missed.
    pub(crate) fn catching_up(&self) -> bool {
        self.held.is_some()
    }

    /// The account's nickname, as the implementation reported it.
    pub(crate) fn nickname(&self) -> &str {
        &self.nickname
    }

    fn group(&self, id: UserId) -> Group {
        self.groups.as_ref().and_then(|g| g.get(&id).cloned()).unwrap_or(Group {
            id,
            name: String::new(),
            permission: Permission::Member,
        })
    }

    fn remember_sent(&mut self, key: (UserId, i32)) {
        if self.sent.insert(key) {
            self.sent_order.push_back(key);
        }
        while self.sent_order.len() > SENT_MEMORY {
            if let Some(old) = self.sent_order.pop_front() {
                self.sent.remove(&old);
            }
        }
    }

    /// Fills the names, ranks and quotes an event carries only as ids, from the event's own
    /// `sender` and the contacts known so far; learns members from it.
    fn enrich(&mut self, event: &mut Event, raw: &Value) {
        match event {
            Event::Message(m) => {
                let sender = raw.get("sender").unwrap_or(&Value::Null);
                let in_group = matches!(m.kind, MessageKind::Group { .. });
                match &mut m.kind {
                    MessageKind::Group { sender: member }
                    | MessageKind::Temp { sender: member } => {
                        let group = self.group(member.group.id);
                        let mut fresh = upstream::member_from(sender, &group);
                        fresh.id = member.id;
                        if let Some(known) =
                            self.members.get(&group.id).and_then(|ms| ms.get(&member.id))
                        {
                            fresh.join_timestamp = known.join_timestamp;
                        }
                        fresh.last_speak_timestamp = m.source.time;
                        if in_group {
                            self.members
                                .entry(group.id)
                                .or_default()
                                .insert(fresh.id, fresh.clone());
                        }
                        *member = fresh;
                    }
                    MessageKind::Friend { sender: f } | MessageKind::Stranger { sender: f } => {
                        let known = self.friends.as_ref().and_then(|fs| fs.get(&f.id));
                        f.remark = known.map(|k| k.remark.clone()).unwrap_or_default();
                        if f.nickname.is_empty() {
                            f.nickname = upstream::friend_from(sender).nickname;
                        }
                    }
                    MessageKind::GroupSync { subject } => *subject = self.group(subject.id),
                    _ => {}
                }
            }
            Event::GroupRecall { group, .. } => *group = self.group(group.id),
            Event::MemberJoin { member, .. }
            | Event::MemberLeaveQuit { member }
            | Event::MemberLeaveKick { member, .. }
            | Event::MemberMute { member, .. }
            | Event::MemberUnmute { member, .. }
            | Event::MemberPermissionChange { member, .. } => {
                let group = self.group(member.group.id);
                if let Some(known) = self.members.get(&group.id).and_then(|ms| ms.get(&member.id)) {
                    *member = known.clone();
                }
                member.group = group;
            }
            _ => {}
        }
        match event {
            Event::MemberLeaveQuit { member } | Event::MemberLeaveKick { member, .. } => {
                if let Some(ms) = self.members.get_mut(&member.group.id) {
                    ms.remove(&member.id);
                }
            }
            Event::MemberJoin { member, .. } => {
                self.members.entry(member.group.id).or_default().insert(member.id, member.clone());
            }
            _ => {}
        }
    }
}

/// The message an implementation reports the bot's own account sent: `message_sent`
/// (NapCat, LLOneBot) or a `message` from `self_id` (Lagrange).
fn own_message(qq: UserId, v: &Value) -> Option<Result<MessageEvent, String>> {
    let post_type = v.get("post_type").and_then(Value::as_str)?;
    let from_self = v.get("user_id").and_then(lenient::int_from_value) == Some(qq);
    if post_type != "message_sent" && !(post_type == "message" && from_self) {
        return None;
    }
    let int = |k: &str| v.get(k).and_then(lenient::int_from_value).unwrap_or(0);
    let kind = match v.get("message_type").and_then(Value::as_str) {
        Some("group") => MessageKind::GroupSync {
            subject: Group {
                id: int("group_id"),
                name: String::new(),
                permission: Permission::Member,
            },
        },
        _ => {
            let peer = if int("target_id") != 0 { int("target_id") } else { int("user_id") };
            MessageKind::FriendSync {
                subject: Friend { id: peer, nickname: String::new(), remark: String::new() },
            }
        }
    };
    let decoded = match message::decode(v.get("message").unwrap_or(&Value::Null), false) {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    let id = v.get("message_id").and_then(lenient::int32_from_value).unwrap_or(0);
    Some(Ok(MessageEvent {
        kind,
        source: MessageSource { id, time: int("time") },
        message: decoded.segments,
    }))
}

fn event_kind(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let detail = [s("message_type"), s("notice_type"), s("request_type"), s("sub_type")]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    format!("{}/{detail}", s("post_type"))
}

impl BotActor {
    fn ob(&mut self) -> &mut OneBotSource {
        match &mut self.source {
            Source::OneBot(s) => s,
            _ => unreachable!("only called for OneBot-sourced bots"),
        }
    }

    /// Runs a command against the implementation, or from what the source already knows.
    pub(crate) fn run_onebot(&mut self, command: Command, _: &mut Context<Self>) -> Reply {
        let qq = self.bot_id();
        let cache_answer = {
            let s = self.ob();
            match &command {
                Command::FriendList => s
                    .friends
                    .as_ref()
                    .map(|f| Ok(CommandOutput::Friends(f.values().cloned().collect()))),
                Command::GroupList => s
                    .groups
                    .as_ref()
                    .map(|g| Ok(CommandOutput::Groups(g.values().cloned().collect()))),
                Command::MemberList { group, with_bot } if s.complete.contains(group) => {
                    s.members.get(group).map(|ms| {
                        Ok(CommandOutput::Members(
                            ms.values().filter(|m| *with_bot || m.id != qq).cloned().collect(),
                        ))
                    })
                }
                Command::GroupInfo { group }
                    if s.groups.as_ref().is_some_and(|g| g.contains_key(group)) =>
                {
                    let members = s.members.get(group).map_or(0, |m| m.len());
                    Some(Ok(CommandOutput::GroupInfo(s.group(*group), members)))
                }
                Command::BotInfo if s.online => Some(Ok(CommandOutput::Friend(Friend {
                    id: qq,
                    nickname: s.nickname.clone(),
                    remark: String::new(),
                }))),
                _ => None,
            }
        };
        if let Some(answer) = cache_answer {
            return Reply::Now(answer);
        }
        if let Command::MessageFromId { context, message_id } = &command {
            // The cache, then the store, were asked first; the implementation forgets sooner.
            return self.cached_message(*context, *message_id);
        }
        let member_group = match &command {
            Command::MemberList { group, .. } | Command::LatestMemberList { group, .. } => {
                Some(*group)
            }
            _ => None,
        };
        let s = self.ob();
        if let Some(waiters) = member_group.and_then(|g| s.member_loads.get_mut(&g)) {
            // The list is being loaded: answer from it once it is there.
            let (tx, rx) = tokio::sync::oneshot::channel();
            waiters.push(tx);
            return Reply::Later(Box::pin(rx.into_actor(self).then(move |_, act, ctx| {
                match act.run_onebot(command, ctx) {
                    Reply::Now(result) => Box::pin(fut::ready(result)),
                    Reply::Later(later) => later,
                }
            })));
        }
        let (Some(link), true) = (s.link.clone(), s.linked) else {
            return Reply::Now(Err(BotError::Internal(format!(
                "bot {qq} is offline: its OneBot implementation is not connected (botgate is \
                 redialling it)"
            ))));
        };
        let action = match upstream::action_for(&command, |id| s.requests.get(&id).cloned()) {
            Ok(a) => a,
            Err(e) => return Reply::Now(Err(e)),
        };
        if let Some(group) = member_group {
            s.member_loads.insert(group, Vec::new());
        }
        let call = link.send(CallUpstream { action: action.action, params: action.params });
        Reply::Later(Box::pin(call.into_actor(self).map(move |reply, act, ctx| {
            let result = match reply {
                Ok(Ok(reply)) if upstream::succeeded(&reply) => {
                    act.onebot_done(command, &reply["data"], ctx)
                }
                Ok(Ok(reply)) => Err(upstream::error_from(&reply)),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(BotError::Internal(format!("OneBot link unavailable: {e}"))),
            };
            for waiter in
                member_group.and_then(|g| act.ob().member_loads.remove(&g)).unwrap_or_default()
            {
                let _ = waiter.send(());
            }
            result
        })))
    }

    /// What a successful action means for the caches, and the command's output.
    fn onebot_done(
        &mut self,
        command: Command,
        data: &Value,
        ctx: &mut Context<Self>,
    ) -> Result<CommandOutput, BotError> {
        let qq = self.bot_id();
        let output = upstream::output_from(&command, data)?;
        match (&command, &output) {
            (Command::FriendList, CommandOutput::Friends(list)) => {
                self.ob().friends = Some(list.iter().map(|f| (f.id, f.clone())).collect());
            }
            (Command::GroupList, CommandOutput::Groups(list)) => {
                let s = self.ob();
                let old = s.groups.take().unwrap_or_default();
                s.groups = Some(
                    list.iter()
                        .map(|g| {
                            // The bot's rank is learned from its member entry; keep it.
                            let permission = old.get(&g.id).map_or(g.permission, |o| o.permission);
                            (g.id, Group { permission, ..g.clone() })
                        })
                        .collect(),
                );
            }
            (Command::MemberList { group, .. } | Command::LatestMemberList { group, .. }, _) => {
                let s = self.ob();
                let mut g = s.group(*group);
                let entries = data.as_array().cloned().unwrap_or_default();
                if let Some(me) = entries
                    .iter()
                    .find(|e| e.get("user_id").and_then(lenient::int_from_value) == Some(qq))
                {
                    g.permission = upstream::permission_from(
                        me.get("role").and_then(Value::as_str).unwrap_or(""),
                    );
                    if let Some(groups) = s.groups.as_mut() {
                        groups.insert(g.id, g.clone());
                    }
                }
                let members: BTreeMap<UserId, Member> = entries
                    .iter()
                    .map(|e| upstream::member_from(e, &g))
                    .map(|m| (m.id, m))
                    .collect();
                let wanted = |m: &&Member| match &command {
                    Command::MemberList { with_bot, .. } => *with_bot || m.id != qq,
                    Command::LatestMemberList { members, .. } => {
                        m.id != qq && (members.is_empty() || members.contains(&m.id))
                    }
                    _ => false,
                };
                let list = members.values().filter(wanted).cloned().collect();
                s.members.insert(*group, members);
                s.complete.insert(*group);
                return Ok(CommandOutput::Members(list));
            }
            (
                Command::SendMessage { target, message, quote },
                CommandOutput::Sent { message_id },
            ) => {
                let s = self.ob();
                let (kind, context) = match *target {
                    MessageTarget::Group(id) => {
                        (MessageKind::GroupSync { subject: s.group(id) }, id)
                    }
                    MessageTarget::Friend(id) => {
                        let subject =
                            s.friends.as_ref().and_then(|f| f.get(&id).cloned()).unwrap_or(
                                Friend { id, nickname: String::new(), remark: String::new() },
                            );
                        (MessageKind::FriendSync { subject }, id)
                    }
                    MessageTarget::Temp { group, member } => {
                        let g = s.group(group);
                        let subject = s.members.get(&group).and_then(|ms| ms.get(&member).cloned());
                        let subject = subject.unwrap_or_else(|| {
                            upstream::member_from(&serde_json::json!({"user_id": member}), &g)
                        });
                        (MessageKind::TempSync { subject }, member)
                    }
                    MessageTarget::OtherClient(id) => {
                        return Err(BotError::Unsupported(format!("other client {id}")))
                    }
                };
                s.remember_sent((context, *message_id));
                let mut segments = message.clone();
                if let Some(q) = quote {
                    if let Some((_, origin)) = self.cache.get(Some(context), *q) {
                        segments.insert(
                            0,
                            Segment::Quote(crate::model::Quote {
                                id: *q,
                                sender_id: origin.kind.sender_id(qq),
                                target_id: context,
                                group_id: origin.kind.group().map_or(0, |g| g.id),
                                origin: origin.message.clone(),
                            }),
                        );
                    }
                }
                let sent = MessageEvent {
                    kind,
                    source: MessageSource { id: *message_id, time: unix_now() },
                    message: segments,
                };
                self.cache.insert(context, Arc::new(sent));
                self.record_changes(ctx);
            }
            (Command::Recall { context, message_id }, _) => {
                let found = self.cache.get(*context, *message_id).map(|(c, _)| c);
                if let Some(c) = found {
                    self.cache.remove(c, *message_id);
                    self.record_changes(ctx);
                }
            }
            _ => {}
        }
        Ok(output)
    }

    /// Loads the friend and group lists afresh, then reports the bot online: clients that
    /// hear of it find its contacts known.
    fn log_in(&mut self, ctx: &mut Context<Self>) {
        let s = self.ob();
        // Forget what the last connection taught: the account's world may have changed.
        s.friends = None;
        s.groups = None;
        s.members.clear();
        s.complete.clear();
        s.loading = 2;
        let login = s.logins;
        for command in [Command::FriendList, Command::GroupList] {
            let reply = self.run_onebot(command, ctx);
            let Reply::Later(load) = reply else {
                self.list_loaded(login, ctx);
                continue;
            };
            ctx.spawn(load.map(move |result, act, ctx| {
                if let Err(e) = result {
                    warn!("bot {}: contact list not loaded: {e}", act.bot_id());
                }
                act.list_loaded(login, ctx);
            }));
        }
    }

    fn list_loaded(&mut self, login: u64, ctx: &mut Context<Self>) {
        let qq = self.bot_id();
        let s = self.ob();
        if s.logins != login {
            // A list call of a connection that has since dropped.
            return;
        }
        s.loading = s.loading.saturating_sub(1);
        if s.loading > 0 || !s.linked || s.online {
            return;
        }
        s.online = true;
        let relogin = std::mem::replace(&mut s.ever_online, true);
        let through = if s.app_name.is_empty() { "OneBot".to_owned() } else { s.app_name.clone() };
        info!("bot {qq}: online through {through}");
        self.fan_out(vec![if relogin { Event::BotRelogin } else { Event::BotOnline }]);
        self.backfill(ctx);
    }

    /// Fetches each group's history since the link went down and delivers what was missed —
    /// deduplicated against the cache by message id — before the live events held meanwhile.
    /// Only messages can be recovered: OneBot has no history of notices or requests.
    fn backfill(&mut self, ctx: &mut Context<Self>) {
        let s = self.ob();
        let (Some(since), Some(link)) = (s.down_since, s.link.clone()) else {
            debug!("bot {}: nothing to backfill", self.bot_id());
            return self.release_held(ctx);
        };
        // Every group's history, and every friend's where the implementation has it (NapCat,
        // LLOneBot; others answer 404 and lose nothing else by being asked).
        let groups =
            s.groups.iter().flat_map(|g| g.keys()).map(|id| {
                ("get_group_msg_history", serde_json::json!({"group_id": id, "count": 100}))
            });
        let friends =
            s.friends.iter().flat_map(|f| f.keys()).map(|id| {
                ("get_friend_msg_history", serde_json::json!({"user_id": id, "count": 100}))
            });
        let calls: Vec<_> = groups.chain(friends).collect();
        let login = s.logins;
        use futures_util::StreamExt;
        let fetch = futures_util::stream::iter(calls)
            .map(move |(action, params)| {
                link.send(CallUpstream { action: action.to_owned(), params })
            })
            .buffered(BACKFILL_CONCURRENCY)
            .collect::<Vec<_>>();
        ctx.spawn(fetch.into_actor(self).map(move |replies, act, ctx| {
            if act.ob().logins != login || !act.ob().linked {
                // The link dropped meanwhile: the next login fetches this history again, and
                // the events held so far wait for it, so nothing overtakes what was missed.
                debug!("bot {}: backfill of login {login} outlived its connection", act.bot_id());
                return;
            }
            let mut missed: Vec<Value> = Vec::new();
            for reply in replies {
                match reply {
                    Ok(Ok(r)) if upstream::succeeded(&r) => {
                        let messages =
                            r["data"]["messages"].as_array().cloned().unwrap_or_default();
                        missed.extend(messages.into_iter().filter(|m| {
                            // A second of margin: the drop was noticed after it happened.
                            m.get("time").and_then(lenient::int_from_value).unwrap_or(0)
                                >= since - 1
                        }));
                    }
                    Ok(Ok(r)) => {
                        debug!("bot {}: no history: {}", act.bot_id(), upstream::error_from(&r))
                    }
                    Ok(Err(e)) => debug!("bot {}: no history: {e}", act.bot_id()),
                    Err(e) => debug!("bot {}: no history: {e}", act.bot_id()),
                }
            }
            // Oldest first across groups; a group's own list is already in order.
            missed.sort_by_key(|m| m.get("time").and_then(lenient::int_from_value).unwrap_or(0));
            let count = missed.len();
            let before = act.cache.len();
            for m in missed {
                let raw = bytes::Bytes::from(m.to_string());
                act.deliver(m, raw, ctx);
            }
            debug!(
                "bot {}: backfill looked at {count} messages since the link dropped, {} new",
                act.bot_id(),
                act.cache.len().saturating_sub(before)
            );
            act.ob().down_since = None;
            act.release_held(ctx);
        }));
    }

    fn release_held(&mut self, ctx: &mut Context<Self>) {
        if self.ob().fetching_forward {
            // The forward being fetched goes first; its completion releases the rest.
            return;
        }
        let held = self.ob().held.take().unwrap_or_default();
        if !held.is_empty() {
            debug!("bot {}: {} held events go out", self.bot_id(), held.len());
        }
        let mut rest = held.into_iter();
        while let Some((event, raw)) = rest.next() {
            self.deliver_or_fetch(event, raw, ctx);
            if let Some(again) = self.ob().held.as_mut() {
                // A forward is being fetched: what follows waits behind it.
                again.extend(rest);
                return;
            }
        }
    }

    fn on_upstream_event(&mut self, event: Value, raw: bytes::Bytes, ctx: &mut Context<Self>) {
        if let Some(held) = self.ob().held.as_mut() {
            held.push((event, raw));
            return;
        }
        self.deliver_or_fetch(event, raw, ctx);
    }

    /// Delivers an event, first fetching with `get_forward_msg` the nodes of a forward that
    /// came with its id only (go-cqhttp sends them so); later events wait meanwhile, so the
    /// order holds. OneBot clients get the event's own bytes either way.
    fn deliver_or_fetch(&mut self, event: Value, raw: bytes::Bytes, ctx: &mut Context<Self>) {
        let forward_id = event.get("message").and_then(Value::as_array).and_then(|segments| {
            segments.iter().find_map(|seg| {
                let data = seg.get("data")?;
                (seg.get("type")?.as_str()? == "forward" && data.get("content").is_none())
                    .then(|| data.get("id").cloned())
                    .flatten()
            })
        });
        let (Some(id), Some(link)) = (forward_id, self.ob().link.clone()) else {
            return self.deliver(event, raw, ctx);
        };
        self.ob().held.get_or_insert_with(Vec::new);
        self.ob().fetching_forward = true;
        let params = serde_json::json!({"id": id, "message_id": id});
        let call = link.send(CallUpstream { action: "get_forward_msg".into(), params });
        ctx.spawn(call.into_actor(self).map(move |reply, act, ctx| {
            let mut event = event;
            match reply {
                Ok(Ok(r)) if upstream::succeeded(&r) => {
                    let nodes = r["data"]["messages"].clone();
                    if let Some(segments) = event.get_mut("message").and_then(Value::as_array_mut) {
                        for seg in segments.iter_mut() {
                            if seg["type"] == "forward" && seg["data"]["id"] == id {
                                seg["data"]["content"] = nodes.clone();
                            }
                        }
                    }
                }
                other => debug!("bot {}: forward {id} not fetched: {other:?}", act.bot_id()),
            }
            act.ob().fetching_forward = false;
            act.deliver(event, raw, ctx);
            if act.ob().down_since.is_none() {
                act.release_held(ctx);
            }
        }));
    }

    /// Maps one event of the implementation and hands it to the subscribers.
    fn deliver(&mut self, event: Value, raw: bytes::Bytes, ctx: &mut Context<Self>) {
        let qq = self.bot_id();
        let decoded = match own_message(qq, &event) {
            Some(own) => own.map(Event::Message),
            None => decode::decode_event(&event),
        };
        let mut model = match decoded {
            Ok(e) => e,
            Err(why) => {
                debug!(
                    "bot {qq}: {} has no model counterpart ({why}); OneBot clients get it raw",
                    event_kind(&event)
                );
                Event::Unmapped { kind: event_kind(&event) }
            }
        };
        self.ob().enrich(&mut model, &event);
        let mut echo_of_own_send = false;
        match &mut model {
            Event::Message(m) => {
                let Some(context) = m.kind.context_id() else {
                    return;
                };
                let key = (context, m.source.id);
                if self.cache.get(Some(context), m.source.id).is_some() {
                    // Already delivered (backfilled, then seen live): never twice.
                    return;
                }
                echo_of_own_send = m.kind.sender_id(qq) == qq && self.ob().sent.contains(&key);
                if let Some(Segment::Quote(q)) = m.message.first_mut() {
                    if let Some((_, origin)) = self.cache.get(Some(context), q.id) {
                        q.sender_id = origin.kind.sender_id(qq);
                        q.origin = origin.message.clone();
                    }
                }
                if !echo_of_own_send {
                    self.cache.insert(context, Arc::new(m.clone()));
                }
            }
            Event::Request(r) => {
                let s = self.ob();
                r.event_id = s.next_request;
                s.next_request += 1;
                let flag = event.get("flag").map(|f| match f {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                s.requests.insert(r.event_id, flag.unwrap_or_default());
            }
            _ => {}
        }
        if !echo_of_own_send {
            let time = event.get("time").and_then(lenient::int_from_value).unwrap_or_else(unix_now);
            self.fan_out_shared(SharedEvent::new(qq, time, model).with_onebot_raw(raw));
        }
        self.record_changes(ctx);
    }
}

/// The link of a bot held by a OneBot implementation, for a socket the implementation
/// dialled (`mode: reverse`); `None` for other bots.
#[derive(Message)]
#[rtype(result = "Option<Addr<OneBotUpstream>>")]
pub struct UpstreamLink;

impl Handler<UpstreamLink> for BotActor {
    type Result = Option<Addr<OneBotUpstream>>;

    fn handle(&mut self, _: UpstreamLink, _: &mut Self::Context) -> Self::Result {
        match &self.source {
            Source::OneBot(s) => s.link.clone(),
            _ => None,
        }
    }
}

/// An action botgate does not know, for a bot held by a OneBot implementation: sent to it
/// as it came; answers the implementation's whole reply. Other bots answer `Unsupported`.
#[derive(Message, Debug)]
#[rtype(result = "Result<Value, BotError>")]
pub struct ForwardAction {
    /// The action's name, as the client sent it.
    pub action: String,
    /// Its parameters, untouched.
    pub params: Value,
}

impl Handler<ForwardAction> for BotActor {
    type Result = ResponseFuture<Result<Value, BotError>>;

    fn handle(&mut self, msg: ForwardAction, _: &mut Self::Context) -> Self::Result {
        let qq = self.bot_id();
        let link = match &self.source {
            Source::OneBot(s) if s.linked => s.link.clone(),
            Source::OneBot(_) => {
                return Box::pin(std::future::ready(Err(BotError::Internal(format!(
                    "bot {qq} is offline: its OneBot implementation is not connected"
                )))))
            }
            _ => None,
        };
        let Some(link) = link else {
            let unknown = BotError::Unsupported(format!("unknown action {}", msg.action));
            return Box::pin(std::future::ready(Err(unknown)));
        };
        Box::pin(async move {
            link.send(CallUpstream { action: msg.action, params: msg.params })
                .await
                .map_err(|e| BotError::Internal(format!("OneBot link unavailable: {e}")))?
        })
    }
}

impl Handler<UpstreamNotice> for BotActor {
    type Result = ();

    fn handle(&mut self, notice: UpstreamNotice, ctx: &mut Self::Context) {
        let qq = self.bot_id();
        match notice {
            UpstreamNotice::Up { login, app_name } => {
                let user_id = login.get("user_id").and_then(lenient::int_from_value);
                if user_id != Some(qq) {
                    error!(
                        "bot {qq}: the OneBot implementation at {} is logged in as {}; fix the \
                         entry's qq under bots: (or point it at the right implementation)",
                        self.ob().config.url,
                        user_id.map_or_else(|| "nobody".to_owned(), |u| u.to_string())
                    );
                    return;
                }
                let s = self.ob();
                s.nickname = login.get("nickname").and_then(Value::as_str).unwrap_or("").to_owned();
                s.app_name = app_name;
                s.linked = true;
                s.logins += 1;
                self.log_in(ctx);
            }
            UpstreamNotice::Down { why } => {
                let s = self.ob();
                s.linked = false;
                // What the implementation sends from now on is lost until the link is back;
                // the history since then is fetched after the next login.
                s.down_since.get_or_insert_with(unix_now);
                // Events of the next connection wait until what was missed is backfilled: the
                // implementation sends them as soon as it accepts, before the login is done.
                s.held.get_or_insert_with(Vec::new);
                if std::mem::replace(&mut s.online, false) {
                    warn!("bot {qq}: offline, {why}");
                    self.fan_out(vec![Event::BotOffline(BotOfflineReason::Dropped)]);
                }
            }
            UpstreamNotice::Event { event, raw } => self.on_upstream_event(event, raw, ctx),
        }
    }
}
