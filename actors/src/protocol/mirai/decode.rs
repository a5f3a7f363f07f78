//! Decoding mirai event objects (spec §6.1, §7) posted to a simulated bot's inject endpoint.
//! Contacts need only their ids; missing names and ranks default and are then taken from the
//! simulated world, which knows them better than the poster.

use serde_json::Value;

use super::chain::{self, ChainDirection};
use super::contact::parse_permission;
use crate::model::{
    BotOfflineReason, Event, Friend, Group, GroupChange, InjectedOrigin, Member, NudgeSubject,
    OtherClient, Permission, RequestEvent, RequestKind, SimulatedInput,
};
use crate::protocol::lenient;

fn id_of(v: &Value, key: &str) -> Result<i64, String> {
    v.get(key).and_then(lenient::int_from_value).ok_or_else(|| format!("missing integer `{key}`"))
}

fn message_id_of(v: &Value) -> Result<i32, String> {
    v.get("messageId")
        .and_then(lenient::int32_from_value)
        .ok_or_else(|| "missing 32-bit integer `messageId`".to_owned())
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn flag(v: &Value, key: &str) -> Result<bool, String> {
    v.get(key).and_then(lenient::bool_from_value).ok_or_else(|| format!("missing boolean `{key}`"))
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).filter(|f| !f.is_null()).ok_or_else(|| format!("missing `{key}`"))
}

fn permission(v: &Value, key: &str) -> Permission {
    v.get(key).and_then(Value::as_str).and_then(parse_permission).unwrap_or(Permission::Member)
}

fn friend(v: &Value) -> Result<Friend, String> {
    Ok(Friend { id: id_of(v, "id")?, nickname: text(v, "nickname"), remark: text(v, "remark") })
}

fn group(v: &Value) -> Result<Group, String> {
    Ok(Group {
        id: id_of(v, "id")?,
        name: text(v, "name"),
        permission: permission(v, "permission"),
    })
}

fn member(v: &Value) -> Result<Member, String> {
    let int = |key: &str| v.get(key).and_then(lenient::int_from_value).unwrap_or(0);
    Ok(Member {
        id: id_of(v, "id")?,
        member_name: text(v, "memberName"),
        nickname: text(v, "memberName"),
        card: String::new(),
        special_title: text(v, "specialTitle"),
        permission: permission(v, "permission"),
        join_timestamp: int("joinTimestamp"),
        last_speak_timestamp: int("lastSpeakTimestamp"),
        mute_time_remaining: int("muteTimeRemaining"),
        group: group(field(v, "group")?).map_err(|e| format!("`group`: {e}"))?,
    })
}

fn member_at(v: &Value, key: &str) -> Result<Member, String> {
    member(field(v, key)?).map_err(|e| format!("`{key}`: {e}"))
}

fn opt_member(v: &Value, key: &str) -> Result<Option<Member>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(m) => member(m).map(Some).map_err(|e| format!("`{key}`: {e}")),
    }
}

fn group_at(v: &Value, key: &str) -> Result<Group, String> {
    group(field(v, key)?).map_err(|e| format!("`{key}`: {e}"))
}

fn friend_at(v: &Value, key: &str) -> Result<Friend, String> {
    friend(field(v, key)?).map_err(|e| format!("`{key}`: {e}"))
}

fn other_client(v: &Value) -> Result<OtherClient, String> {
    let c = field(v, "client")?;
    Ok(OtherClient { id: id_of(c, "id")?, platform: text(c, "platform") })
}

fn change(
    v: &Value,
    make: impl FnOnce(bool, bool) -> GroupChange,
) -> Result<SimulatedInput, String> {
    Ok(SimulatedInput::Event(Box::new(Event::GroupSettingChange {
        group: group_at(v, "group")?,
        change: make(flag(v, "origin")?, flag(v, "current")?),
        operator: opt_member(v, "operator")?,
    })))
}

