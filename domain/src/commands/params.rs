//! `params [project] [template]`: what a template asks for when it runs (its survey variables:
//! name, title, type, required, default, choices, description, secret) and what else a run
//! may set on it. The answer to "what do I type after `run`?".

use chatrixcd_ports::semaphore::{App, SurveyVarType, Template};

use crate::commands::run::resolve;
use crate::commands::{Command, CommandError, needs_project_instance};
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};
use crate::instances::{ProjectRef, tag};
use crate::permissions::Permission;
use crate::survey;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "params",
    aliases: &["parameters", "variables", "vars"],
    summary: "What a template asks for, and what else a run may set",
    args: &[crate::commands::run::PROJECT_ARG, crate::commands::run::TEMPLATE_ARG],
    flags: &[],
    subcommands: &[],
    examples: &["params 1 8", "params ops hello-args", "params staging:ops:deploy-web"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_project_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let project =
        p.arg("project").map(ProjectRef::parse).transpose().map_err(|e| CommandError::Usage(e.to_string()))?;
    let template = project.as_ref().and_then(|r| r.template.clone()).or_else(|| p.arg("template").map(str::to_owned));
    let resolved = resolve(ctx, req, project.as_ref(), template.as_deref(), Permission::Read).await?;
    let t = &resolved.template;
    let tag = tag(ctx.instances(), resolved.instance);
    let mut reply =
        ctx.greeting(req).bold(&format!("📋 {tag}{} ({}) in {} ({})", t.name, t.id, resolved.project.name, resolved.project.id));
    if t.survey_vars.is_empty() {
        reply = reply.line().push("It asks for no variables.");
    } else {
        let rows: Vec<Vec<String>> = t
            .survey_vars
            .iter()
            .map(|v| {
                let choices: Vec<String> = v
                    .values
                    .iter()
                    .map(|c| if c.name == c.value { c.name.clone() } else { format!("{} = {}", c.name, c.value) })
                    .collect();
                let default = match (&v.default_value, v.var_type == SurveyVarType::Secret) {
                    (Some(_), true) => "(set, hidden)".to_owned(),
                    (Some(d), false) => d.clone(),
                    (None, _) => "—".to_owned(),
                };
                let mut about = v.description.trim().to_owned();
                if !choices.is_empty() {
                    if !about.is_empty() {
                        about.push_str("; ");
                    }
                    about.push_str(&format!("one of: {}", choices.join(", ")));
                }
                let kind = if v.var_type == SurveyVarType::Secret { "secret 🔒".to_owned() } else { survey::kind(v).to_owned() };
                vec![
                    v.name.clone(),
                    survey::title(v).to_owned(),
                    kind,
                    if v.required { "yes".into() } else { "no".into() },
                    default,
                    about,
                ]
            })
            .collect();
        reply = reply.table(&["Variable", "Title", "Type", "Required", "Default", "About"], &rows);
        let secrets: Vec<&str> =
            t.survey_vars.iter().filter(|v| v.var_type == SurveyVarType::Secret).map(|v| v.name.as_str()).collect();
        if !secrets.is_empty() {
            reply = reply.line().push("🔒 Secret values are asked for in a direct message, never in a shared room.");
            if let Some(warning) = survey::secrets_warning(t, &secrets) {
                reply = reply.line().push(&warning);
            }
        }
    }
    reply = reply.line().push(&format!("A run may also set: {}.", overrides(t).join(", ")));
    let reference = if ctx.instances().is_multi() {
        format!("{}:{}:{}", resolved.instance, resolved.project.id, t.id)
    } else {
        format!("{} {}", resolved.project.id, t.id)
    };
    let mut example = format!("{} run {reference}", ctx.prefix());
    for v in t.survey_vars.iter().filter(|v| v.required && v.var_type != SurveyVarType::Secret) {
        example.push_str(&format!(" --var {}=…", v.name));
    }
    reply = reply.line().push("Run it: ").code(&example).push(" (what is left out is asked for).");
    ctx.reply(req, reply).await;
    Ok(())
}

/// What else a run of `t` may set, with the option that sets it.
fn overrides(t: &Template) -> Vec<String> {
    let policy = &t.params_policy;
    let mut out = Vec::new();
    let ansible = t.app == App::Ansible;
    let options = [
        (ansible && policy.allow_override_tags, "tags (--tags)"),
        (ansible && policy.allow_override_skip_tags, "skipped tags (--skip-tags)"),
        (ansible && policy.allow_override_limit, "host limit (--limit)"),
        (ansible && policy.allow_debug, "debug output (--debug)"),
        (ansible, "check mode (--dry-run) and diffs (--diff)"),
        (t.allow_override_args_in_task, "CLI arguments (--args)"),
        (policy.allow_override_branch, "git branch (--branch)"),
    ];
    for (allowed, what) in options {
        if allowed {
            out.push(what.to_owned());
        }
    }
    out.push("a message (--message)".to_owned());
    if policy.allow_override_inventory {
        out.push("the inventory (allowed by the template; chatrixcd's run does not set it, Semaphore's UI does)".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn every_variable_is_described_with_what_else_a_run_may_set() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd params ops hello-args").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("📋 hello-args (8) in ops (1)"), "{said}");
        for row in [
            "who       Who      text        yes       —        whom to greet",
            "count     Count    whole number  no",
            "env       Target   choice      yes       —        one of: Production = prod, Staging = stage",
            "api_key   API key  secret 🔒",
        ] {
            let squeezed = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(squeezed(&said).contains(&squeezed(row)), "{row}\n{said}");
        }
        assert!(said.contains("Secret values are asked for in a direct message"), "{said}");
        assert!(said.contains("will not reach it"), "bash gets no secrets on 2.10\n{said}");
        assert!(said.contains("A run may also set: CLI arguments (--args), git branch (--branch), a message (--message), the inventory"), "{said}");
        assert!(said.contains("Run it: `!cd run 1 8 --var who=… --var env=…`"), "{said}");
        h.say(&admin(), "!cd params 1 1").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("It asks for no variables.") && said.contains("host limit (--limit)"), "{said}");
        h.say(&admin(), "!cd params ops nope").await;
        assert!(h.chat.bodies().join("\n").contains("No template `nope`"));
    }
}
