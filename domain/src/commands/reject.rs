//! `reject <task>`: the other answer to a Terraform plan waiting for approval; it shares
//! everything but the verdict with `approve` (see `approve.rs`), and is stopped by force.

use crate::permissions::Permission;
use crate::commands::approve::{TASK, Verdict, execute};
use crate::commands::{Command, needs_task_instance};
use crate::grammar::CommandSpec;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "reject",
    aliases: &["deny"],
    summary: "Reject a Terraform plan waiting for approval (stops the task)",
    args: &[TASK],
    flags: &[],
    subcommands: &[],
    examples: &["reject 42"],
    hidden: false,
    permission: Some(Permission::Approve),
};

pub(crate) static COMMAND: Command = Command {
    spec: &SPEC,
    needs: needs_task_instance,
    run: |ctx, req, p| Box::pin(execute(ctx, req, p, Verdict::Reject)),
};

#[cfg(test)]
mod tests {
    use chatrixcd_ports::Store as _;

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn reject_refuses_a_task_that_is_not_waiting_for_approval() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd run staging:ops:deploy-web --yes").await;
        h.advance(chrono::Duration::seconds(30)).await;
        h.chat.take();
        h.say(&admin(), "!cd deny staging:1").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Task #1 on staging is not waiting for approval"), "{said}");
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        assert!(audit.iter().all(|a| a.action != "task.reject"), "nothing was rejected: {audit:?}");
    }
}
