//! `exit`: shut the bot down, after a confirmation.

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, needs_nothing};
use crate::confirm::Approver;
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, FlagSpec, Parsed};
use crate::plans::PendingAction;
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "exit",
    aliases: &["shutdown", "quit"],
    summary: "Shut the bot down (asks first)",
    args: &[],
    flags: &[FlagSpec {
        name: "yes",
        aliases: &["y"],
        value: None,
        repeatable: false,
        help: "do not ask for confirmation",
    }],
    subcommands: &[],
    examples: &["exit"],
    hidden: false,
    permission: Some(Permission::Exit),
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    yes: bool,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        Self { yes: p.switch("yes") }
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p);
    if args.yes {
        return perform(ctx, req).await;
    }
    let question = Reply::notice()
        .bold("⚠️ Shut the bot down?")
        .line()
        .push("Running tasks keep running in Semaphore, but nobody here will watch them until I am back.");
    let timeout = ctx.settings().short_confirm_timeout;
    ctx.ask(req, PendingAction::Exit, Approver::Requester, timeout, question).await;
    Ok(())
}

pub(crate) async fn perform(ctx: Ctx<'_>, req: &Request) -> Result<(), CommandError> {
    ctx.audit(req, "bot.exit", "shut down from chat".to_owned()).await;
    ctx.reply(req, Reply::notice().push("👋 Shutting down as requested. Goodbye!")).await;
    ctx.request_shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{Clock as _, Store as _, UserId};
    use chrono::Duration;

    use crate::Outcome;
    use crate::testing::{Harness, Posted, admin, reaction_from};

    async fn exits(h: &Harness) -> usize {
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        audit.iter().filter(|a| a.action == "bot.exit").count()
    }

    #[tokio::test]
    async fn exit_asks_first_and_only_the_asker_can_confirm_it() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd exit").await;
        let posted = h.chat.take();
        let [Posted::Message(question, asked)] = posted.as_slice() else { panic!("{posted:?}") };
        assert!(asked.body.starts_with("⚠️ Shut the bot down?"), "{}", asked.body);
        assert!(asked.body.contains("Running tasks keep running in Semaphore"), "{}", asked.body);
        assert!(asked.body.contains("within 1m 00s"), "the short timeout\n{}", asked.body);
        assert_eq!(h.bot.outcome(), Outcome::Continue, "nothing happens before the answer");
        // Another admin cannot answer for the one who asked: a "yes" is not theirs to give, a 👍 is refused.
        let bob = UserId::parse("@bob:test").unwrap();
        h.say(&bob, "yes").await;
        h.bot.handle(reaction_from(&bob, question, "👍", h.clock.now())).await;
        assert_eq!(h.chat.bodies(), ["✋ Only @alice:test can answer this request."]);
        assert_eq!(h.bot.outcome(), Outcome::Continue);
        h.say(&admin(), "yes").await;
        assert!(h.chat.bodies().join("\n").contains("👋 Shutting down as requested. Goodbye!"));
        assert_eq!(h.bot.outcome(), Outcome::Shutdown);
        assert_eq!(exits(&h).await, 1, "the shutdown is audited");
    }

    #[tokio::test]
    async fn viewers_may_not_exit_and_a_no_or_silence_keeps_the_bot_running() {
        let h = Harness::single().await;
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd exit --yes").await;
        assert!(h.chat.bodies().join("\n").contains("needs the `exit` permission on the bot"));
        h.say(&admin(), "!cd quit").await;
        h.say(&admin(), "no").await;
        assert!(h.chat.bodies().join("\n").contains("Cancelled: shut the bot down."));
        h.say(&admin(), "!cd shutdown").await;
        h.advance(Duration::seconds(61)).await;
        assert!(h.chat.bodies().join("\n").contains("The request to shut the bot down expired"));
        assert_eq!(h.bot.outcome(), Outcome::Continue);
        assert_eq!(exits(&h).await, 0);
        // `--yes` skips the question.
        h.say(&admin(), "!cd exit --yes").await;
        assert!(h.chat.bodies().join("\n").contains("Goodbye!"));
        assert_eq!(h.bot.outcome(), Outcome::Shutdown);
        assert_eq!(exits(&h).await, 1);
    }
}
