//! `templates [project]`: the templates of a project (by id or name).

use chatrixcd_ports::semaphore::{Project, SurveyVarType};

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, needs_project_instance};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::instances::{Instance, ProjectRef, tag};
use crate::resolve;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "templates",
    aliases: &["template", "t"],
    summary: "List the templates of a project",
    args: &[ArgSpec {
        name: "project",
        kind: ValueKind::Word,
        required: false,
        help: "project id or name, or instance:project; may be left out when there is only one project",
    }],
    flags: &[],
    subcommands: &[],
    examples: &["templates 1", "templates ops", "templates staging:ops"],
    hidden: false,
    permission: Some(Permission::Read),
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    project: Option<ProjectRef>,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        let project =
            p.arg("project").map(ProjectRef::parse).transpose().map_err(|e| CommandError::Usage(e.to_string()))?;
        if let Some(r) = project.as_ref().filter(|r| r.template.is_some()) {
            return Err(CommandError::Usage(format!("`{r}` names a template; `templates` wants a project.")));
        }
        Ok(Self { project })
    }
}

/// The instance a reference names (else the room's), and the project in it found by id or
/// name; with no project given, the only project if there is exactly one.
pub(crate) async fn pick_project<'a>(
    ctx: Ctx<'a>,
    req: &Request,
    given: Option<&ProjectRef>,
) -> Result<(&'a Instance, Project), CommandError> {
    let instance = ctx.instance_for(&req.room, given.and_then(|g| g.instance.as_deref())).await?;
    let projects = instance.semaphore.projects().await.on(instance.id)?;
    let projects = ctx.readable_projects(req, instance.id, projects);
    let tag = tag(ctx.instances(), instance.id);
    let project = match given {
        Some(given) => resolve::find("project", &projects, &given.project)
            .cloned()
            .map_err(|e| CommandError::Usage(format!("{tag}{}", e.describe())))?,
        None => match projects.as_slice() {
            [only] => only.clone(),
            [] => return Err(CommandError::Refused(format!("{tag}Semaphore has no projects this token can see."))),
            many => {
                return Err(CommandError::Usage(format!(
                    "{tag}Which project? There are {}: {}.",
                    many.len(),
                    many.iter().map(|p| format!("{} ({})", p.name, p.id)).collect::<Vec<_>>().join(", ")
                )));
            }
        },
    };
    Ok((instance, project))
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_project_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p)?;
    let (instance, project) = pick_project(ctx, req, args.project.as_ref()).await?;
    let mut templates = instance.semaphore.templates(project.id).await.on(instance.id)?;
    templates.retain(|t| ctx.may_read_template(req, instance.id, &project, t.id, Some(&t.name)));
    let tag = tag(ctx.instances(), instance.id);
    let reference =
        if ctx.instances().is_multi() { format!("{}:{}", instance.id, project.id) } else { project.id.to_string() };
    let reply = if templates.is_empty() {
        ctx.greeting(req).push(&format!(
            "{tag}Project {} ({}) has no templates yet. Create one in Semaphore UI first.",
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
        ctx.greeting(req)
            .bold(&format!("{tag}Templates of {} ({})", project.name, project.id))
            .table(&["ID", "Name", "App", "Description", "Asks for"], &rows)
            .line()
            .push("Run one: ")
            .code(&format!("{} run {reference} <template>", ctx.prefix()))
            .push(" (* = required variable, give it with ")
            .code("--var name=value")
            .push(")")
    };
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn templates_of_a_project_on_the_named_instance() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd templates staging:ops").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] Templates of ops"), "{said}");
        assert!(said.contains("run staging:1 <template>"), "the hint is qualified\n{said}");
        h.say(&admin(), "!cd templates prod:ops:x").await;
        assert!(h.chat.bodies().join("\n").contains("wants a project"));
        h.say(&admin(), "!cd templates a:b:c:d").await;
        assert!(h.chat.bodies().join("\n").contains("too many parts"));
        h.say(&admin(), "!cd templates opz").await;
        assert!(h.chat.bodies().join("\n").contains("Did you mean `ops`?"));
    }
}
