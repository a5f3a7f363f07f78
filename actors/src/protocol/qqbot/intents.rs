//! Intents: the bits a session subscribes to (spec A.4), by the platform's names or as
//! numbers, and which intent each event belongs to.

/// The platform's intent names and bits.
pub const INTENTS: &[(&str, u64)] = &[
    ("GUILDS", 1 << 0),
    ("GUILD_MEMBERS", 1 << 1),
    ("GUILD_MESSAGES", 1 << 9),
    ("GUILD_MESSAGE_REACTIONS", 1 << 10),
    ("DIRECT_MESSAGE", 1 << 12),
    ("OPEN_FORUMS_EVENT", 1 << 18),
    ("AUDIO_OR_LIVE_CHANNEL_MEMBER", 1 << 19),
    ("GROUP_MEMBER_EVENT", 1 << 24),
    ("GROUP_AND_C2C_EVENT", 1 << 25),
    ("INTERACTION", 1 << 26),
    ("MESSAGE_AUDIT", 1 << 27),
    ("FORUMS_EVENT", 1 << 28),
    ("AUDIO_ACTION", 1 << 29),
    ("PUBLIC_GUILD_MESSAGES", 1 << 30),
];

/// One configured intent: a name (any case, `AT_MESSAGES` as the old name of
/// `PUBLIC_GUILD_MESSAGES`) or a number (a bit mask).
pub fn parse_one(item: &str) -> Result<u64, String> {
    let item = item.trim();
    if let Ok(n) = item.parse::<u64>() {
        return Ok(n);
    }
    let upper = item.to_ascii_uppercase();
    let name = if upper == "AT_MESSAGES" { "PUBLIC_GUILD_MESSAGES" } else { upper.as_str() };
    INTENTS.iter().find(|(n, _)| *n == name).map(|(_, bit)| *bit).ok_or_else(|| {
        let names: Vec<&str> = INTENTS.iter().map(|(n, _)| *n).collect();
        format!("unknown intent {item:?}; use one of {} or a number", names.join(", "))
    })
}

/// The intent an event name belongs to; `None` for events every session receives (READY,
/// RESUMED) and names the platform added later.
pub fn of_event(t: &str) -> Option<u64> {
    let name = match t {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" | "CHANNEL_CREATE" | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE" => "GUILDS",
        "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" | "GUILD_MEMBER_REMOVE" => "GUILD_MEMBERS",
        "MESSAGE_CREATE" | "MESSAGE_DELETE" => "GUILD_MESSAGES",
        "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE" => "GUILD_MESSAGE_REACTIONS",
        "DIRECT_MESSAGE_CREATE" | "DIRECT_MESSAGE_DELETE" => "DIRECT_MESSAGE",
        "GROUP_MEMBER_ADD" | "GROUP_MEMBER_REMOVE" => "GROUP_MEMBER_EVENT",
        "GROUP_AT_MESSAGE_CREATE"
        | "GROUP_MESSAGE_CREATE"
        | "C2C_MESSAGE_CREATE"
        | "FRIEND_ADD"
        | "FRIEND_DEL"
        | "C2C_MSG_REJECT"
        | "C2C_MSG_RECEIVE"
        | "GROUP_ADD_ROBOT"
        | "GROUP_DEL_ROBOT"
        | "GROUP_MSG_REJECT"
        | "GROUP_MSG_RECEIVE"
        | "SUBSCRIBE_MESSAGE_STATUS" => "GROUP_AND_C2C_EVENT",
        "INTERACTION_CREATE" => "INTERACTION",
        "MESSAGE_AUDIT_PASS" | "MESSAGE_AUDIT_REJECT" => "MESSAGE_AUDIT",
        t if t.starts_with("FORUM_") => "FORUMS_EVENT",
        t if t.starts_with("OPEN_FORUM_") => "OPEN_FORUMS_EVENT",
        "AUDIO_START" | "AUDIO_FINISH" | "AUDIO_ON_MIC" | "AUDIO_OFF_MIC" => "AUDIO_ACTION",
        "AT_MESSAGE_CREATE" | "PUBLIC_MESSAGE_DELETE" => "PUBLIC_GUILD_MESSAGES",
        _ => return None,
    };
    INTENTS.iter().find(|(n, _)| *n == name).map(|(_, bit)| *bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_one("GUILDS"), Ok(1));
        assert_eq!(parse_one("group_and_c2c_event"), Ok(1 << 25));
        assert_eq!(parse_one("AT_MESSAGES"), Ok(1 << 30));
        assert_eq!(parse_one("513"), Ok(513));
        assert!(parse_one("GUILD").expect_err("unknown").contains("PUBLIC_GUILD_MESSAGES"));
        assert_eq!(of_event("C2C_MESSAGE_CREATE"), Some(1 << 25));
        assert_eq!(of_event("AT_MESSAGE_CREATE"), Some(1 << 30));
        assert_eq!(of_event("FORUM_POST_CREATE"), Some(1 << 28));
        assert_eq!(of_event("READY"), None);
    }
}
