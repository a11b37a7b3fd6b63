//! `grant @user <role> [scope]`: give someone a role, everywhere or in a scope, optionally in
//! one room, until a date, within a time window, or with a second person's approval. For
//! holders of `grant`; asks first; audited; kept in the store. `revoke` (its own file) takes
//! one back through the same `perform`.

use chatrixcd_ports::{RoomId, UserId};
use chrono::{DateTime, Utc};

use crate::commands::{Command, CommandError, needs_nothing};
use crate::confirm::Approver;
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind, suggest};
use crate::grants;
use crate::instances::Instances;
use crate::permissions::{Grant, Origin, Permission, Policy, Scope, parse_until};
use crate::plans::{GrantChange, PendingAction};
use crate::render::Reply;
use crate::windows::Window;

const fn value(name: &'static str, help: &'static str) -> FlagSpec {
    FlagSpec { name, aliases: &[], value: Some(ValueKind::Word), repeatable: false, help }
}
const fn switch(name: &'static str, aliases: &'static [&'static str], help: &'static str) -> FlagSpec {
    FlagSpec { name, aliases, value: None, repeatable: false, help }
}

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "grant",
    aliases: &[],
    summary: "Give a user a role, everywhere or in a scope (asks first)",
    args: &[
        ArgSpec { name: "user", kind: ValueKind::Word, required: true, help: "the Matrix user id, e.g. @dana:example.org" },
        ArgSpec { name: "role", kind: ValueKind::Word, required: true, help: "a role: `roles` lists them" },
        ArgSpec {
            name: "scope",
            kind: ValueKind::Word,
            required: false,
            help: "instance[:project[:template]], names or globs, e.g. staging or prod:ops:deploy-*",
        },
    ],
    flags: &[
        value("room", "only in this room: `here` or a room id"),
        value("until", "not after this date (YYYY-MM-DD, the whole day, UTC) or time (RFC 3339)"),
        value("window", "only within this time window, quoted: --window=\"Mon-Fri 08:00-18:00 Europe/Berlin\""),
        switch("second-person", &["two-person"], "what the grant allows needs a second person's approval"),
        switch("yes", &["y"], "do not ask for confirmation"),
    ],
    subcommands: &[],
    examples: &[
        "grant @dana:example.org operator staging",
        "grant @dev:example.org developer production:ops:deploy-* --until 2026-12-31",
        "grant @oncall:example.org operator --window=\"Sat,Sun\" --room here",
    ],
    hidden: false,
    permission: Some(Permission::Grant),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// A Matrix user id as typed in a command.
pub(crate) fn user_arg(p: &Parsed) -> Result<UserId, CommandError> {
    let text = p.arg("user").unwrap_or_default().trim();
    UserId::parse(text).map_err(|e| {
        CommandError::Usage(format!("`{text}` is not a Matrix user id ({e}); give the whole id, e.g. @dana:example.org."))
    })
}

/// A role's canonical name, or what roles there are.
pub(crate) fn role_arg(policy: &Policy, given: &str) -> Result<String, CommandError> {
    if let Some(role) = policy.role(given) {
        return Ok(role.name.clone());
    }
    let names: Vec<&str> = policy.roles().iter().map(|r| r.name.as_str()).collect();
    let hint = suggest(given, names.iter().copied()).map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default();
    Err(CommandError::Usage(format!("There is no role `{given}`.{hint} The roles are: {}.", names.join(", "))))
}

/// A scope, which must reach at least one configured instance.
pub(crate) fn scope_arg(instances: &Instances, given: Option<&str>) -> Result<Option<Scope>, CommandError> {
    let Some(given) = given else { return Ok(None) };
    let scope = Scope::parse(given).map_err(|e| CommandError::Usage(format!("The scope {e}.")))?;
    if !instances.iter().any(|i| scope.instance.matches(i.id.as_str())) {
        let names: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        let hint = suggest(&scope.instance.to_string(), names.iter().copied())
            .map(|s| format!(" Did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(CommandError::Usage(format!(
            "The scope `{scope}` matches no instance (there are: {}).{hint}",
            names.join(", ")
        )));
    }
    Ok(Some(scope))
}

