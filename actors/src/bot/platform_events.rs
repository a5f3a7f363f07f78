//! Platform events injected into a simulated bot: the world changes as the event says (a
//! member joins, a card changes, the bot is muted…) so that later queries agree with what was
//! pushed, and the contacts in the event are re-taken from the world, which knows their names
//! and ranks better than the poster. A contact the world does not know is refused.

use super::world::{unix_now, GroupState, MemberState, SimWorld};
use crate::model::{
    BotError, Event, Friend, Group, GroupChange, Member, NudgeSubject, Permission, Profile, UserId,
};

fn unknown(what: String) -> BotError {
    BotError::InvalidParameter(format!("{what} is not in the simulated world"))
}

impl SimWorld {
    fn known_group(&self, id: UserId) -> Result<Group, BotError> {
        self.group(id).map_err(|_| unknown(format!("group {id}")))
    }

    fn known_member(&self, group: UserId, id: UserId) -> Result<Member, BotError> {
        self.member(group, id).map_err(|_| unknown(format!("member {id} of group {group}")))
    }

    fn known_friend(&self, id: UserId) -> Result<Friend, BotError> {
        self.friend(id).map_err(|_| unknown(format!("friend {id}")))
    }

    fn fresh(&self, m: &Member) -> Result<Member, BotError> {
        self.known_member(m.group.id, m.id)
    }

    fn fresh_opt(&self, m: Option<Member>) -> Result<Option<Member>, BotError> {
        m.map(|m| self.fresh(&m)).transpose()
    }

    fn member_state(&mut self, m: &Member) -> Result<&mut MemberState, BotError> {
        let group = self
            .group_state_mut(m.group.id)
            .map_err(|_| unknown(format!("group {}", m.group.id)))?;
        group
            .members
            .get_mut(&m.id)
            .ok_or_else(|| unknown(format!("member {} of group {}", m.id, m.group.id)))
    }

    fn group_mut(&mut self, g: &Group) -> Result<&mut GroupState, BotError> {
        self.group_state_mut(g.id).map_err(|_| unknown(format!("group {}", g.id)))
    }

