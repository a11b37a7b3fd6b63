//! The bot's behaviour settings, as the domain sees them (the app maps config files onto this).

use chatrixcd_ports::semaphore::{Project, Template};
use chatrixcd_ports::{InstanceId, RoomId, UserId};
use chrono::Duration;

use crate::permissions::{Grant, Policy, Role};

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

/// A confirmation policy for part of what the bot can run: an instance, a project (by id or
/// name) and a template (by id or name); what is left out matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub instance: Option<InstanceId>,
    pub project: Option<String>,
    pub template: Option<String>,
    pub policy: ConfirmPolicy,
}

impl PolicyRule {
    fn matches(&self, instance: InstanceId, project: &Project, template: &Template) -> bool {
        let names = |given: &Option<String>, id: String, name: &str| {
            given.as_ref().is_none_or(|g| g.trim_start_matches('#') == id || g.eq_ignore_ascii_case(name))
        };
        self.instance.is_none_or(|i| i == instance)
            && names(&self.project, project.id.to_string(), &project.name)
            && names(&self.template, template.id.to_string(), &template.name)
    }

    /// How narrow the rule is: a template beats a project, which beats an instance.
    fn specificity(&self) -> u8 {
        u8::from(self.template.is_some()) * 4 + u8::from(self.project.is_some()) * 2 + u8::from(self.instance.is_some())
    }
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
    /// Roles from config, beside the built-in ones.
    pub roles: Vec<Role>,
    /// Grants from config (the read-only baseline), beside the admins and viewers above.
    pub grants: Vec<Grant>,
    /// Instances a `developer` grant without a scope leaves out (`production_instances`).
    pub protected_instances: Vec<InstanceId>,
    /// Rooms following tasks the bot did not start, from config (`bot.notify`).
    pub follows: Vec<crate::notify::Follow>,
    /// The zone schedules are read in unless they name one (`bot.timezone`).
    pub schedule_zone: String,
    /// The most schedules one room may have.
    pub max_schedules_per_room: usize,
    /// `--missed all` runs at most this many missed slots.
    pub schedule_missed_at_most: u32,
    /// Test mode: schedules may have six fields, seconds first (the crash test's slot a second).
    pub schedule_seconds: bool,
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
    /// Policies for instances, projects or templates; the narrowest matching rule wins, and of
    /// equally narrow ones the last.
    pub policies: Vec<PolicyRule>,
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
            roles: Vec::new(),
            grants: Vec::new(),
            protected_instances: Vec::new(),
            follows: Vec::new(),
            schedule_zone: "UTC".to_owned(),
            max_schedules_per_room: 20,
            schedule_missed_at_most: 3,
            schedule_seconds: false,
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
            policies: Vec::new(),
            // In an encrypted room the event carries the message base64-encoded (a third more)
            // plus the envelope: 40 KiB of body and HTML stays under the 64 KiB event limit.
            max_message_bytes: 40 * 1024,
            version: String::new(),
        }
    }

    /// The permission policy config gives: the built-in roles and config's own, `admin_users`
    /// as admins and `viewer_users` as viewers everywhere, then config's grants.
    pub fn policy(&self) -> Policy {
        let mut roles = Role::built_in();
        roles.extend(self.roles.iter().cloned());
        let admins = self.admins.iter().map(|u| Grant::new(u.clone(), "admin", None));
        let viewers = self.viewers.iter().map(|u| Grant::new(u.clone(), "viewer", None));
        let grants = admins.chain(viewers).chain(self.grants.iter().cloned()).collect();
        Policy::new(roles, grants, self.protected_instances.clone())
    }

    pub fn policy_for(&self, instance: InstanceId, project: &Project, template: &Template) -> ConfirmPolicy {
        let mut best: Option<&PolicyRule> = None;
        for rule in self.policies.iter().filter(|r| r.matches(instance, project, template)) {
            if best.is_none_or(|b| rule.specificity() >= b.specificity()) {
                best = Some(rule);
            }
        }
        best.map_or(self.default_policy, |r| r.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatrixcd_ports::{ProjectId, TemplateId};

    fn rule(
        instance: Option<&str>,
        project: Option<&str>,
        template: Option<&str>,
        policy: ConfirmPolicy,
    ) -> PolicyRule {
        PolicyRule {
            instance: instance.map(|i| InstanceId::parse(i).unwrap()),
            project: project.map(str::to_owned),
            template: template.map(str::to_owned),
            policy,
        }
    }

    #[test]
    fn the_narrowest_matching_policy_wins() {
        let mut s = Settings::new(UserId::parse("@bot:x").unwrap());
        let prod = InstanceId::parse("production").unwrap();
        let staging = InstanceId::parse("staging").unwrap();
        let ops = Project { id: ProjectId::new(1), name: "ops".into() };
        let deploy = Template { id: TemplateId::new(5), name: "deploy-web".into(), ..Template::default() };
        let lint = Template { id: TemplateId::new(6), name: "lint".into(), ..Template::default() };
        assert_eq!(s.policy_for(prod, &ops, &deploy), ConfirmPolicy::Confirm, "the default");
        s.policies = vec![
            rule(Some("production"), None, None, ConfirmPolicy::TwoPerson),
            rule(None, Some("OPS"), Some("lint"), ConfirmPolicy::None),
            rule(Some("staging"), Some("1"), None, ConfirmPolicy::None),
            rule(Some("production"), Some("ops"), Some("#5"), ConfirmPolicy::TwoPerson),
        ];
        assert_eq!(s.policy_for(prod, &ops, &deploy), ConfirmPolicy::TwoPerson);
        assert_eq!(s.policy_for(prod, &ops, &lint), ConfirmPolicy::None, "a template rule beats an instance rule");
        assert_eq!(s.policy_for(staging, &ops, &deploy), ConfirmPolicy::None);
        assert_eq!(s.policy_for(InstanceId::default(), &ops, &deploy), ConfirmPolicy::Confirm);
    }
}
