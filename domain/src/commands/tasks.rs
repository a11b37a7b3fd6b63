//! `tasks [project]`: recent and running tasks, across projects.

use std::collections::HashMap;

use chatrixcd_ports::semaphore::Task;
use chatrixcd_ports::store::TaskRef;
use chatrixcd_ports::{Page, UserId};

use crate::commands::templates::pick_project;
use crate::commands::{Command, CommandError, Needs};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::instances::{ProjectRef, tag};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::render::Reply;
use crate::render::reply::status_style;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;
/// How far back the bot's run history is searched for who asked for a listed task. Listings show
/// the newest tasks, and the bot records every run it starts, so the newest runs cover them.
const HISTORY_LOOKBACK: usize = 500;

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
    mutating: false,
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

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// `tasks staging` lists an instance, `tasks staging:ops` a project of it, `tasks ops` a project
/// of the room's instance. The instance is known from the words alone only for the first two:
/// a lone word that is not an instance's exact name is a project.
fn needs(p: &Parsed) -> Needs {
    match p.arg("project") {
        Some(word) => Needs::Instance(Some(word.split_once(':').map_or(word, |(i, _)| i).to_owned())),
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
    let mut tasks: Vec<(String, Task)> = Vec::new();
    for project in &projects {
        for task in instance.semaphore.recent_tasks(project.id, 200).await.on(instance.id)? {
            if !args.running || task.status.is_active() {
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
