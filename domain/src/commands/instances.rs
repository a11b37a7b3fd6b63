//! `instances`: every configured Semaphore, asked at once: its URL, version, whether it answers
//! and accepts the token, and how many tasks it is running. An instance that does not answer
//! only makes its own line wait, up to its own timeout.

use chatrixcd_ports::SemaphoreError;

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, Needs};
use crate::core::{Ctx, Request, room_instance};
use crate::grammar::{CommandSpec, Parsed};
use crate::instances::Instance;
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "instances",
    aliases: &["servers"],
    summary: "List the Semaphore instances: version, reachability, running tasks",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["instances"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: |_| Needs::Every, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// What one instance answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Up { version: String, running: Option<usize> },
    TokenRefused,
    Unreachable(String),
    Failing(String),
}

async fn probe(instance: &Instance) -> State {
    let semaphore = &instance.semaphore;
    let version = match semaphore.info().await {
        Ok(info) => info.version,
        Err(SemaphoreError::Unauthorised | SemaphoreError::Forbidden(_)) => return State::TokenRefused,
        Err(e @ (SemaphoreError::Unreachable(_) | SemaphoreError::Timeout(_))) => {
            return State::Unreachable(e.to_string());
        }
        Err(e) => return State::Failing(e.to_string()),
    };
    // Running tasks: the active ones among each project's newest. A project that cannot be read
    // leaves the count unknown rather than wrong.
    let running = match semaphore.projects().await {
        Ok(projects) => {
            let mut count = Some(0);
            for project in projects {
                match semaphore.recent_tasks(project.id, 200).await {
                    Ok(tasks) => count = count.map(|c| c + tasks.iter().filter(|t| t.status.is_active()).count()),
                    Err(_) => count = None,
                }
            }
            count
        }
        Err(_) => None,
    };
    State::Up { version, running }
}

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let instances = ctx.instances();
    let states = futures::future::join_all(instances.iter().map(probe)).await;
    let chosen = room_instance(ctx.core(), &req.room).await;
    let current = chosen.unwrap_or(instances.default_instance().id);
    let rows: Vec<Vec<String>> = instances
        .iter()
        .zip(&states)
        .map(|(instance, state)| {
            let mut name = instance.id.to_string();
            if instance.id == instances.default_instance().id {
                name.push_str(" (default)");
            }
            if instance.id == current {
                name = format!("▶ {name}");
            }
            let (version, state, running) = match state {
                State::Up { version, running } => (
                    version.clone(),
                    "✅ reachable".to_owned(),
                    running.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                ),
                State::TokenRefused => ("—".into(), "🔑 token refused".into(), "—".into()),
                State::Unreachable(why) => {
                    ("—".into(), format!("❌ unreachable: {}", crate::bot::shown(ctx.core(), why)), "—".into())
                }
                State::Failing(why) => ("—".into(), format!("⚠️ {}", crate::bot::shown(ctx.core(), why)), "—".into()),
            };
            vec![name, instance.url.clone(), version, state, running]
        })
        .collect();
    let mut reply = Reply::notice()
        .bold("🛠️ Semaphore instances")
        .table(&["Instance", "URL", "Version", "State", "Running"], &rows)
        .line()
        .push(&format!("▶ marks this room's instance ({current}). "));
    if instances.is_multi() {
        reply = reply
            .push("Switch with ")
            .code(&format!("{} use <instance>", ctx.prefix()))
            .push(", or name one in a command: ")
            .code(&format!("{} run {current}:1:5", ctx.prefix()))
            .push(".");
    }
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chatrixcd_ports::semaphore::{MockSemaphorePort, SemaphoreError, ServerInfo};
    use chatrixcd_ports::{InstanceId, SemaphorePort};

    use super::{State, probe};
    use crate::instances::Instance;
    use crate::testing::{Harness, admin};

    fn instance(semaphore: MockSemaphorePort) -> Instance {
        let semaphore: Arc<dyn SemaphorePort> = Arc::new(semaphore);
        Instance { id: InstanceId::default(), url: "https://x".into(), semaphore }
    }

    #[tokio::test]
    async fn each_instance_is_reported_as_reachable_refused_or_unreachable() {
        let mut refused = MockSemaphorePort::new();
        refused.expect_info().returning(|| Err(SemaphoreError::Unauthorised));
        assert_eq!(probe(&instance(refused)).await, State::TokenRefused);
        let mut down = MockSemaphorePort::new();
        down.expect_info().returning(|| Err(SemaphoreError::Timeout("15 s".into())));
        assert!(matches!(probe(&instance(down)).await, State::Unreachable(why) if why.contains("did not answer")));
        let mut up = MockSemaphorePort::new();
        up.expect_info().returning(|| Ok(ServerInfo { version: "2.10.32".into(), ..Default::default() }));
        up.expect_projects().returning(|| Err(SemaphoreError::Server { status: 500, message: None }));
        assert_eq!(probe(&instance(up)).await, State::Up { version: "2.10.32".into(), running: None });
    }

    #[tokio::test]
    async fn instances_lists_every_instance_and_marks_the_rooms() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd instances").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("▶ production (default)"), "{said}");
        assert!(said.contains("https://staging.semaphore.test"), "{said}");
        assert!(said.contains("✅ reachable"), "{said}");
        h.say(&admin(), "!cd use staging").await;
        h.chat.take();
        h.say(&admin(), "!cd instances").await;
        assert!(h.chat.bodies().join("\n").contains("▶ staging"));
    }
}