    /// Applies an injected platform event to the world; answers the event to emit.
    pub(super) fn apply_platform_event(&mut self, event: Event) -> Result<Event, BotError> {
        let now = unix_now();
        Ok(match event {
            Event::FriendInputStatusChanged { friend, inputting } => {
                Event::FriendInputStatusChanged { friend: self.known_friend(friend.id)?, inputting }
            }
            Event::FriendNickChanged { friend, from, to } => {
                let entry = self
                    .friends
                    .get_mut(&friend.id)
                    .ok_or_else(|| unknown(format!("friend {}", friend.id)))?;
                entry.0.nickname = to.clone();
                entry.1.nickname = to.clone();
                Event::FriendNickChanged { friend: entry.0.clone(), from, to }
            }
            Event::FriendAdd { friend, stranger } => {
                let profile = Profile { nickname: friend.nickname.clone(), ..Profile::default() };
                let entry = self.friends.entry(friend.id).or_insert((friend, profile));
                Event::FriendAdd { friend: entry.0.clone(), stranger }
            }
            Event::FriendDelete { friend } => {
                let (friend, _) = self
                    .friends
                    .remove(&friend.id)
                    .ok_or_else(|| unknown(format!("friend {}", friend.id)))?;
                Event::FriendDelete { friend }
            }
            Event::BotGroupPermissionChange { group, origin, current } => {
                self.group_mut(&group)?.bot_permission = current;
                Event::BotGroupPermissionChange {
                    group: self.known_group(group.id)?,
                    origin,
                    current,
                }
            }
            Event::BotMute { duration_seconds, operator } => {
                let operator = self.fresh(&operator)?;
                self.group_mut(&operator.group)?.bot_mute_until = now + duration_seconds;
                Event::BotMute { duration_seconds, operator }
            }
            Event::BotUnmute { operator } => {
                let operator = self.fresh(&operator)?;
                self.group_mut(&operator.group)?.bot_mute_until = 0;
                Event::BotUnmute { operator }
            }
            Event::BotJoinGroup { group, invitor } => {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    self.groups.entry(group.id)
                {
                    let mut state = GroupState::joined(group.id, &group.name, Permission::Member);
                    if let Some(inv) = &invitor {
                        state
                            .members
                            .insert(inv.id, MemberState::joined(inv.id, &inv.member_name, now));
                    }
                    slot.insert(state);
                }
                let invitor = self.fresh_opt(invitor)?;
                Event::BotJoinGroup { group: self.known_group(group.id)?, invitor }
            }
            Event::BotLeaveActive { group } => {
                Event::BotLeaveActive { group: self.leave(group.id)? }
            }
            Event::BotLeaveKick { group, operator } => {
                let operator = self.fresh_opt(operator)?;
                Event::BotLeaveKick { group: self.leave(group.id)?, operator }
            }
            Event::BotLeaveDisband { group, operator } => {
                let operator = self.fresh_opt(operator)?;
                Event::BotLeaveDisband { group: self.leave(group.id)?, operator }
            }
            Event::Nudge { from_id, target, subject, action, suffix } => {
                let subject = match subject {
                    NudgeSubject::Group(g) => NudgeSubject::Group(self.known_group(g.id)?),
                    NudgeSubject::Friend(f) => NudgeSubject::Friend(self.known_friend(f.id)?),
                    other => other,
                };
                Event::Nudge { from_id, target, subject, action, suffix }
            }
            Event::GroupSettingChange { group, change, operator } => {
                // Every contact in the event is taken after the change, as QQ reports it.
                let g = self.group_mut(&group)?;
                match &change {
                    GroupChange::Name { current, .. } => {
                        g.name = current.clone();
                        g.config.name = current.clone();
                    }
                    GroupChange::MuteAll { current, .. } => g.config.mute_all = *current,
                    GroupChange::AllowAnonymousChat { current, .. } => {
                        g.config.anonymous_chat = *current
                    }
                    GroupChange::AllowConfessTalk { current, .. } => {
                        g.config.confess_talk = *current
                    }
                    GroupChange::AllowMemberInvite { current, .. } => {
                        g.config.allow_member_invite = *current
                    }
                }
                let group = g.group();
                let operator = self.fresh_opt(operator)?;
                Event::GroupSettingChange { group, change, operator }
            }
            Event::MemberJoin { member, invitor } => {
                let g = self.group_mut(&member.group)?;
                g.members
                    .entry(member.id)
                    .or_insert_with(|| MemberState::joined(member.id, &member.member_name, now));
                let invitor = self.fresh_opt(invitor)?;
                Event::MemberJoin { member: self.fresh(&member)?, invitor }
            }
            Event::MemberLeaveKick { member, operator } => {
                let operator = self.fresh_opt(operator)?;
                Event::MemberLeaveKick { member: self.remove_member(&member)?, operator }
            }
            Event::MemberLeaveQuit { member } => {
                Event::MemberLeaveQuit { member: self.remove_member(&member)? }
            }
            Event::MemberCardChange { member, origin, current } => {
                self.member_state(&member)?.card = current.clone();
                Event::MemberCardChange { member: self.fresh(&member)?, origin, current }
            }
            Event::MemberSpecialTitleChange { member, origin, current } => {
                self.member_state(&member)?.special_title = current.clone();
                Event::MemberSpecialTitleChange { member: self.fresh(&member)?, origin, current }
            }
            Event::MemberPermissionChange { member, origin, current } => {
                self.member_state(&member)?.permission = current;
                Event::MemberPermissionChange { member: self.fresh(&member)?, origin, current }
            }
            Event::MemberMute { member, duration_seconds, operator } => {
                self.member_state(&member)?.mute_until = now + duration_seconds;
                let operator = self.fresh_opt(operator)?;
                Event::MemberMute { member: self.fresh(&member)?, duration_seconds, operator }
            }
            Event::MemberUnmute { member, operator } => {
                self.member_state(&member)?.mute_until = 0;
                let operator = self.fresh_opt(operator)?;
                Event::MemberUnmute { member: self.fresh(&member)?, operator }
            }
            Event::MemberHonorChange { member, achieve, honor } => {
                let member = self.fresh(&member)?;
                let held = self.group_mut(&member.group)?.honors.entry(member.id).or_default();
                held.retain(|h| *h != honor);
                if achieve {
                    held.push(honor.clone());
                }
                Event::MemberHonorChange { member, achieve, honor }
            }
            Event::OtherClientOnline { client } => {
                if !self.other_clients.iter().any(|c| c.id == client.id) {
                    self.other_clients.push(client.clone());
                }
                Event::OtherClientOnline { client }
            }
            Event::OtherClientOffline { client } => {
                self.other_clients.retain(|c| c.id != client.id);
                Event::OtherClientOffline { client }
            }
            Event::CommandExecuted { name, friend, member, args } => {
                let friend = friend.map(|f| self.known_friend(f.id)).transpose()?;
                let member = self.fresh_opt(member)?;
                Event::CommandExecuted { name, friend, member, args }
            }
            other => other,
        })
    }

    fn leave(&mut self, group: UserId) -> Result<Group, BotError> {
        let state = self.groups.remove(&group).ok_or_else(|| unknown(format!("group {group}")))?;
        Ok(state.group())
    }

    fn remove_member(&mut self, member: &Member) -> Result<Member, BotError> {
        let snapshot = self.fresh(member)?;
        self.group_mut(&member.group)?.members.remove(&member.id);
        Ok(snapshot)
    }
}
