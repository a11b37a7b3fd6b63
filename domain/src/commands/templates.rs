//! `templates [project]`: the templates of a project (by id or name).

use chatrixcd_ports::semaphore::{Project, SurveyVarType};

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::resolve;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "templates",
    aliases: &["template", "t"],
    summary: "List the templates of a project",
    args: &[ArgSpec {
        name: "project",
        kind: ValueKind::Word,
        required: false,
        help: "project id or name; may be left out when there is only one project",
    }],
    flags: &[],
    subcommands: &[],
    examples: &["templates 1", "templates ops"],
    hidden: false,
    mutating: false,
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    project: Option<String>,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        Self { project: p.arg("project").map(str::to_owned) }
    }
}

/// Finds a project by id or name; with no name, the only project if there is exactly one.
pub(crate) async fn pick_project(bot: &Bot, given: Option<&str>) -> Result<Project, CommandError> {
    let projects = bot.deps.semaphore.projects().await?;
    match given {
        Some(given) => {
            resolve::find("project", &projects, given).cloned().map_err(|e| CommandError::Usage(e.describe()))
        }
        None => match projects.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(CommandError::Refused("Semaphore has no projects this token can see.".into())),
            many => Err(CommandError::Usage(format!(
                "Which project? There are {}: {}.",
                many.len(),
                many.iter().map(|p| format!("{} ({})", p.name, p.id)).collect::<Vec<_>>().join(", ")
            ))),
        },
    }
}

pub(crate) async fn execute(bot: &mut Bot, req: &Request, args: Args) -> Result<(), CommandError> {
    let project = pick_project(bot, args.project.as_deref()).await?;
    let templates = bot.deps.semaphore.templates(project.id).await?;
    let reply = if templates.is_empty() {
        bot.greeting(req).push(&format!(
            "Project {} ({}) has no templates yet. Create one in Semaphore UI first.",
            project.name, project.id
        ))
    } else {
        let rows: Vec<Vec<String>> = templates
            .iter()
            .map(|t| {
                let mut asks: Vec<String> = t
                    .survey_vars
                    .iter()
                    .map(|v| {
                        let mut s = v.name.clone();
                        if v.var_type == SurveyVarType::Secret {
                            s.push_str(" 🔒");
                        }
                        if v.required {
                            s.push('*');
                        }
                        s
                    })
                    .collect();
                if t.allow_override_args_in_task {
                    asks.push("--args".into());
                }
                vec![
                    t.id.to_string(),
                    t.name.clone(),
                    t.app.as_str().to_owned(),
                    // Semaphore's UI uses ¶ as a paragraph mark in descriptions.
                    t.description.clone().unwrap_or_default().replace('¶', " "),
                    asks.join(", "),
                ]
            })
            .collect();
        bot.greeting(req)
            .bold(&format!("Templates of {} ({})", project.name, project.id))
            .table(&["ID", "Name", "App", "Description", "Asks for"], &rows)
            .line()
            .push("Run one: ")
            .code(&format!("{} run {} <template>", bot.settings.prefix, project.id))
            .push(" (* = required variable, give it with ")
            .code("--var name=value")
            .push(")")
    };
    bot.reply(req, reply).await;
    Ok(())
}