/// `--until 2026-12-31` (through the end of that day, UTC) or an RFC 3339 time; never past.
fn until_arg(given: Option<&str>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, CommandError> {
    let Some(given) = given.map(str::trim) else { return Ok(None) };
    let until = parse_until(given).ok_or_else(|| {
        CommandError::Usage(format!("--until `{given}` is not a date (2026-12-31) or a time (2026-12-31T18:00:00Z)."))
    })?;
    if until <= now {
        return Err(CommandError::Usage(format!("--until {given} is already past.")));
    }
    Ok(Some(until))
}

fn room_arg(given: Option<&str>, here: &RoomId) -> Result<Option<RoomId>, CommandError> {
    match given.map(str::trim) {
        None => Ok(None),
        Some("here") => Ok(Some(here.clone())),
        Some(id) => RoomId::parse(id)
            .map(Some)
            .map_err(|e| CommandError::Usage(format!("--room `{id}`: {e} (give `here` or a room id, `!…`)."))),
    }
}

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let now = ctx.now();
    let user = user_arg(p)?;
    let role = role_arg(&ctx.policy(), p.arg("role").unwrap_or_default())?;
    let scope = scope_arg(ctx.instances(), p.arg("scope"))?;
    let window = p
        .flag("window")
        .map(Window::parse)
        .transpose()
        .map_err(|e| CommandError::Usage(format!("--window: {e}.")))?;
    let grant = Grant {
        room: room_arg(p.flag("room"), &req.room)?,
        until: until_arg(p.flag("until"), now)?,
        window,
        second_person: p.switch("second-person"),
        origin: Origin::Chat { by: req.sender.clone(), at: now },
        ..Grant::new(user, &role, scope)
    };
    check_new(&ctx.policy(), &grant)?;
    let change = GrantChange::Add(grant);
    if p.switch("yes") {
        return perform(ctx, req, change).await;
    }
    let question = Reply::notice().bold(&format!("🔑 {}?", capitalised(&PendingAction::Grant(Box::new(change.clone())).describe())));
    let timeout = ctx.settings().short_confirm_timeout;
    ctx.ask(req, PendingAction::Grant(Box::new(change)), Approver::Requester, timeout, question).await;
    Ok(())
}

pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Refuses a grant the user already holds, or one an unconditional grant of theirs already
/// covers entirely: two grants for one thing only make the later `revoke` surprising.
fn check_new(policy: &Policy, grant: &Grant) -> Result<(), CommandError> {
    let Some(new_role) = policy.role(&grant.role) else {
        return Err(CommandError::Usage(format!("There is no role `{}`.", grant.role)));
    };
    for held in policy.grants_of(&grant.user) {
        if held.same_place(grant) {
            return Err(CommandError::Refused(format!(
                "{} already holds {}; revoke it first to change it.",
                grant.user,
                held.describe()
            )));
        }
        let unconditional = held.room.is_none()
            && held.until.is_none()
            && held.window.is_none()
            && !held.second_person
            && held.scope.as_ref().is_none_or(Scope::is_everywhere);
        // A `developer` grant without a scope leaves the protected instances out, so it never
        // covers a grant whose scope reaches one of them.
        let reaches_protected = grant
            .scope
            .as_ref()
            .is_none_or(|s| policy.protected().iter().any(|p| s.instance.matches(p.as_str())));
        let wider = policy.role(&held.role).is_some_and(|r| {
            r.permissions.is_superset(&new_role.permissions) && !(r.protected_needs_scope && reaches_protected)
        });
        if unconditional && wider && !(held.role == grant.role && grant.scope.is_none() && grant.room.is_none()) {
            return Err(CommandError::Refused(format!(
                "{} already holds {}, which covers this grant.",
                grant.user,
                held.describe()
            )));
        }
    }
    Ok(())
}

/// Carries out a confirmed change: checked again (grants may have changed while the question
/// was open), saved, audited, announced.
pub(crate) async fn perform(ctx: Ctx<'_>, req: &Request, change: GrantChange) -> Result<(), CommandError> {
    let now = ctx.now();
    let outcome = grants::change(ctx.core(), |policy| match &change {
        GrantChange::Add(grant) => {
            check_new(policy, grant)?;
            policy.add(grant.clone());
            Ok(vec![grant.clone()])
        }
        GrantChange::Revoke { user, role, scope } => {
            let mut after = policy.clone();
            let gone = after.revoke(user, role, scope.as_ref());
            if gone.is_empty() {
                return Err(nothing_to_revoke(policy, user, role, scope.as_ref()));
            }
            if !after.has_admin(now) {
                return Err(CommandError::Refused(format!(
                    "Revoking {role} from {user} would leave nobody who may change grants; grant someone else `admin` first."
                )));
            }
            *policy = after;
            Ok(gone)
        }
    })
    .await??;
    let reply = match &change {
        GrantChange::Add(grant) => {
            ctx.audit(req, "grant.add", format!("{} {}", grant.user, grant.describe())).await;
            Reply::notice().push(&format!("🔑 {} now holds {}.", grant.user, grant.describe()))
        }
        GrantChange::Revoke { user, .. } => {
            let what: Vec<String> = outcome.iter().map(Grant::describe).collect();
            ctx.audit(req, "grant.revoke", format!("{user} {}", what.join("; "))).await;
            Reply::notice().push(&format!("🔑 {user} no longer holds {}.", what.join("; ")))
        }
    };
    ctx.reply(req, reply).await;
    Ok(())
}

