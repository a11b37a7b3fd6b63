//! `tasks [project]`: recent and running tasks, across projects.

use std::collections::HashMap;

use chatrixcd_ports::semaphore::Task;
use chatrixcd_ports::store::TaskRef;
use chatrixcd_ports::{Page, TemplateId, UserId};

use crate::permissions::Permission;
use crate::commands::templates::pick_project;
use crate::commands::{Command, CommandError, Needs};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::instances::{ProjectRef, tag};
use crate::render::Reply;
use crate::render::reply::status_style;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;
/// How far back the bot's run history is searched for who asked for a listed task. Listings show
/// the newest tasks, and the bot records every run it starts, so the newest runs cover them.
pub(crate) const HISTORY_LOOKBACK: usize = 500;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "tasks",
    aliases: &["recent", "ps"],
    summary: "List recent tasks, or only running ones, with who started each",
    args: &[ArgSpec {
        name: "project",
        kind: ValueKind::Word,
        required: false,
        help: "project id or name, instance:project, or an instance (default: every project of the room's instance)",
    }],
    flags: &[
        FlagSpec {
            name: "running",
            aliases: &["active"],
            value: None,
            repeatable: false,
            help: "only queued or running tasks",
        },
        FlagSpec {
            name: "limit",
            aliases: &["n"],
            value: Some(ValueKind::Number),
            repeatable: false,
            help: "how many (default 10, at most 50)",
        },
    ],
    subcommands: &[],
    examples: &["tasks", "tasks ops --running", "tasks staging", "tasks --limit 20"],
    hidden: false,
    permission: Some(Permission::Read),
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    /// A project, an instance:project, or an instance alone.
    project: Option<String>,
    running: bool,
    limit: usize,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        let limit = p.flag("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(CommandError::Usage(format!("--limit must be between 1 and {MAX_LIMIT}.")));
        }
        Ok(Self { project: p.arg("project").map(str::to_owned), running: p.switch("running"), limit })
    }
}

pub(crate) static COMMAND: Command = Command { spec: &SPEC, needs, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// `tasks staging` lists an instance, `tasks staging:ops` a project of it, `tasks ops` a project
/// of the room's instance. The instance is known from the words alone only for the first two:
/// a lone word that is not an instance's exact name is a project.
fn needs(p: &Parsed) -> Needs {
    match p.arg("project") {
        Some(word) => match word.split_once(':') {
            Some((instance, _)) => Needs::Instance(Some(instance.to_owned())),
            None => Needs::InstanceIfNamed(word.to_owned()),
        },
        None => Needs::Instance(None),
    }
}

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p)?;
    let whole_instance = args.project.as_deref().filter(|w| !w.contains(':') && ctx.instances().names(w));
    let (instance, projects) = match (&args.project, whole_instance) {
        (Some(_), Some(name)) => {
            let instance = ctx.instance_for(&req.room, Some(name)).await?;
            (instance, instance.semaphore.projects().await.on(instance.id)?)
        }
        (Some(word), None) => {
            let reference = ProjectRef::parse(word).map_err(|e| CommandError::Usage(e.to_string()))?;
            let (instance, project) = pick_project(ctx, req, Some(&reference)).await?;
            (instance, vec![project])
        }
        (None, _) => {
            let instance = ctx.instance_for(&req.room, None).await?;
            (instance, instance.semaphore.projects().await.on(instance.id)?)
        }
    };
    let projects = ctx.readable_projects(req, instance.id, projects);
    let names_needed = ctx.policy().needs_names(&req.sender);
    let mut tasks: Vec<(String, Task)> = Vec::new();
    for project in &projects {
        // 2.10 leaves template names out of tasks; a grant by template name needs them.
        let template_names: HashMap<TemplateId, String> = if names_needed {
            let templates = instance.semaphore.templates(project.id).await.on(instance.id)?;
            templates.into_iter().map(|t| (t.id, t.name)).collect()
        } else {
            HashMap::new()
        };
        for task in instance.semaphore.recent_tasks(project.id, 200).await.on(instance.id)? {
            let name = task.template_name.as_deref().or_else(|| template_names.get(&task.template_id).map(String::as_str));
            if (!args.running || task.status.is_active())
                && ctx.may_read_template(req, instance.id, project, task.template_id, name)
            {
                tasks.push((project.name.clone(), task));
            }
        }
    }
    // Newest first by creation time: ids count down on some servers, so never sort by id.
    tasks.sort_by_key(|t| std::cmp::Reverse(t.1.created));
    let total = tasks.len();
    tasks.truncate(args.limit);
    let asked_by = if tasks.is_empty() { HashMap::new() } else { requesters(ctx).await };
    let what = if args.running { "running or queued tasks" } else { "tasks" };
    let tag = tag(ctx.instances(), instance.id);
    let reply = if tasks.is_empty() {
        Reply::notice().push(&format!("{tag}No {what}. 💤"))
    } else {
        let rows: Vec<Vec<String>> = tasks
            .iter()
            .map(|(project, t)| {
                let (emoji, _) = status_style(&t.status);
                vec![
                    format!("#{}", t.id),
                    format!("{emoji} {}", t.status),
                    project.clone(),
                    t.template_name.clone().unwrap_or_else(|| t.template_id.to_string()),
                    match asked_by.get(&TaskRef::new(instance.id, t.project_id, t.id)) {
                        Some(requester) => requester.to_string(),
                        None => t.user_name.clone().unwrap_or_else(|| "—".into()),
                    },
                    t.created.map(|c| c.format("%m-%d %H:%M").to_string()).unwrap_or_default(),
                ]
            })
            .collect();
        let mut r = Reply::notice()
            .bold(&format!("{tag}Latest {what}"))
            .table(&["Task", "Status", "Project", "Template", "By", "Queued"], &rows);
        if total > rows.len() {
            r = r.line().push(&format!("({} more; use --limit)", total - rows.len()));
        }
        r
    };
    ctx.reply(req, reply).await;
    Ok(())
}

