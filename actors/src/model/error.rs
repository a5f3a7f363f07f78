//! The one error type commands fail with. Each protocol codec maps it to its own codes
//! (mirai state codes, OneBot retcodes).

use thiserror::Error;

/// Why a command failed, in protocol-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
pub enum BotError {
    /// The named bot account is not held by this gateway.
    #[error("no such bot")]
    NoSuchBot,
    /// A contact, member, cached message or other object does not exist; the text says which.
    #[error("{0} not found")]
    NoSuchElement(String),
    /// The bot lacks the rights for this operation; the text says why.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The bot is muted where it tried to speak.
    #[error("the bot is muted")]
    BotMuted,
    /// The message is longer than the platform accepts.
    #[error("message too large")]
    MessageTooLarge,
    /// A parameter is missing or has an impossible value; the text says which.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A local file named by the command does not exist; the text is its path.
    #[error("file not found: {0}")]
    FileNotFound(String),
    /// A local file was named that clients may not send (outside `server.media_root`, or no
    /// root set); the text says why, the same whether the file exists or not.
    #[error("local file refused: {0}")]
    LocalFileRefused(String),
    /// The operation is not supported by this bot's source; the text says which.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Anything else; the text says what went wrong.
    #[error("{0}")]
    Internal(String),
}
