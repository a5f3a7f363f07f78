//! Group and account administration on the simulated platform: mutes, kicks, settings,
//! titles, admins, announcements, essence, friends, requests, nudges and history — each with
//! QQ's permission rules and the events QQ would emit. `operator: None` in an event means the
//! bot itself acted.

use std::sync::Arc;

use super::cache::MessageCache;
use super::world::{unix_now, GroupState, HistoryKey, MemberState, SimWorld};
use crate::model::{
    Announcement, BotError, CommandOutput, Essence, Event, Friend, GroupChange, GroupConfigUpdate,
    HistoryTarget, MemberActive, MessageKind, NudgeKind, NudgeSubject, Permission, RequestAnswer,
    RequestKind, RequestType, UserId,
};

/// QQ's longest mute: 30 days.
const MAX_MUTE_SECS: i64 = 30 * 24 * 3600;

fn denied(why: impl Into<String>) -> BotError {
    BotError::PermissionDenied(why.into())
}

/// The bot must be at least `rank` in the group.
fn require_rank(g: &GroupState, rank: Permission) -> Result<(), BotError> {
    if g.bot_permission >= rank {
        Ok(())
    } else {
        Err(denied(format!(
            "the bot is {:?} in group {}, {rank:?} is needed",
            g.bot_permission, g.id
        )))
    }
}

/// The bot must outrank the member it acts on.
fn require_outrank(g: &GroupState, member: &MemberState) -> Result<(), BotError> {
    if g.bot_permission > member.permission {
        Ok(())
    } else {
        Err(denied(format!(
            "the bot ({:?}) does not outrank member {} ({:?}) in group {}",
            g.bot_permission, member.id, member.permission, g.id
        )))
    }
}

fn member_of(g: &GroupState, id: UserId) -> Result<&MemberState, BotError> {
    g.members
        .get(&id)
        .ok_or_else(|| BotError::NoSuchElement(format!("member {id} of group {}", g.id)))
}

fn member_of_mut(g: &mut GroupState, id: UserId) -> Result<&mut MemberState, BotError> {
    let group = g.id;
    g.members
        .get_mut(&id)
        .ok_or_else(|| BotError::NoSuchElement(format!("member {id} of group {group}")))
}

impl SimWorld {
    /// Mutes a member for `seconds` (1 s to 30 days).
    pub(super) fn mute(
        &mut self,
        group: UserId,
        member: UserId,
        seconds: i64,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        if !(1..=MAX_MUTE_SECS).contains(&seconds) {
            return Err(BotError::InvalidParameter(format!(
                "mute time {seconds} s is not within 1 s to 30 days"
            )));
        }
        let g = self.group_state_mut(group)?;
        require_outrank(g, member_of(g, member)?)?;
        let now = unix_now();
        member_of_mut(g, member)?.mute_until = now + seconds;
        let snapshot = g.member(member_of(g, member)?, now);
        events.push(Event::MemberMute {
            member: snapshot,
            duration_seconds: seconds,
            operator: None,
        });
        Ok(CommandOutput::Done)
    }

    /// Lifts a member's mute.
    pub(super) fn unmute(
        &mut self,
        group: UserId,
        member: UserId,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state_mut(group)?;
        require_outrank(g, member_of(g, member)?)?;
        member_of_mut(g, member)?.mute_until = 0;
        let snapshot = g.member(member_of(g, member)?, unix_now());
        events.push(Event::MemberUnmute { member: snapshot, operator: None });
        Ok(CommandOutput::Done)
    }

    /// Removes a member; with `block` their later join requests are refused.
    pub(super) fn kick(
        &mut self,
        group: UserId,
        member: UserId,
        block: bool,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state_mut(group)?;
        require_outrank(g, member_of(g, member)?)?;
        let snapshot = g.member(member_of(g, member)?, unix_now());
        g.members.remove(&member);
        if block {
            self.blacklist.insert(member);
        }
        events.push(Event::MemberLeaveKick { member: snapshot, operator: None });
        Ok(CommandOutput::Done)
    }