/// Who asked the bot for each task it started. Semaphore names the owner of the bot's token for
/// all of them, which says nothing; the bot's run history knows the person. A history that
/// cannot be read leaves Semaphore's names in place: the listing is still right, only less
/// telling. Keyed by instance, project and task: task numbers repeat across instances.
pub(crate) async fn requesters(ctx: Ctx<'_>) -> HashMap<TaskRef, UserId> {
    let runs = ctx.store().runs(Page { limit: HISTORY_LOOKBACK, before: None }).await.unwrap_or_default();
    runs.into_iter().map(|run| (TaskRef::new(run.instance, run.project, run.task), run.requester)).collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn tasks_lists_the_named_instance_with_its_tag_and_who_asked() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd run staging:ops:deploy-web --yes").await;
        h.say(&admin(), "!cd run staging:ops:slow --yes").await;
        h.advance(Duration::seconds(30)).await;
        h.chat.take();
        h.say(&admin(), "!cd tasks staging").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("[staging] Latest tasks\nTask  Status"), "{said}");
        let rows: Vec<&str> = said.lines().skip(2).collect();
        assert_eq!(rows.len(), 2, "{said}");
        // Newest first; the bot's history names who asked, not the token's owner.
        assert!(rows[0].starts_with("#2") && rows[0].contains("running") && rows[0].contains("slow"), "{said}");
        assert!(
            rows[1].starts_with("#1") && rows[1].contains("✅ success") && rows[1].contains("deploy-web"),
            "{said}"
        );
        assert!(rows.iter().all(|r| r.contains("ops") && r.contains("@alice:test")), "{said}");
        h.say(&admin(), "!cd tasks staging:ops --running").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("[staging] Latest running or queued tasks"), "{said}");
        assert!(said.contains("#2") && !said.contains("#1 "), "{said}");
        h.say(&admin(), "!cd tasks").await;
        assert_eq!(h.chat.bodies(), ["[production] No tasks. 💤"], "the room's instance is production");
    }

    #[tokio::test]
    async fn the_limit_is_checked_and_what_it_leaves_out_is_counted() {
        let h = Harness::two_instances().await;
        for _ in 0..3 {
            h.say(&admin(), "!cd run staging:ops:deploy-web --yes").await;
        }
        h.chat.take();
        h.say(&admin(), "!cd tasks staging --limit 1").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("#3") && !said.contains("#2"), "{said}");
        assert!(said.ends_with("(2 more; use --limit)"), "{said}");
        for bad in ["0", "51"] {
            h.say(&admin(), &format!("!cd tasks staging --limit {bad}")).await;
            let said = h.chat.bodies().join("\n");
            assert!(said.starts_with("🤔 --limit must be between 1 and 50."), "{bad}: {said}");
        }
    }

    /// `tasks ops` (a project) waits in the room's instance's lane, `tasks staging` in staging's:
    /// a lone word is an instance only when it is one's exact name, as `execute` reads it.
    #[tokio::test]
    async fn a_lone_word_picks_the_lane_the_command_really_uses() {
        use crate::{Lane, On};
        use chatrixcd_ports::Clock as _;
        let h = Harness::two_instances().await;
        let at = h.clock.now();
        let lane = |name: &str| Lane::Room {
            room: crate::testing::room(),
            on: On::Instance(chatrixcd_ports::InstanceId::parse(name).unwrap()),
        };
        for (line, want) in
            [("!cd tasks ops", "production"), ("!cd tasks staging", "staging"), ("!cd tasks stag", "production")]
        {
            let job = h.bot.accept(crate::testing::message_from(&admin(), line, at)).await.unwrap();
            assert_eq!(job.lane, lane(want), "{line}");
        }
    }
}