/// Why there is nothing to revoke: config's grant (not changeable in chat), or what they hold.
pub(crate) fn nothing_to_revoke(policy: &Policy, user: &UserId, role: &str, scope: Option<&Scope>) -> CommandError {
    let held = policy.grants_of(user);
    if held.iter().any(|g| g.origin == Origin::Config && g.role.eq_ignore_ascii_case(role) && g.scope.as_ref() == scope) {
        return CommandError::Refused(format!(
            "{user}'s {role} grant comes from the configuration (bot.admin_users, bot.viewer_users or bot.grants); change it there."
        ));
    }
    if held.is_empty() {
        return CommandError::Refused(format!("{user} holds no grants."));
    }
    let list: Vec<String> = held.iter().map(Grant::describe).collect();
    CommandError::Refused(format!("{user} holds no such grant; they hold: {}.", list.join("; ")))
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{Page, Store as _, UserId};

    use crate::testing::{Harness, admin};

    fn dana() -> UserId {
        UserId::parse("@dana:test").unwrap()
    }

    #[tokio::test]
    async fn a_grant_asks_first_then_applies_persists_and_is_audited() {
        let h = Harness::two_instances().await;
        h.say(&dana(), "!cd projects staging").await;
        assert_eq!(h.chat.bodies().len(), 1, "a stranger is brushed off");
        h.say(&admin(), "!cd grant @dana:test operator staging").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("🔑 Grant @dana:test operator on staging?"), "{said}");
        h.say(&admin(), "yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("🔑 @dana:test now holds operator on staging."), "{said}");
        h.say(&dana(), "!cd projects staging").await;
        assert!(h.chat.bodies().join("\n").contains("[staging] Projects"), "{}", h.chat.bodies().join("\n"));
        h.say(&dana(), "!cd projects production").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("🔒 This needs the `read` permission on production."), "{said}");
        assert!(said.contains("@alice:test or @bob:test can grant it."), "{said}");
        let stored = h.store.setting("grants").await.unwrap().unwrap();
        assert!(stored.contains("\"user\":\"@dana:test\"") && stored.contains("\"scope\":\"staging\""), "{stored}");
        let audit = h.store.audit(Page { limit: 20, before: None }).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "grant.add" && a.detail == "@dana:test operator on staging"), "{audit:?}");
        assert!(audit.iter().any(|a| a.action == "denied" && a.actor == dana()), "{audit:?}");
    }

    #[tokio::test]
    async fn bad_grants_are_refused_with_the_reason() {
        let h = Harness::two_instances().await;
        let cases = [
            ("!cd grant dana operator", "`dana` is not a Matrix user id"),
            ("!cd grant @dana:test opertor", "There is no role `opertor`. Did you mean `operator`?"),
            ("!cd grant @dana:test operator stagng", "The scope `stagng` matches no instance (there are: "),
            ("!cd grant @dana:test operator a:b:c:d", "The scope `a:b:c:d` has more than three parts"),
            ("!cd grant @dana:test operator --until 2001-01-01", "--until 2001-01-01 is already past."),
            ("!cd grant @dana:test operator --until soon", "--until `soon` is not a date"),
            ("!cd grant @dana:test operator --window=\"Mnd 08:00-18:00\"", "--window: "),
            ("!cd grant @dana:test operator --room=#ops:test", "--room `#ops:test`"),
            ("!cd grant @bob:test operator", "@bob:test already holds admin everywhere, which covers this grant."),
        ];
        for (command, expected) in cases {
            h.say(&admin(), command).await;
            let said = h.chat.bodies().last().cloned().unwrap_or_default();
            assert!(said.contains(expected), "{command}: {said}");
        }
        assert_eq!(h.store.setting("grants").await.unwrap(), None, "nothing was saved");
    }

    #[tokio::test]
    async fn only_holders_of_grant_may_grant() {
        let h = Harness::single().await;
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd grant @victor:test admin").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("🔒 This needs the `grant` permission on the bot."), "{said}");
        assert_eq!(h.store.setting("grants").await.unwrap(), None);
    }
}