    /// Leaves a group; the owner cannot.
    pub(super) fn quit(
        &mut self,
        group: UserId,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state(group)?;
        if g.bot_permission == Permission::Owner {
            return Err(denied(format!("the bot owns group {group}; an owner cannot quit")));
        }
        let info = g.group();
        self.groups.remove(&group);
        events.push(Event::BotLeaveActive { group: info });
        Ok(CommandOutput::Done)
    }

    /// Changes group settings, emitting one event per setting that changed.
    pub(super) fn update_group_config(
        &mut self,
        group: UserId,
        update: GroupConfigUpdate,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state_mut(group)?;
        require_rank(g, Permission::Administrator)?;
        if update.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(BotError::InvalidParameter("a group name cannot be empty".to_owned()));
        }
        let mut changes = Vec::new();
        if let Some(name) = update.name.filter(|n| *n != g.name) {
            changes.push(GroupChange::Name {
                origin: std::mem::replace(&mut g.name, name.clone()),
                current: name.clone(),
            });
            g.config.name = name;
        }
        let c = &mut g.config;
        let flip = |field: &mut bool, new: Option<bool>| {
            new.filter(|v| v != field).map(|v| (std::mem::replace(field, v), v))
        };
        if let Some((origin, current)) =
            flip(&mut c.allow_member_invite, update.allow_member_invite)
        {
            changes.push(GroupChange::AllowMemberInvite { origin, current });
        }
        if let Some((origin, current)) = flip(&mut c.mute_all, update.mute_all) {
            changes.push(GroupChange::MuteAll { origin, current });
        }
        if let Some((origin, current)) = flip(&mut c.anonymous_chat, update.anonymous_chat) {
            changes.push(GroupChange::AllowAnonymousChat { origin, current });
        }
        if let Some((origin, current)) = flip(&mut c.confess_talk, update.confess_talk) {
            changes.push(GroupChange::AllowConfessTalk { origin, current, is_by_bot: true });
        }
        // Auto-approve has no event on QQ.
        flip(&mut c.auto_approve, update.auto_approve);
        let info = g.group();
        events.extend(changes.into_iter().map(|change| Event::GroupSettingChange {
            group: info.clone(),
            change,
            operator: None,
        }));
        Ok(CommandOutput::Done)
    }

    /// A member with their activity card.
    pub(super) fn member_info(
        &self,
        group: UserId,
        member: UserId,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state(group)?;
        let m = member_of(g, member)?;
        let active = MemberActive {
            rank: 1,
            point: 0,
            honors: g.honors.get(&member).cloned().unwrap_or_default(),
            temperature: 1,
        };
        Ok(CommandOutput::MemberInfo(g.member(m, unix_now()), active))
    }

    /// Changes a member's card (the bot must outrank them) or special title (owner only).
    pub(super) fn update_member_info(
        &mut self,
        group: UserId,
        member: UserId,
        card: Option<String>,
        title: Option<String>,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state_mut(group)?;
        let target = member_of(g, member)?;
        if card.is_some() {
            require_rank(g, Permission::Administrator)?;
            require_outrank(g, target)?;
        }
        if title.is_some() {
            require_rank(g, Permission::Owner)?;
        }
        let now = unix_now();
        if let Some(card) = card {
            let m = member_of_mut(g, member)?;
            if m.card != card {
                let origin = std::mem::replace(&mut m.card, card.clone());
                let snapshot = g.member(member_of(g, member)?, now);
                events.push(Event::MemberCardChange { member: snapshot, origin, current: card });
            }
        }
        if let Some(title) = title {
            let m = member_of_mut(g, member)?;
            if m.special_title != title {
                let origin = std::mem::replace(&mut m.special_title, title.clone());
                let snapshot = g.member(member_of(g, member)?, now);
                events.push(Event::MemberSpecialTitleChange {
                    member: snapshot,
                    origin,
                    current: title,
                });
            }
        }
        Ok(CommandOutput::Done)
    }

    /// Makes or unmakes an administrator (owner only).
    pub(super) fn set_admin(
        &mut self,
        group: UserId,
        member: UserId,
        assign: bool,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state_mut(group)?;
        require_rank(g, Permission::Owner)?;
        let m = member_of_mut(g, member)?;
        if m.permission == Permission::Owner {
            return Err(denied("the owner's rank cannot change"));
        }
        let current = if assign { Permission::Administrator } else { Permission::Member };
        if m.permission != current {
            let origin = std::mem::replace(&mut m.permission, current);
            let snapshot = g.member(member_of(g, member)?, unix_now());
            events.push(Event::MemberPermissionChange { member: snapshot, origin, current });
        }
        Ok(CommandOutput::Done)
    }

    /// Switches mute-all.
    pub(super) fn mute_all(
        &mut self,
        group: UserId,
        enable: bool,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        self.update_group_config(
            group,
            GroupConfigUpdate { mute_all: Some(enable), ..Default::default() },
            events,
        )
    }

    /// The group of a cached group message, checked against `group` when given.
    fn essence_group(
        group: Option<UserId>,
        message_id: i32,
        cache: &MessageCache,
    ) -> Result<(UserId, Arc<crate::model::MessageEvent>), BotError> {
        let (_, m) = cache
            .get(group, message_id)
            .ok_or_else(|| BotError::NoSuchElement(format!("message {message_id}")))?;
        let Some(g) =
            m.kind.group().filter(|g| group.is_none_or(|want| want == g.id)).map(|g| g.id)
        else {
            return Err(BotError::NoSuchElement(format!("group message {message_id}")));
        };
        Ok((g, Arc::clone(m)))
    }

    /// Marks a cached group message as essence.
    pub(super) fn set_essence(
        &mut self,
        group: Option<UserId>,
        message_id: i32,
        cache: &MessageCache,
    ) -> Result<CommandOutput, BotError> {
        let (group, m) = Self::essence_group(group, message_id, cache)?;
        let bot = self.bot;
        let bot_name = self.nickname.clone();
        let sender_id = m.kind.sender_id(bot);
        let sender_nick = match &m.kind {
            crate::model::MessageKind::Group { sender } => sender.member_name.clone(),
            _ => bot_name.clone(),
        };
        let g = self.group_state_mut(group)?;
        require_rank(g, Permission::Administrator)?;
        if !g.essence.iter().any(|e| e.message_id == message_id) {
            g.essence.push(Essence {
                message_id,
                sender_id,
                sender_nick,
                sender_time: m.source.time,
                operator_id: bot,
                operator_nick: bot_name,
                operator_time: unix_now(),
            });
        }
        Ok(CommandOutput::Done)
    }

    /// Unmarks an essence message.
    pub(super) fn remove_essence(
        &mut self,
        group: Option<UserId>,
        message_id: i32,
        cache: &MessageCache,
    ) -> Result<CommandOutput, BotError> {
        let group = match group {
            Some(g) => g,
            None => Self::essence_group(None, message_id, cache)?.0,
        };
        let g = self.group_state_mut(group)?;
        require_rank(g, Permission::Administrator)?;
        let before = g.essence.len();
        g.essence.retain(|e| e.message_id != message_id);
        if g.essence.len() == before {
            return Err(BotError::NoSuchElement(format!("essence message {message_id}")));
        }
        Ok(CommandOutput::Done)
    }

    /// Who holds which honour in a group.
    pub(super) fn honors(&self, group: UserId) -> Result<CommandOutput, BotError> {
        let g = self.group_state(group)?;
        let now = unix_now();
        Ok(CommandOutput::Honors(
            g.honors
                .iter()
                .filter(|(_, h)| !h.is_empty())
                .filter_map(|(id, h)| g.members.get(id).map(|m| (g.member(m, now), h.clone())))
                .collect(),
        ))
    }

    /// A group's essence messages.
    pub(super) fn essences(&self, group: UserId) -> Result<CommandOutput, BotError> {
        Ok(CommandOutput::Essences(self.group_state(group)?.essence.clone()))
    }

    /// A group's announcements, newest first.
    pub(super) fn announcements(
        &self,
        group: UserId,
        offset: usize,
        size: usize,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state(group)?;
        Ok(CommandOutput::Announcements(
            g.announcements.iter().rev().skip(offset).take(size).cloned().collect(),
        ))
    }

    /// Publishes an announcement (administrators and the owner).
    pub(super) fn publish_announcement(
        &mut self,
        group: UserId,
        content: String,
    ) -> Result<CommandOutput, BotError> {
        let serial = self.next_serial();
        let bot = self.bot;
        let g = self.group_state_mut(group)?;
        require_rank(g, Permission::Administrator)?;
        if content.trim().is_empty() {
            return Err(BotError::InvalidParameter("an announcement needs content".to_owned()));
        }
        let a = Announcement {
            group: g.group(),
            content,
            sender_id: bot,
            fid: format!("{:016x}{serial:08x}", g.id),
            all_confirmed: false,
            confirmed_members_count: 0,
            publication_time: unix_now(),
        };
        g.announcements.push(a.clone());
        Ok(CommandOutput::Announcement(a))
    }

    /// Deletes an announcement (administrators and the owner).
    pub(super) fn delete_announcement(
        &mut self,
        group: UserId,
        fid: &str,
    ) -> Result<CommandOutput, BotError> {
        let g = self.group_state_mut(group)?;
        require_rank(g, Permission::Administrator)?;
        let before = g.announcements.len();
        g.announcements.retain(|a| a.fid != fid);
        if g.announcements.len() == before {
            return Err(BotError::NoSuchElement(format!("announcement {fid}")));
        }
        Ok(CommandOutput::Done)
    }

    /// Deletes a friend.
    pub(super) fn delete_friend(
        &mut self,
        friend: UserId,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let (f, _) = self
            .friends
            .remove(&friend)
            .ok_or_else(|| BotError::NoSuchElement(format!("friend {friend}")))?;
        events.push(Event::FriendDelete { friend: f });
        Ok(CommandOutput::Done)
    }

    /// Nudges someone in a private chat or a group.
    pub(super) fn nudge(
        &mut self,
        target: UserId,
        subject: UserId,
        kind: NudgeKind,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let subject = match kind {
            NudgeKind::Friend => NudgeSubject::Friend(self.friend(subject)?),
            NudgeKind::Stranger => NudgeSubject::Stranger(Friend {
                id: subject,
                nickname: String::new(),
                remark: String::new(),
            }),
            NudgeKind::Group => {
                let g = self.group_state(subject)?;
                if target != self.bot {
                    member_of(g, target)?;
                }
                NudgeSubject::Group(g.group())
            }
        };
        events.push(Event::Nudge {
            from_id: self.bot,
            target,
            subject,
            action: "戳了戳".to_owned(),
            suffix: String::new(),
        });
        Ok(CommandOutput::Done)
    }

    /// Chat history of a contact between two times.
    pub(super) fn roaming(
        &self,
        target: HistoryTarget,
        start: i64,
        end: i64,
    ) -> Result<CommandOutput, BotError> {
        let key = match target {
            HistoryTarget::FriendOrGroup(id) if self.friends.contains_key(&id) => {
                HistoryKey::Private(id)
            }
            HistoryTarget::Friend(id) => {
                self.friend(id)?;
                HistoryKey::Private(id)
            }
            HistoryTarget::Group(id) | HistoryTarget::FriendOrGroup(id) => {
                self.group_state(id)?;
                HistoryKey::Group(id)
            }
            HistoryTarget::Member { group, member } => {
                member_of(self.group_state(group)?, member)?;
                HistoryKey::Private(member)
            }
        };
        let messages = self
            .history
            .get(&key)
            .map(|h| {
                h.iter()
                    .filter(|m| (start..=end).contains(&m.source.time))
                    .map(Arc::clone)
                    .collect()
            })
            .unwrap_or_default();
        Ok(CommandOutput::Messages(messages))
    }

    /// Members of a group, all or the listed ones.
    pub(super) fn latest_members(
        &self,
        group: UserId,
        wanted: &[UserId],
    ) -> Result<CommandOutput, BotError> {
        let all = self.members(group)?;
        Ok(CommandOutput::Members(if wanted.is_empty() {
            all
        } else {
            all.into_iter().filter(|m| wanted.contains(&m.id)).collect()
        }))
    }

    /// Answers a pending request the way QQ would apply the answer.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn respond(
        &mut self,
        kind: RequestType,
        event_id: i64,
        from_id: Option<UserId>,
        group_id: Option<UserId>,
        answer: RequestAnswer,
        events: &mut Vec<Event>,
    ) -> Result<CommandOutput, BotError> {
        let request = self
            .pending_requests
            .get(&event_id)
            .filter(|r| {
                from_id.is_none_or(|f| r.from_id == f) && group_id.is_none_or(|g| r.group_id == g)
            })
            .filter(|r| {
                matches!(
                    (&r.kind, kind),
                    (RequestKind::NewFriend, RequestType::NewFriend)
                        | (RequestKind::MemberJoin { .. }, RequestType::MemberJoin)
                        | (
                            RequestKind::BotInvitedJoinGroup { .. },
                            RequestType::BotInvitedJoinGroup
                        )
                )
            })
            .cloned()
            .ok_or_else(|| BotError::NoSuchElement(format!("pending request {event_id}")))?;
        let (from_id, group_id) = (request.from_id, request.group_id);
        if let RequestKind::MemberJoin { .. } = request.kind {
            require_rank(self.group_state(group_id)?, Permission::Administrator)?;
        }
        self.pending_requests.remove(&event_id);
        match answer {
            RequestAnswer::Reject { blacklist: true }
            | RequestAnswer::Ignore { blacklist: true } => {
                self.blacklist.insert(from_id);
                return Ok(CommandOutput::Done);
            }
            RequestAnswer::Reject { .. } | RequestAnswer::Ignore { .. } => {
                return Ok(CommandOutput::Done)
            }
            RequestAnswer::Accept => {}
        }
        let now = unix_now();
        match request.kind {
            RequestKind::NewFriend => {
                let friend =
                    Friend { id: from_id, nickname: request.nick.clone(), remark: String::new() };
                let profile =
                    crate::model::Profile { nickname: request.nick, ..Default::default() };
                self.friends.insert(from_id, (friend.clone(), profile));
                events.push(Event::FriendAdd { friend, stranger: false });
            }
            RequestKind::MemberJoin { invitor_id, .. } => {
                let g = self.group_state_mut(group_id)?;
                g.members.insert(from_id, MemberState::joined(from_id, &request.nick, now));
                let member = g.member(member_of(g, from_id)?, now);
                let invitor = invitor_id.and_then(|i| g.members.get(&i)).map(|m| g.member(m, now));
                events.push(Event::MemberJoin { member, invitor });
            }
            RequestKind::BotInvitedJoinGroup { group_name } => {
                let mut g = GroupState::joined(group_id, &group_name, Permission::Member);
                if !request.nick.is_empty() {
                    g.members.insert(from_id, MemberState::joined(from_id, &request.nick, now));
                }
                let invitor = g.members.get(&from_id).map(|m| g.member(m, now));
                let info = g.group();
                self.groups.insert(group_id, g);
                events.push(Event::BotJoinGroup { group: info, invitor });
            }
        }
        Ok(CommandOutput::Done)
    }

    /// Where a stored message belongs in the history.
    pub(super) fn history_key(kind: &MessageKind, context: UserId) -> HistoryKey {
        match kind {
            MessageKind::Group { .. } | MessageKind::GroupSync { .. } => HistoryKey::Group(context),
            _ => HistoryKey::Private(context),
        }
    }
}
