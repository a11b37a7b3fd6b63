//! The Matrix adapter: logs in (password, access token, or the saved session), keeps the session
//! and device across restarts, syncs, hands text messages and reactions to the bot as chat
//! events, and implements the chat port. End-to-end encryption is on, with matrix-sdk's
//! persistent sqlite crypto store: encrypted rooms work like plain ones.

mod chat;
mod connect;
mod encryption;
mod session;

pub use chat::MatrixChat;
pub use connect::{InvitePolicy, InviterCheck, MatrixConfig, MatrixError, connect, login_with_token, sso_login_urls};
pub use encryption::MatrixEncryption;
