//! The bot's behaviour settings, as the domain sees them (the app maps config files onto this).

use std::collections::BTreeMap;

use chatrixcd_ports::{ProjectId, RoomId, TemplateId, UserId};
use chrono::Duration;

/// How much agreement a risky action needs before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfirmPolicy {
    /// Runs at once.
    None,
    /// The requester confirms (👍 or "yes"); `--yes` skips the question.
    #[default]
    Confirm,
    /// A second admin, not the requester, approves; `--yes` cannot skip it.
    TwoPerson,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The command prefix, `!cd` by default.
    pub prefix: String,
    /// The bot's own user: its messages are never commands.
    pub bot_user: UserId,
    /// May run every command. Empty means nobody: the bot denies by default and says how to fix it.
    pub admins: Vec<UserId>,
    /// May run read-only commands (lists, status, logs).
    pub viewers: Vec<UserId>,
    /// Commands are answered only here; empty means every room the bot is in.
    pub allowed_rooms: Vec<RoomId>,
    /// Other bots: their messages are ignored to prevent loops.
    pub ignored_users: Vec<UserId>,
    /// Start replies with a friendly greeting from the personality.
    pub greetings: bool,
    /// How long a `run` confirmation waits for an answer.
    pub run_confirm_timeout: Duration,
    /// How long `stop` and `exit` confirmations wait.
    pub short_confirm_timeout: Duration,
    /// How often tracked tasks are polled while any is active and Semaphore's websocket is down
    /// (or was never up): polling is then the only way to see a task move.
    pub poll_interval: Duration,
    /// How often they are polled while the websocket is open: it reports every status change at
    /// once, and the poll is only the safety net for what a dropped connection missed.
    pub safety_poll_interval: Duration,
    /// Watched tasks that are not among their project's newest 1000 are fetched one by one, at
    /// most this many per poll (in rotation); the websocket still reports them at once.
    pub poll_individual_budget: usize,
    /// How often a live tail posts the new lines of its task.
    pub tail_interval: Duration,
    /// A status message is edited at most this often while a task moves (its end is shown at
    /// once): a chatty task must not trip the homeserver's rate limit.
    pub status_edit_gap: Duration,
    /// A running task's status message is refreshed (an edit, not a new message) this often, so
    /// "running for …" stays true.
    pub status_refresh: Duration,
    /// Commands older than this when they arrive (sent while the bot was down) are not run.
    pub max_command_age: Duration,
    pub default_policy: ConfirmPolicy,
    pub template_policies: BTreeMap<(ProjectId, TemplateId), ConfirmPolicy>,
    /// Largest message the bot posts, in bytes of body plus HTML; Matrix's event limit is 64 KiB.
    pub max_message_bytes: usize,
    /// Shown by `info`.
    pub version: String,
}

impl Settings {
    pub fn new(bot_user: UserId) -> Self {
        Self {
            prefix: "!cd".to_owned(),
            bot_user,
            admins: Vec::new(),
            viewers: Vec::new(),
            allowed_rooms: Vec::new(),
            ignored_users: Vec::new(),
            greetings: true,
            run_confirm_timeout: Duration::seconds(300),
            short_confirm_timeout: Duration::seconds(60),
            poll_interval: Duration::seconds(5),
            safety_poll_interval: Duration::seconds(15),
            poll_individual_budget: 10,
            status_edit_gap: Duration::seconds(2),
            tail_interval: Duration::seconds(5),
            status_refresh: Duration::minutes(5),
            max_command_age: Duration::minutes(10),
            default_policy: ConfirmPolicy::Confirm,
            template_policies: BTreeMap::new(),
            // In an encrypted room the event carries the message base64-encoded (a third more)
            // plus the envelope: 40 KiB of body and HTML stays under the 64 KiB event limit.
            max_message_bytes: 40 * 1024,
            version: String::new(),
        }
    }

    pub fn policy_for(&self, project: ProjectId, template: TemplateId) -> ConfirmPolicy {
        self.template_policies.get(&(project, template)).copied().unwrap_or(self.default_policy)
    }
}
