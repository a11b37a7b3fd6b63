//! The encryption port: what the bot can do about end-to-end encryption when the chat network
//! has it (Matrix does, the console does not). Device verification is the part people drive from
//! chat: the bot never trusts a device on its own, an operator compares emojis and says so.

use async_trait::async_trait;

use crate::ids::{RoomId, UserId};

/// One emoji of a short authentication string, with the name clients show under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasEmoji {
    pub symbol: String,
    pub name: String,
}

/// Where a verification stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationStage {
    /// Asked, not yet accepted by the side that must answer (us, if `we_started` is false).
    Requested,
    /// Both sides agreed to verify; the emoji exchange is about to start.
    Ready,
    /// The emojis to compare with what the other device shows.
    CompareEmojis(Vec<SasEmoji>),
    /// We said they match and wait for the other side to say the same.
    Confirmed,
    /// Both sides confirmed: the other device is verified.
    Done,
    /// Ended without verifying; the reason as the protocol gave it.
    Cancelled(String),
}

impl VerificationStage {
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Done | Self::Cancelled(_))
    }
}

/// A verification in progress (or just finished), named by its flow id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The protocol's flow id (a transaction id or an event id); what commands refer to.
    pub id: String,
    pub user: UserId,
    /// The other device, once known (a request sent to all of a user's devices learns it when
    /// one of them answers).
    pub device: Option<String>,
    pub we_started: bool,
    /// The room of an in-room verification; to-device verifications have none.
    pub room: Option<RoomId>,
    pub stage: VerificationStage,
}

/// A device of some user, as the bot's crypto store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSummary {
    pub user: UserId,
    pub device_id: String,
    pub display_name: Option<String>,
    pub verified: bool,
}

/// The bot's own encryption set-up, for `verify status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionStatus {
    pub device_id: String,
    /// The device's Ed25519 key, which people compare when verifying by fingerprint.
    pub fingerprint: Option<String>,
    /// The account has cross-signing keys and this device holds the private parts.
    pub cross_signing: bool,
    /// The account's own identity signed this device.
    pub device_verified: bool,
    /// e.g. "enabled", "disabled", "unknown".
    pub key_backup: String,
    /// e.g. "enabled" (a recovery key exists), "disabled", "incomplete".
    pub recovery: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionError {
    #[error("no verification {0} is known (see `verify pending`)")]
    UnknownVerification(String),
    #[error("{user} has no device {device} that the bot knows of (see `verify list {user}`)")]
    UnknownDevice { user: String, device: String },
    #[error("verification {id} cannot {action} now: it is {stage}")]
    WrongStage { id: String, action: &'static str, stage: String },
    #[error("the encryption layer failed: {0}")]
    Failed(String),
}

/// Encryption operations of a chat connection. Progress of a verification reaches the bot as a
/// [`crate::ChatEvent::Verification`], so nothing here waits for the other side.
#[async_trait]
pub trait EncryptionPort: Send + Sync {
    async fn status(&self) -> Result<EncryptionStatus, EncryptionError>;
    /// The devices of `user` that the bot knows, verified or not.
    async fn devices(&self, user: &UserId) -> Result<Vec<DeviceSummary>, EncryptionError>;
    /// Asks a device of `user` to verify with the bot.
    async fn request(&self, user: &UserId, device: &str) -> Result<Verification, EncryptionError>;
    /// Verifications not finished yet, oldest first.
    async fn pending(&self) -> Vec<Verification>;
    /// Accepts a request someone else started.
    async fn accept(&self, id: &str) -> Result<Verification, EncryptionError>;
    /// Says the emojis match. Only then does the bot trust the other device.
    async fn confirm(&self, id: &str) -> Result<Verification, EncryptionError>;
    /// Says the emojis differ: the verification is cancelled as a mismatch.
    async fn mismatch(&self, id: &str) -> Result<Verification, EncryptionError>;
    async fn cancel(&self, id: &str) -> Result<Verification, EncryptionError>;
}
