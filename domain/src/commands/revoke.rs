//! `revoke @user <role> [scope]`: take back a role given in chat (config's grants are changed in
//! config). Refused when it would leave nobody who may change grants. Asks first; audited.

use crate::commands::grant::{capitalised, perform, role_arg, user_arg};
use crate::commands::{Command, CommandError, needs_nothing};
use crate::confirm::Approver;
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::permissions::{Permission, Scope};
use crate::plans::{GrantChange, PendingAction};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "revoke",
    aliases: &[],
    summary: "Take back a role given in chat (asks first)",
    args: &[
        ArgSpec { name: "user", kind: ValueKind::Word, required: true, help: "the Matrix user id" },
        ArgSpec { name: "role", kind: ValueKind::Word, required: true, help: "the role to take back" },
        ArgSpec {
            name: "scope",
            kind: ValueKind::Word,
            required: false,
            help: "the scope it was given with (none: the grant everywhere)",
        },
    ],
    flags: &[FlagSpec { name: "yes", aliases: &["y"], value: None, repeatable: false, help: "do not ask for confirmation" }],
    subcommands: &[],
    examples: &["revoke @dana:example.org operator staging"],
    hidden: false,
    permission: Some(Permission::Grant),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let user = user_arg(p)?;
    let role = role_arg(&ctx.policy(), p.arg("role").unwrap_or_default())?;
    // Read as given (not checked against the instances): a grant whose instance is gone can
    // still be taken back.
    let scope = p
        .arg("scope")
        .map(Scope::parse)
        .transpose()
        .map_err(|e| CommandError::Usage(format!("The scope {e}.")))?;
    {
        let policy = ctx.policy();
        let held = policy.grants_of(&user).iter().any(|g| {
            g.origin != crate::permissions::Origin::Config && g.role == role && g.scope.as_ref() == scope.as_ref()
        });
        if !held {
            return Err(crate::commands::grant::nothing_to_revoke(&policy, &user, &role, scope.as_ref()));
        }
    }
    let change = GrantChange::Revoke { user, role, scope };
    if p.switch("yes") {
        return perform(ctx, req, change).await;
    }
    let action = PendingAction::Grant(Box::new(change));
    let question = Reply::notice().bold(&format!("🔑 {}?", capitalised(&action.describe())));
    let timeout = ctx.settings().short_confirm_timeout;
    ctx.ask(req, action, Approver::Requester, timeout, question).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{Page, Store as _, UserId};

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn a_chat_grant_is_revoked_a_config_one_is_not_and_the_last_admin_stays() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd grant @dana:test operator staging --yes").await;
        h.say(&admin(), "!cd revoke @dana:test operator").await;
        let said = h.chat.bodies().last().cloned().unwrap_or_default();
        assert!(said.contains("@dana:test holds no such grant; they hold: operator on staging."), "{said}");
        h.say(&admin(), "!cd revoke @dana:test operator staging").await;
        assert!(h.chat.bodies().join("\n").contains("🔑 Revoke operator on staging from @dana:test?"));
        h.say(&admin(), "yes").await;
        assert!(h.chat.bodies().join("\n").contains("🔑 @dana:test no longer holds operator on staging."));
        assert_eq!(h.store.setting("grants").await.unwrap().as_deref(), Some("[]"));
        h.say(&admin(), "!cd revoke @bob:test admin").await;
        let said = h.chat.bodies().last().cloned().unwrap_or_default();
        assert!(said.contains("comes from the configuration"), "{said}");
        // Two admins from chat, then config's are the only ones left: revoking a chat admin
        // whom nobody else backs is fine while config's admins remain.
        h.say(&admin(), "!cd grant @dana:test admin --yes").await;
        h.say(&admin(), "!cd revoke @dana:test admin --yes").await;
        assert!(h.chat.bodies().join("\n").contains("@dana:test no longer holds admin everywhere."));
        let audit = h.store.audit(Page { limit: 20, before: None }).await.unwrap();
        assert_eq!(audit.iter().filter(|a| a.action == "grant.revoke").count(), 2, "{audit:?}");
        let dana = UserId::parse("@dana:test").unwrap();
        h.say(&dana, "!cd whoami").await;
        assert!(h.chat.bodies().last().is_some());
    }

    #[tokio::test]
    async fn the_last_admin_cannot_be_revoked_and_unreadable_stored_grants_are_kept() {
        let mut s = crate::testing::settings();
        s.admins.clear();
        // A restart over a store holding an admin made in chat (config has none left), and an
        // entry this version cannot read.
        let store = std::sync::Arc::new(chatrixcd_store_memory::MemoryStore::new());
        let stored = r#"[{"user":"@dana:test","role":"admin","by":"@alice:test","at":"2026-01-01T00:00:00Z"},
                         {"user":"not a user","role":"viewer","by":"@alice:test","at":"2026-01-01T00:00:00Z"}]"#;
        store.set_setting("grants", stored).await.unwrap();
        let h = Harness::with_store(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], s, store).await;
        let dana = UserId::parse("@dana:test").unwrap();
        h.say(&dana, "!cd revoke @dana:test admin --yes").await;
        let said = h.chat.bodies().last().cloned().unwrap_or_default();
        assert!(said.contains("would leave nobody who may change grants"), "{said}");
        h.say(&dana, "!cd grant @erin:test viewer --yes").await;
        let saved = h.store.setting("grants").await.unwrap().unwrap();
        assert!(saved.contains("@erin:test") && saved.contains("not a user"), "kept as it was: {saved}");
        h.say(&dana, "!cd grant @erin:test admin --yes").await;
        h.say(&dana, "!cd revoke @dana:test admin --yes").await;
        assert!(h.chat.bodies().last().unwrap().contains("no longer holds admin everywhere"));
    }
}
