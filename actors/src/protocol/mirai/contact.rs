//! Contacts in mirai's JSON shapes (spec §5.3): Friend, Group, Member, Profile, OtherClient.

use serde_json::{json, Value};

use crate::model::{Friend, Group, Member, OtherClient, Permission, Profile, Sex};

/// `OWNER` / `ADMINISTRATOR` / `MEMBER`.
pub fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::Owner => "OWNER",
        Permission::Administrator => "ADMINISTRATOR",
        Permission::Member => "MEMBER",
    }
}

/// Parses a mirai permission name (case-insensitive; `ADMIN` accepted).
pub fn parse_permission(name: &str) -> Option<Permission> {
    match name.to_ascii_uppercase().as_str() {
        "OWNER" => Some(Permission::Owner),
        "ADMINISTRATOR" | "ADMIN" => Some(Permission::Administrator),
        "MEMBER" => Some(Permission::Member),
        _ => None,
    }
}

/// `{"id","nickname","remark"}`.
pub fn friend(f: &Friend) -> Value {
    json!({ "id": f.id, "nickname": f.nickname, "remark": f.remark })
}

/// `{"id","name","permission"}` with the bot's permission.
pub fn group(g: &Group) -> Value {
    json!({ "id": g.id, "name": g.name, "permission": permission_name(g.permission) })
}

/// The Member object; `active` is always present and null, as mirai-api-http emits it.
pub fn member(m: &Member) -> Value {
    json!({
        "id": m.id,
        "memberName": m.member_name,
        "specialTitle": m.special_title,
        "permission": permission_name(m.permission),
        "joinTimestamp": m.join_timestamp,
        "lastSpeakTimestamp": m.last_speak_timestamp,
        "muteTimeRemaining": m.mute_time_remaining,
        "group": group(&m.group),
        "active": null,
    })
}

/// A Member or `null`.
pub fn opt_member(m: Option<&Member>) -> Value {
    m.map(member).unwrap_or(Value::Null)
}

/// `{"id","platform"}`.
pub fn other_client(c: &OtherClient) -> Value {
    json!({ "id": c.id, "platform": c.platform })
}

/// `{"nickname","email","age","level","sign","sex"}`.
pub fn profile(p: &Profile) -> Value {
    let sex = match p.sex {
        Sex::Unknown => "UNKNOWN",
        Sex::Male => "MALE",
        Sex::Female => "FEMALE",
    };
    json!({
        "nickname": p.nickname,
        "email": p.email,
        "age": p.age,
        "level": p.level,
        "sign": p.sign,
        "sex": sex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_member() -> Member {
        Member {
            id: 20001,
            member_name: "Alice".into(),
            nickname: "Alice".into(),
            card: String::new(),
            special_title: "龙王".into(),
            permission: Permission::Administrator,
            join_timestamp: 1_600_000_000,
            last_speak_timestamp: 1_700_000_000,
            mute_time_remaining: 0,
            group: Group { id: 30001, name: "Test Group".into(), permission: Permission::Owner },
        }
    }

    #[test]
    fn member_has_every_field_in_order_with_active_null() {
        let text = serde_json::to_string(&member(&sample_member())).unwrap();
        assert_eq!(
            text,
            r#"{"id":20001,"memberName":"Alice","specialTitle":"龙王","permission":"ADMINISTRATOR","joinTimestamp":1600000000,"lastSpeakTimestamp":1700000000,"muteTimeRemaining":0,"group":{"id":30001,"name":"Test Group","permission":"OWNER"},"active":null}"#
        );
    }

    #[test]
    fn profile_and_friend_shapes() {
        let p = Profile {
            nickname: "n".into(),
            email: "e@x".into(),
            age: 20,
            level: 3,
            sign: "s".into(),
            sex: Sex::Female,
        };
        assert_eq!(
            profile(&p),
            json!({"nickname":"n","email":"e@x","age":20,"level":3,"sign":"s","sex":"FEMALE"})
        );
        let f = Friend { id: 1, nickname: "a".into(), remark: "b".into() };
        assert_eq!(friend(&f), json!({"id":1,"nickname":"a","remark":"b"}));
    }

    #[test]
    fn permissions_parse_leniently() {
        assert_eq!(parse_permission("owner"), Some(Permission::Owner));
        assert_eq!(parse_permission("ADMINISTRATOR"), Some(Permission::Administrator));
        assert_eq!(parse_permission("nobody"), None);
    }
}
