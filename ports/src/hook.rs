//! Deliveries from other systems (forges, CI) through the webhook endpoint: verified and
//! rendered by the adapter, posted by the bot.

use crate::ids::RoomId;

/// What a webhook delivery says, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    /// The hook's name in config (`webhooks.hooks.<name>`).
    pub hook: String,
    pub rooms: Vec<RoomId>,
    /// Plain text, rendered from the delivery by the hook's template.
    pub text: String,
}