fn message(v: &Value, origin: InjectedOrigin) -> Result<SimulatedInput, String> {
    let elements =
        v.get("messageChain").and_then(Value::as_array).ok_or("missing array `messageChain`")?;
    let decoded = chain::decode(elements, ChainDirection::Receive)?;
    Ok(SimulatedInput::Message { origin, message: decoded.segments, source: decoded.source })
}

fn request(v: &Value, kind: RequestKind) -> Result<SimulatedInput, String> {
    Ok(SimulatedInput::Event(Box::new(Event::Request(RequestEvent {
        // 0 lets the platform number the request.
        event_id: v.get("eventId").and_then(lenient::int_from_value).unwrap_or(0),
        from_id: id_of(v, "fromId")?,
        group_id: v.get("groupId").and_then(lenient::int_from_value).unwrap_or(0),
        nick: text(v, "nick"),
        message: text(v, "message"),
        kind,
    }))))
}

/// Decodes one mirai event object posted to a simulated bot.
pub fn decode_input(v: &Value) -> Result<SimulatedInput, String> {
    let kind = v.get("type").and_then(Value::as_str).ok_or("missing string `type`")?;
    let sender = || field(v, "sender");
    let event = |e: Event| Ok(SimulatedInput::Event(Box::new(e)));
    match kind {
        "FriendMessage" => message(v, InjectedOrigin::Friend(id_of(sender()?, "id")?)),
        "StrangerMessage" => {
            let s = sender()?;
            message(
                v,
                InjectedOrigin::Stranger { id: id_of(s, "id")?, nickname: text(s, "nickname") },
            )
        }
        "GroupMessage" | "TempMessage" => {
            let s = sender()?;
            let member = id_of(s, "id").map_err(|e| format!("`sender`: {e}"))?;
            let group =
                id_of(field(s, "group")?, "id").map_err(|e| format!("`sender.group`: {e}"))?;
            if kind == "GroupMessage" {
                message(v, InjectedOrigin::Group { group, member })
            } else {
                message(v, InjectedOrigin::Temp { group, member })
            }
        }
        "OtherClientMessage" => message(v, InjectedOrigin::OtherClient(id_of(sender()?, "id")?)),
        "FriendSyncMessage" | "StrangerSyncMessage" => {
            let subject = id_of(field(v, "subject")?, "id")?;
            let stranger = kind == "StrangerSyncMessage";
            message(
                v,
                InjectedOrigin::Sync {
                    target: crate::model::MessageTarget::Friend(subject),
                    stranger,
                },
            )
        }
        "GroupSyncMessage" => {
            let subject = id_of(field(v, "subject")?, "id")?;
            message(
                v,
                InjectedOrigin::Sync {
                    target: crate::model::MessageTarget::Group(subject),
                    stranger: false,
                },
            )
        }
        "TempSyncMessage" => {
            let subject = field(v, "subject")?;
            let target = crate::model::MessageTarget::Temp {
                group: id_of(field(subject, "group")?, "id")?,
                member: id_of(subject, "id")?,
            };
            message(v, InjectedOrigin::Sync { target, stranger: false })
        }
        "FriendRecallEvent" => Ok(SimulatedInput::FriendRecall {
            author_id: id_of(v, "authorId")?,
            message_id: message_id_of(v)?,
            operator: v
                .get("operator")
                .and_then(lenient::int_from_value)
                .map_or_else(|| id_of(v, "authorId"), Ok)?,
        }),
        "GroupRecallEvent" => Ok(SimulatedInput::GroupRecall {
            group: id_of(field(v, "group")?, "id")?,
            author_id: id_of(v, "authorId")?,
            message_id: message_id_of(v)?,
            operator: match v.get("operator") {
                None | Some(Value::Null) => None,
                Some(op) => Some(id_of(op, "id").map_err(|e| format!("`operator`: {e}"))?),
            },
        }),
        "BotOnlineEvent" => event(Event::BotOnline),
        "BotOfflineEventActive" => event(Event::BotOffline(BotOfflineReason::Active)),
        "BotOfflineEventForce" => event(Event::BotOffline(BotOfflineReason::Force {
            title: text(v, "title"),
            message: text(v, "message"),
        })),
        "BotOfflineEventDropped" => event(Event::BotOffline(BotOfflineReason::Dropped)),
        "BotReloginEvent" => event(Event::BotRelogin),
        "FriendInputStatusChangedEvent" => event(Event::FriendInputStatusChanged {
            friend: friend_at(v, "friend")?,
            inputting: flag(v, "inputting")?,
        }),
        "FriendNickChangedEvent" => event(Event::FriendNickChanged {
            friend: friend_at(v, "friend")?,
            from: text(v, "from"),
            to: text(v, "to"),
        }),
        "FriendAddEvent" => event(Event::FriendAdd {
            friend: friend_at(v, "friend")?,
            stranger: v.get("stranger").and_then(lenient::bool_from_value).unwrap_or(false),
        }),
        "FriendDeleteEvent" => event(Event::FriendDelete { friend: friend_at(v, "friend")? }),
        "BotGroupPermissionChangeEvent" => event(Event::BotGroupPermissionChange {
            group: group_at(v, "group")?,
            origin: permission(v, "origin"),
            current: permission(v, "current"),
        }),
        "BotMuteEvent" => event(Event::BotMute {
            duration_seconds: id_of(v, "durationSeconds")?,
            operator: member_at(v, "operator")?,
        }),
        "BotUnmuteEvent" => event(Event::BotUnmute { operator: member_at(v, "operator")? }),
        "BotJoinGroupEvent" => event(Event::BotJoinGroup {
            group: group_at(v, "group")?,
            invitor: opt_member(v, "invitor")?,
        }),
        "BotLeaveEventActive" => event(Event::BotLeaveActive { group: group_at(v, "group")? }),
        "BotLeaveEventKick" => event(Event::BotLeaveKick {
            group: group_at(v, "group")?,
            operator: opt_member(v, "operator")?,
        }),
        "BotLeaveEventDisband" => event(Event::BotLeaveDisband {
            group: group_at(v, "group")?,
            operator: opt_member(v, "operator")?,
        }),
        "NudgeEvent" => {
            let s = field(v, "subject")?;
            let subject = match s.get("kind").and_then(Value::as_str).unwrap_or("Group") {
                "Friend" => NudgeSubject::Friend(friend(s)?),
                "Stranger" => NudgeSubject::Stranger(friend(s)?),
                "OtherClient" => NudgeSubject::OtherClient(OtherClient {
                    id: id_of(s, "id")?,
                    platform: text(s, "platform"),
                }),
                _ => NudgeSubject::Group(group(s)?),
            };
            event(Event::Nudge {
                from_id: id_of(v, "fromId")?,
                target: id_of(v, "target")?,
                subject,
                action: text(v, "action"),
                suffix: text(v, "suffix"),
            })
        }
        "GroupNameChangeEvent" => event(Event::GroupSettingChange {
            group: group_at(v, "group")?,
            change: GroupChange::Name { origin: text(v, "origin"), current: text(v, "current") },
            operator: opt_member(v, "operator")?,
        }),
        "GroupMuteAllEvent" => {
            change(v, |origin, current| GroupChange::MuteAll { origin, current })
        }
        "GroupAllowAnonymousChatEvent" => {
            change(v, |origin, current| GroupChange::AllowAnonymousChat { origin, current })
        }
        "GroupAllowMemberInviteEvent" => {
            change(v, |origin, current| GroupChange::AllowMemberInvite { origin, current })
        }
        "GroupAllowConfessTalkEvent" => event(Event::GroupSettingChange {
            group: group_at(v, "group")?,
            change: GroupChange::AllowConfessTalk {
                origin: flag(v, "origin")?,
                current: flag(v, "current")?,
                is_by_bot: v.get("isByBot").and_then(lenient::bool_from_value).unwrap_or(false),
            },
            operator: None,
        }),
        "MemberJoinEvent" => event(Event::MemberJoin {
            member: member_at(v, "member")?,
            invitor: opt_member(v, "invitor")?,
        }),
        "MemberLeaveEventKick" => event(Event::MemberLeaveKick {
            member: member_at(v, "member")?,
            operator: opt_member(v, "operator")?,
        }),
        "MemberLeaveEventQuit" => event(Event::MemberLeaveQuit { member: member_at(v, "member")? }),
        "MemberCardChangeEvent" => event(Event::MemberCardChange {
            member: member_at(v, "member")?,
            origin: text(v, "origin"),
            current: text(v, "current"),
        }),
        "MemberSpecialTitleChangeEvent" => event(Event::MemberSpecialTitleChange {
            member: member_at(v, "member")?,
            origin: text(v, "origin"),
            current: text(v, "current"),
        }),
        "MemberPermissionChangeEvent" => event(Event::MemberPermissionChange {
            member: member_at(v, "member")?,
            origin: permission(v, "origin"),
            current: permission(v, "current"),
        }),
        "MemberMuteEvent" => event(Event::MemberMute {
            member: member_at(v, "member")?,
            duration_seconds: id_of(v, "durationSeconds")?,
            operator: opt_member(v, "operator")?,
        }),
        "MemberUnmuteEvent" => event(Event::MemberUnmute {
            member: member_at(v, "member")?,
            operator: opt_member(v, "operator")?,
        }),
        "MemberHonorChangeEvent" => event(Event::MemberHonorChange {
            member: member_at(v, "member")?,
            achieve: text(v, "action") != "lose",
            honor: text(v, "honor"),
        }),
        "NewFriendRequestEvent" => request(v, RequestKind::NewFriend),
        "MemberJoinRequestEvent" => request(
            v,
            RequestKind::MemberJoin {
                group_name: text(v, "groupName"),
                invitor_id: v.get("invitorId").and_then(lenient::int_from_value),
            },
        ),
        "BotInvitedJoinGroupRequestEvent" => {
            request(v, RequestKind::BotInvitedJoinGroup { group_name: text(v, "groupName") })
        }
        "OtherClientOnlineEvent" => event(Event::OtherClientOnline { client: other_client(v)? }),
        "OtherClientOfflineEvent" => event(Event::OtherClientOffline { client: other_client(v)? }),
        "CommandExecutedEvent" => event(Event::CommandExecuted {
            name: text(v, "name"),
            friend: match v.get("friend") {
                None | Some(Value::Null) => None,
                Some(f) => Some(friend(f)?),
            },
            member: opt_member(v, "member")?,
            args: chain::decode(
                v.get("args").and_then(Value::as_array).map_or(&[][..], Vec::as_slice),
                ChainDirection::Receive,
            )?
            .segments,
        }),
        other => Err(format!("event type {other:?} is not a mirai event")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Segment;
    use serde_json::json;

    #[test]
    fn injected_group_message_needs_only_ids() {
        let v = json!({"type":"GroupMessage","sender":{"id":"20001","group":{"id":30001}},
                       "messageChain":[{"type":"Plain","text":"hello"}]});
        assert_eq!(
            decode_input(&v).unwrap(),
            SimulatedInput::Message {
                origin: InjectedOrigin::Group { group: 30001, member: 20001 },
                message: vec![Segment::Text("hello".into())],
                source: None,
            }
        );
    }

    #[test]
    fn injected_garbage_is_an_error_that_says_what() {
        assert!(decode_input(&json!({"type":"GroupMessage"})).unwrap_err().contains("sender"));
        assert!(decode_input(&json!({"sender":{}})).unwrap_err().contains("type"));
        assert!(decode_input(&json!({"type":"Nope"})).unwrap_err().contains("Nope"));
        assert!(decode_input(&json!({"type":"MemberMuteEvent","durationSeconds":5}))
            .unwrap_err()
            .contains("member"));
        assert!(decode_input(
            &json!({"type":"GroupMuteAllEvent","group":{"id":1},"origin":"x","current":true})
        )
        .is_err());
    }
}
