//! Deliveries from other systems (forges, CI) through the webhook endpoint: verified and
//! rendered by the adapter, posted by the bot.

use crate::ids::{RoomId, UserId};

/// What a webhook delivery says, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    /// The hook's name in config (`webhooks.hooks.<name>`).
    pub hook: String,
    pub rooms: Vec<RoomId>,
    /// Plain text, rendered from the delivery by the hook's template.
    pub text: String,
    /// A run the delivery asks for (the hook's `run`, its condition met).
    pub run: Option<HookRun>,
}

/// A template run a hook asks for, as its service principal. The values come from the
/// delivery's body and stay values: they are never read as words of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// Who the hook acts as: its grants decide what it may run.
    pub principal: UserId,
    /// The template, as `run` takes it: `instance:project:template` (names or ids).
    pub target: String,
    /// Survey variables, `name -> value`.
    pub vars: Vec<(String, String)>,
}
