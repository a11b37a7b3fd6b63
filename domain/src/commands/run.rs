//! `run [project] [template] [tags]`: start a Semaphore task, after a confirmation.
//!
//! ChatrixCD's syntax keeps working (`run 4 5 update,molecule`, `--tags=`, `--args=`), but it is
//! mapped onto what Semaphore really accepts, and an override the template does not allow is
//! refused here instead of being silently ignored by the server.

use std::collections::BTreeMap;

use chatrixcd_ports::UserId;
use chatrixcd_ports::semaphore::{App, Project, StartTask, SurveyVar, SurveyVarType, Template};
use chatrixcd_ports::InstanceId;
use chatrixcd_ports::store::{RunRecord, TrackedTask};

use crate::permissions::{Permission, Target};
use crate::commands::templates::pick_project;
use crate::commands::{Command, CommandError, needs_project_instance};
use crate::confirm::Approver;
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind, split_words};
use crate::instances::{ProjectRef, tag, task_label};
use crate::personality::Category;
use crate::plans::{PendingAction, RunPlan};
use crate::render::Reply;
use crate::resolve;
use crate::settings::ConfirmPolicy;

const fn value_flag(name: &'static str, aliases: &'static [&'static str], help: &'static str) -> FlagSpec {
    FlagSpec { name, aliases, value: Some(ValueKind::Word), repeatable: false, help }
}
const fn switch(name: &'static str, aliases: &'static [&'static str], help: &'static str) -> FlagSpec {
    FlagSpec { name, aliases, value: None, repeatable: false, help }
}

/// `run`'s options; `preset save` takes the same (but `--preset` and `--yes`), so a preset
/// holds exactly what a run can be given.
pub(crate) const FLAGS: [FlagSpec; 12] = [
value_flag("tags", &["tag"], "Ansible tags to run, comma-separated"),
        value_flag("skip-tags", &["skip-tag"], "Ansible tags to skip, comma-separated"),
        value_flag("limit", &[], "Ansible hosts or groups to limit the run to, comma-separated"),
        value_flag("args", &["arg", "arguments"], "extra command-line arguments, quoted: --args=\"--check -v\""),
        value_flag("branch", &["git-branch"], "git branch to run from"),
        value_flag("message", &["msg", "m"], "a note shown with the task in Semaphore"),
        FlagSpec {
            name: "var",
            aliases: &["v", "extra-var"],
            value: Some(ValueKind::Word),
            repeatable: true,
            help: "a template variable: --var name=value (repeat for more)",
        },
        switch("dry-run", &["check"], "Ansible check mode: show what would change"),
        switch("diff", &[], "Ansible diff mode: show file changes"),
        switch("debug", &[], "verbose Ansible output (-vvvv)"),
        value_flag("preset", &[], "start from a saved preset (`preset list`); --var and other options override it"),
        switch("yes", &["y"], "do not ask for confirmation (where the template's policy allows)"),
];

/// The target of a run, as `run`, `params` and `preset save` take it.
pub(crate) const PROJECT_ARG: ArgSpec = ArgSpec {
    name: "project",
    kind: ValueKind::Word,
    required: false,
    help: "project id or name; instance:project, or instance:project:template",
};
pub(crate) const TEMPLATE_ARG: ArgSpec =
    ArgSpec { name: "template", kind: ValueKind::Word, required: false, help: "template id or name" };

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "run",
    aliases: &["start", "deploy"],
    summary: "Start a template as a Semaphore task (asks first)",
    args: &[
        PROJECT_ARG,
        TEMPLATE_ARG,
        ArgSpec {
            name: "tags",
            kind: ValueKind::Word,
            required: false,
            help: "Ansible tags, comma-separated (same as --tags)",
        },
    ],
    flags: &FLAGS,
    subcommands: &[],
    examples: &[
        "run 1 1",
        "run ops deploy-web",
        "run 4 5 update,molecule",
        "run prod:1:5",
        "run staging:ops:deploy-web web,db",
        "run ops hello --var who=world",
        "run 1 8 --args=\"--verbose\" --yes",
        "run 1 8 --preset nightly --var who=ann",
    ],
    hidden: false,
    permission: Some(Permission::Run),
};

#[derive(Clone, Default)]
pub(crate) struct Args {
    /// The project, maybe with its instance and template (`prod:1:5`).
    pub(crate) project: Option<ProjectRef>,
    pub(crate) template: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) skip_tags: Vec<String>,
    pub(crate) limit: Vec<String>,
    pub(crate) arguments: Vec<String>,
    pub(crate) branch: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) dry_run: bool,
    pub(crate) diff: bool,
    pub(crate) debug: bool,
    pub(crate) yes: bool,
    /// `--preset`: the saved options this run starts from.
    pub(crate) preset: Option<String>,
}

impl std::fmt::Debug for Args {
    // Variables may hold secrets (a dialog's answers): names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("project", &self.project)
            .field("template", &self.template)
            .field("vars", &self.vars.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Args {
    /// A schedule's run: its target (`instance:project:template` by ids), its variables, and
    /// the message that names its slot; no question is asked (the schedule was confirmed).
    pub(crate) fn scheduled(
        reference: &str,
        template: Option<&str>,
        vars: &[(String, String)],
        message: String,
    ) -> Result<Self, CommandError> {
        let project = ProjectRef::parse(reference).map_err(|e| CommandError::Usage(e.to_string()))?;
        let template = project.template.clone().or_else(|| template.map(str::to_owned));
        Ok(Self { project: Some(project), template, message: Some(message), vars: vars.to_vec(), yes: true, ..Self::default() })
    }
}

/// The `--var name=value` flags, in order (for `run` and `schedule add`).
pub(crate) fn vars(p: &Parsed) -> Result<Vec<(String, String)>, CommandError> {
    p.flag_all("var")
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), val.to_owned())),
            _ => Err(CommandError::Usage(format!("`--var {v}` needs the form name=value."))),
        })
        .collect()
}

fn comma_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        let project =
            p.arg("project").map(ProjectRef::parse).transpose().map_err(|e| CommandError::Usage(e.to_string()))?;
        let mut template = p.arg("template").map(str::to_owned);
        let mut tags = p.arg("tags").map(comma_list).unwrap_or_default();
        // `run prod:1:5 web,db`: the template is in the reference, so the next word is the tags.
        if let Some(reference) = project.as_ref().filter(|r| r.template.is_some()) {
            if let Some(word) = template.take() {
                if !tags.is_empty() {
                    return Err(CommandError::Usage(format!(
                        "`{reference}` names the template already; give the tags once, e.g. --tags={word}."
                    )));
                }
                tags = comma_list(&word);
            }
            template = reference.template.clone();
        }
        tags.extend(p.flag("tags").map(comma_list).unwrap_or_default());
        let arguments = match p.flag("args") {
            None => Vec::new(),
            // A JSON array is what Semaphore stores; accept it as is.
            Some(a) if a.trim_start().starts_with('[') => serde_json::from_str::<Vec<String>>(a).map_err(|e| {
                CommandError::Usage(format!("--args looks like a JSON array but is not a list of strings: {e}."))
            })?,
            Some(a) => split_words(a),
        };
        let vars = vars(p)?;
        Ok(Self {
            project,
            template,
            tags,
            skip_tags: p.flag("skip-tags").map(comma_list).unwrap_or_default(),
            limit: p.flag("limit").map(comma_list).unwrap_or_default(),
            arguments,
            branch: p.flag("branch").map(str::to_owned),
            message: p.flag("message").map(str::to_owned),
            vars,
            dry_run: p.switch("dry-run"),
            diff: p.switch("diff"),
            debug: p.switch("debug"),
            yes: p.switch("yes"),
            preset: p.flag("preset").map(str::to_owned),
        })
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_project_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p)?;
    // What was typed, before a preset adds its own (opened) values.
    let typed = args.vars.clone();
    // A new run replaces the requester's open questions about another one in this room.
    let replaced = ctx.close_dialog(&req.room, &req.sender);
    let (args, preset) = match args.preset.clone() {
        Some(name) => {
            let (args, preset) = crate::commands::preset::apply(ctx, &req.sender, &req.room, &name, args).await?;
            (args, Some(preset))
        }
        None => (args, None),
    };
    let resolved = resolve(ctx, req, args.project.as_ref(), args.template.as_deref(), Permission::Run).await?;
    delete_typed_secret(ctx, req, &resolved.template, &typed).await;
    if let Some(preset) = &preset {
        crate::commands::preset::check(preset, &resolved)?;
    }
    let interactive = req.via_hook.is_none();
    if interactive && !missing_required(&resolved.template, &args.vars).is_empty() {
        // What was typed is checked first: a wrong value or override is refused before any question.
        build_request(&resolved.template, &args, true)?;
        crate::dialog::start(ctx, req, resolved, args, replaced).await;
        return Ok(());
    }
    let (plan, policy) = plan(ctx, resolved, &args)?;
    let note = replaced.map(|d| format!("(This replaces your open questions for {}.)", d.template_name()));
    confirm_or_launch(ctx, req, plan, policy, args.yes, note).await
}

/// Asks for the confirmation a plan needs (or starts it at once where none is needed).
pub(crate) async fn confirm_or_launch(
    ctx: Ctx<'_>,
    req: &Request,
    plan: RunPlan,
    policy: ConfirmPolicy,
    yes: bool,
    note: Option<String>,
) -> Result<(), CommandError> {
    let with_note = |question: Reply| match &note {
        Some(note) => question.line().push(note),
        None => question,
    };
    match policy {
        ConfirmPolicy::None => launch(ctx, req, plan, &req.sender.clone()).await.map(drop),
        // A hook cannot answer a question: a person who may run it here confirms for it.
        ConfirmPolicy::Confirm if req.via_hook.is_some() => {
            let hook = req.via_hook.as_deref().unwrap_or_default();
            let question = describe(ctx, Reply::notice(), &plan).line().push(&format!(
                "🪝 The hook `{hook}` asks for this run: somebody who may run it here confirms (👍 or \"yes\") or declines (👎 or \"no\")."
            ));
            let timeout = ctx.settings().run_confirm_timeout;
            ctx.ask(req, PendingAction::Run(Box::new(plan)), Approver::OtherAdmin, timeout, question).await;
            Ok(())
        }
        ConfirmPolicy::Confirm if yes => launch(ctx, req, plan, &req.sender.clone()).await.map(drop),
        ConfirmPolicy::Confirm => {
            let question = with_note(describe(ctx, ctx.greeting(req), &plan));
            let timeout = ctx.settings().run_confirm_timeout;
            ctx.ask(req, PendingAction::Run(Box::new(plan)), Approver::Requester, timeout, question).await;
            Ok(())
        }
        ConfirmPolicy::TwoPerson => {
            let mut question = describe(ctx, ctx.greeting(req), &plan)
                .line()
                .push("🔐 This run needs a second person's approval.");
            if yes {
                question = question.push(" (--yes cannot skip that.)");
            }
            let question = with_note(question);
            let timeout = ctx.settings().run_confirm_timeout;
            ctx.ask(req, PendingAction::Run(Box::new(plan)), Approver::OtherAdmin, timeout, question).await;
            Ok(())
        }
    }
}


/// What a run is about, found and allowed: the instance, project and template, and whether a
/// grant wants a second person to approve.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub instance: InstanceId,
    pub project: Project,
    pub template: Template,
    pub second_person: bool,
}

/// Finds the project and template a reference names (by id or name, the only one when left
/// out) and checks the requester may do `action` on it.
pub(crate) async fn resolve(
    ctx: Ctx<'_>,
    req: &Request,
    project: Option<&ProjectRef>,
    template: Option<&str>,
    action: Permission,
) -> Result<Resolved, CommandError> {
    let (instance, project) = pick_project(ctx, req, project).await?;
    let templates = instance.semaphore.templates(project.id).await.on(instance.id)?;
    let tag = tag(ctx.instances(), instance.id);
    let template = match (template, templates.as_slice()) {
        (Some(given), _) => resolve::find("template", &templates, given)
            .map_err(|e| CommandError::Usage(format!("{tag}{}", e.describe())))?
            .clone(),
        (None, [only]) => only.clone(),
        (None, []) => {
            return Err(CommandError::Refused(format!("{tag}Project {} has no templates to run.", project.name)));
        }
        (None, many) => {
            return Err(CommandError::Usage(format!(
                "{tag}Which template of {}? {}.",
                project.name,
                many.iter().map(|t| format!("{} ({})", t.name, t.id)).collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let target = Target {
        instance: Some(instance.id),
        project_id: Some(project.id.get()),
        project: Some(&project.name),
        template_id: Some(template.id.get()),
        template: Some(&template.name),
        some_of: false,
    };
    // A grant that wants a second person makes the run two-person, whatever the template's
    // own policy says.
    let second_person = ctx.authorize(req, action, &target).await?;
    Ok(Resolved { instance: instance.id, project, template, second_person })
}

/// The plan of a resolved run with these options, and the confirmation it needs.
pub(crate) fn plan(ctx: Ctx<'_>, resolved: Resolved, args: &Args) -> Result<(RunPlan, ConfirmPolicy), CommandError> {
    let request = build_request(&resolved.template, args, false)?;
    let policy = match ctx.settings().policy_for(resolved.instance, &resolved.project, &resolved.template) {
        _ if resolved.second_person => ConfirmPolicy::TwoPerson,
        policy => policy,
    };
    let plan = RunPlan { instance: resolved.instance, project: resolved.project, template: resolved.template, request };
    Ok((plan, policy))
}

/// Where tags are switched on differs between server versions.
const TAGS_HOW: &str = "turn on its \"Tags\" prompt in Semaphore (2.13 and newer), or on 2.10 \"Allow CLI args in task\", as tags then travel as arguments";

/// Maps the user's options onto a start request, refusing what the template would ignore.
/// With `allow_missing`, required variables may still be missing (a dialog will ask).
pub(crate) fn build_request(template: &Template, args: &Args, allow_missing: bool) -> Result<StartTask, CommandError> {
    let refuse = |what: &str, why: &str| {
        Err(CommandError::Refused(format!(
            "Template {} does not allow {what}: {why}. Semaphore would silently ignore it, so I won't start the run.",
            template.name
        )))
    };
    let ansible_only = [
        (!args.tags.is_empty(), "--tags"),
        (!args.skip_tags.is_empty(), "--skip-tags"),
        (!args.limit.is_empty(), "--limit"),
        (args.dry_run, "--dry-run"),
        (args.diff, "--diff"),
        (args.debug, "--debug"),
    ];
    if template.app != App::Ansible
        && let Some((_, flag)) = ansible_only.iter().find(|(given, _)| *given)
    {
        return refuse(flag, &format!("{flag} is for Ansible templates and this one runs {}", template.app.as_str()));
    }
    let policy = &template.params_policy;
    let checks = [
        (!args.tags.is_empty(), policy.allow_override_tags, "tags", TAGS_HOW),
        (!args.skip_tags.is_empty(), policy.allow_override_skip_tags, "--skip-tags", TAGS_HOW),
        (!args.limit.is_empty(), policy.allow_override_limit, "--limit", "its prompt \"Limit\" is off"),
        (args.debug, policy.allow_debug, "--debug", "its prompt \"Debug\" is off"),
        (args.branch.is_some(), policy.allow_override_branch, "--branch", "overriding the branch is off"),
        (
            !args.arguments.is_empty(),
            template.allow_override_args_in_task,
            "--args",
            "\"Allow CLI args in task\" is off",
        ),
    ];
    for (given, allowed, what, why) in checks {
        if given && !allowed {
            return refuse(what, why);
        }
    }
    if let Some(branch) = args.branch.as_deref().filter(|b| !valid_branch(b)) {
        return Err(CommandError::Usage(format!("`{branch}` is not a git branch name.")));
    }
    let (environment, secrets) = survey_values(template, &args.vars, allow_missing)?;
    Ok(StartTask {
        template_id: template.id,
        message: args.message.clone(),
        debug: args.debug,
        dry_run: args.dry_run,
        diff: args.diff,
        limit: args.limit.clone(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        arguments: args.arguments.clone(),
        git_branch: args.branch.clone(),
        environment,
        secrets,
    })
}

type Values = BTreeMap<String, String>;

/// Checks `--var` values against the template's survey: types, enum choices, required ones (the
/// server does not enforce `required`), defaults (newer servers do not apply them over the API).
/// With `allow_missing`, required variables left out are not an error (a dialog asks for them).
fn survey_values(
    template: &Template,
    given: &[(String, String)],
    allow_missing: bool,
) -> Result<(Values, Values), CommandError> {
    let mut environment = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for (name, value) in given {
        // Only what the template declares: anything else would reach the run as an extra
        // variable of the caller's choosing (Ansible's `ansible_ssh_common_args` runs commands on
        // the runner), also on a template that declares none.
        let Some(var) = template.survey_vars.iter().find(|v| &v.name == name) else {
            return Err(CommandError::Usage(unknown_variable(template, name)));
        };
        let value = crate::survey::check(var, value, crate::survey::Given::Flag).map_err(CommandError::Usage)?;
        if template.app == App::Ansible && templated(&value) {
            return Err(CommandError::Usage(format!(
                "`{name}`'s value holds Jinja markup (`{{{{`, `{{%` or `{{#`), which Ansible would evaluate on the runner as code; give it without."
            )));
        }
        if var.var_type == SurveyVarType::Secret {
            secrets.insert(name.clone(), value);
        } else {
            environment.insert(name.clone(), value);
        }
    }
    let missing = missing_required(template, given);
    for var in &template.survey_vars {
        if environment.contains_key(&var.name) || secrets.contains_key(&var.name) {
            continue;
        }
        match &var.default_value {
            Some(default) if var.var_type == SurveyVarType::Secret => {
                secrets.insert(var.name.clone(), default.clone());
            }
            Some(default) => {
                environment.insert(var.name.clone(), default.clone());
            }
            None => {}
        }
    }
    if !missing.is_empty() && !allow_missing {
        let wanted: Vec<String> = missing
            .iter()
            .map(|var| {
                let title = if var.title.is_empty() { String::new() } else { format!(" ({})", var.title) };
                format!("--var {}=…{title}", var.name)
            })
            .collect();
        return Err(CommandError::Usage(format!("Template {} needs: {}.", template.name, wanted.join(", "))));
    }
    Ok((environment, secrets))
}

/// "Template X has no variable `y`", with a suggestion and the ones it has.
pub(crate) fn unknown_variable(template: &Template, name: &str) -> String {
    if template.survey_vars.is_empty() {
        return format!(
            "Template {} asks for no variables, so `{name}` cannot be given: it would reach the run as an extra variable the template does not declare.",
            template.name
        );
    }
    let known: Vec<&str> = template.survey_vars.iter().map(|v| v.name.as_str()).collect();
    let hint =
        crate::grammar::suggest(name, known.iter().copied()).map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default();
    format!("Template {} has no variable `{name}`.{hint} It asks for: {}.", template.name, known.join(", "))
}

/// Whether a value holds Jinja markup, which Ansible evaluates wherever the variable is used
/// (extra variables are not marked unsafe), so that a value could run code on the runner.
fn templated(value: &str) -> bool {
    ["{{", "{%", "{#"].iter().any(|open| value.contains(open))
}

/// Whether git would take `name` as a branch (`git check-ref-format --branch`, roughly), and it
/// cannot be read as an option by the tools Semaphore hands it to.
pub(crate) fn valid_branch(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name.chars().any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
}

/// A secret variable's value typed in a command is in the room's history for everybody there:
/// the command is deleted (where the room lets the bot), as a secret typed as an answer is.
pub(crate) async fn delete_typed_secret(ctx: Ctx<'_>, req: &Request, template: &Template, typed: &[(String, String)]) {
    let secret = |name: &String| template.survey_vars.iter().any(|v| &v.name == name && v.var_type == SurveyVarType::Secret);
    if req.via_hook.is_some() || !typed.iter().any(|(name, _)| secret(name)) {
        return;
    }
    if let Err(e) = ctx.chat().redact(&req.room, &req.event_id, Some("it held a secret value".into())).await {
        tracing::debug!(error = %e, "could not delete a command holding a secret value");
    }
}

/// The required variables that have no value given and no default.
pub(crate) fn missing_required<'t>(template: &'t Template, given: &[(String, String)]) -> Vec<&'t SurveyVar> {
    template
        .survey_vars
        .iter()
        .filter(|v| v.required && v.default_value.is_none() && !given.iter().any(|(k, _)| k == &v.name))
        .collect()
}

/// The confirmation question: everything that will be sent, secrets masked.
pub(crate) fn describe(ctx: Ctx<'_>, greeting: Reply, plan: &RunPlan) -> Reply {
    let t = &plan.template;
    let r = &plan.request;
    let mut rows = Vec::new();
    if ctx.instances().is_multi() {
        rows.push(vec!["Instance".to_owned(), plan.instance.to_string()]);
    }
    rows.extend([
        vec!["Project".to_owned(), format!("{} ({})", plan.project.name, plan.project.id)],
        vec!["Template".to_owned(), format!("{} ({})", t.name, t.id)],
        vec!["Runs".to_owned(), t.app.as_str().to_owned()],
    ]);
    if let Some(d) = t.description.as_deref().filter(|d| !d.trim().is_empty()) {
        rows.push(vec!["Description".to_owned(), d.replace('¶', " ")]);
    }
    let lists = [("Tags", &r.tags), ("Skip tags", &r.skip_tags), ("Limit", &r.limit)];
    for (name, list) in lists {
        if !list.is_empty() {
            rows.push(vec![name.to_owned(), list.join(", ")]);
        }
    }
    if !r.arguments.is_empty() {
        rows.push(vec!["Arguments".to_owned(), r.arguments.join(" ")]);
    }
    if let Some(b) = &r.git_branch {
        rows.push(vec!["Branch".to_owned(), b.clone()]);
    }
    let mut modes = Vec::new();
    for (on, name) in [(r.dry_run, "dry run"), (r.diff, "diff"), (r.debug, "debug")] {
        if on {
            modes.push(name);
        }
    }
    if !modes.is_empty() {
        rows.push(vec!["Mode".to_owned(), modes.join(", ")]);
    }
    for (k, v) in &r.environment {
        rows.push(vec![format!("Variable {k}"), v.clone()]);
    }
    for k in r.secrets.keys() {
        rows.push(vec![format!("Variable {k}"), "•••••• (secret)".to_owned()]);
    }
    if let Some(m) = &r.message {
        rows.push(vec!["Message".to_owned(), m.clone()]);
    }
    let tag = tag(ctx.instances(), plan.instance);
    let question = greeting.bold(&format!("🚀 {tag}Ready to run {}?", t.name)).table(&["", ""], &rows);
    let secret_names: Vec<&str> = r.secrets.keys().map(String::as_str).collect();
    match crate::survey::secrets_warning(t, &secret_names) {
        Some(warning) => question.line().push(&warning),
        None => question,
    }
}

/// What the history keeps of a run's request: every option and variable, never a secret value.
fn recorded_parameters(request: &StartTask) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        request.environment.iter().map(|(k, v)| (format!("var.{k}"), v.clone())).collect();
    out.extend(request.secrets.keys().map(|k| (format!("var.{k}"), "(secret)".to_owned())));
    for (name, list) in [("tags", &request.tags), ("skip_tags", &request.skip_tags), ("limit", &request.limit)] {
        if !list.is_empty() {
            out.insert(name.to_owned(), list.join(","));
        }
    }
    if !request.arguments.is_empty() {
        out.insert("arguments".to_owned(), request.arguments.join(" "));
    }
    if let Some(b) = &request.git_branch {
        out.insert("branch".to_owned(), b.clone());
    }
    for (name, on) in [("dry_run", request.dry_run), ("diff", request.diff), ("debug", request.debug)] {
        if on {
            out.insert(name.to_owned(), "true".to_owned());
        }
    }
    out
}

/// Starts the task, posts its status message and begins watching it.
pub(crate) async fn launch(
    ctx: Ctx<'_>,
    req: &Request,
    plan: RunPlan,
    approved_by: &UserId,
) -> Result<chatrixcd_ports::TaskRef, CommandError> {
    let instance = ctx
        .instances()
        .get(plan.instance)
        .ok_or_else(|| CommandError::Refused(format!("Instance {} is no longer configured.", plan.instance)))?;
    let task = instance.semaphore.start_task(plan.project.id, plan.request.clone()).await.on(instance.id)?;
    ctx.core().meter.task_started(instance.id);
    tracing::info!(
        instance = %instance.id, project = %plan.project.id, template = %plan.template.name, task = %task.id,
        room = %req.room, requester = %req.sender, approved_by = %approved_by, "task started"
    );
    let now = ctx.now();
    let mut tracked = TrackedTask {
        instance: instance.id,
        project: plan.project.id,
        task: task.id,
        template: plan.template.id,
        template_name: plan.template.name.clone(),
        room: req.room.clone(),
        requester: req.sender.clone(),
        status_event: None,
        last_status: task.status.clone(),
        started_at: now,
        stop_requested_by: None,
    };
    let phrase = ctx.personality().pick(Category::TaskStart, &[("task_name", &plan.template.name)]);
    let mut status = crate::watch::status_message(ctx.core(), &tracked, Some(&task), now);
    status = Reply::notice().push_rich(&phrase.plain, &phrase.html).line().push_rich(status.plain(), status.html());
    if approved_by != &req.sender {
        status = status.line().push(&format!("Approved by {approved_by}."));
    }
    tracked.status_event = ctx.reply(req, status).await;
    let task_ref = tracked.task_ref();
    let run = RunRecord {
        id: 0,
        room: req.room.clone(),
        requester: req.sender.clone(),
        instance: instance.id,
        project: plan.project.id,
        project_name: plan.project.name.clone(),
        template: plan.template.id,
        template_name: plan.template.name.clone(),
        task: task.id,
        // Redacted like everything the bot posts: `--args="--password=…"` is kept masked.
        parameters: recorded_parameters(&plan.request)
            .into_iter()
            .map(|(k, v)| (k, ctx.out().redactor().redact(&v).into_owned()))
            .collect(),
        started_at: now,
        ended_at: None,
        result: None,
    };
    if let Err(e) = ctx.store().record_run(run).await {
        tracing::error!(error = %e, "could not record a run in the history");
    }
    let approval = if approved_by == &req.sender { String::new() } else { format!(", approved by {approved_by}") };
    let label = task_label(ctx.instances(), instance.id, task.id);
    ctx.audit(req, "run.start", format!("{} / {} as task {label}{approval}", plan.project.name, plan.template.name))
        .await;
    ctx.store().set_last_task(&req.room, task_ref).await?;
    // A room that asked for logs (`logs on`) gets every run's output in its status thread.
    if let Some(status_event) = tracked.status_event.clone()
        && crate::tail::room_tails_runs(ctx.core(), &req.room).await
    {
        crate::tail::follow(ctx.core(), req.room.clone(), task_ref, status_event);
    }
    ctx.store().track(tracked).await?;
    crate::watch::watch_soon(ctx.core(), instance.id);
    Ok(task_ref)
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{InstanceId, Page, ProjectId, Store as _, TaskId};
    use chrono::Duration;

    use crate::testing::{Harness, admin, room};

    fn tasks_on(h: &Harness, instance: usize) -> Vec<chatrixcd_sim_semaphore::SimTask> {
        h.sims[instance].model().recent_tasks(ProjectId::new(1), 10).unwrap()
    }

    #[tokio::test]
    async fn a_qualified_reference_runs_on_its_instance_and_is_recorded_there() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd run staging:ops:deploy-web --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] deploy-web · task #1 · waiting"), "{said}");
        assert!(said.contains("https://staging.semaphore.test/project/1/templates/1?t=1"), "{said}");
        let started = tasks_on(&h, 1);
        assert_eq!(started.len(), 1);
        assert_eq!((started[0].id, started[0].template_name.as_str()), (TaskId::new(1), "deploy-web"));
        assert!(tasks_on(&h, 0).is_empty(), "nothing on production, the room's instance");
        let staging = InstanceId::parse("staging").unwrap();
        let runs = h.store.runs(Page { limit: 10, before: None }).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].instance, runs[0].task, runs[0].requester.clone()), (staging, TaskId::new(1), admin()));
        let audit = h.store.audit(Page { limit: 10, before: None }).await.unwrap();
        assert!(
            audit.iter().any(|a| a.action == "run.start" && a.detail == "ops / deploy-web as task #1 on staging"),
            "{audit:?}"
        );
        assert_eq!(h.store.last_task(&room()).await.unwrap().map(|t| t.instance), Some(staging));
        h.advance(Duration::seconds(30)).await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("✅ [staging] deploy-web (task #1) finished successfully"), "{said}");
    }

    #[tokio::test]
    async fn unknown_instances_bad_references_and_unknown_templates_start_nothing() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd run prodution:ops:deploy-web --yes").await;
        h.say(&admin(), "!cd run staging:ops:deploy-web:x --yes").await;
        h.say(&admin(), "!cd run staging:ops:deploy-web web db --yes").await;
        h.say(&admin(), "!cd run staging:ops:nope --yes").await;
        h.say(&admin(), "!cd run staging:ops --yes").await;
        let said = h.chat.bodies();
        assert_eq!(said.len(), 5, "{said:?}");
        assert!(
            said[0].starts_with("🤔 There is no Semaphore instance `prodution`. Did you mean `production`?"),
            "{said:?}"
        );
        assert!(said[1].starts_with("🤔 `staging:ops:deploy-web:x` has too many parts"), "{said:?}");
        assert!(said[2].contains("names the template already; give the tags once, e.g. --tags=web."), "{said:?}");
        assert!(said[3].starts_with("🤔 [staging] No template `nope`. Known: deploy-web (1), hello (2)"), "{said:?}");
        assert!(said[4].starts_with("🤔 [staging] Which template of ops? deploy-web (1), hello (2)"), "{said:?}");
        assert!(said.iter().all(|s| s.contains("Usage: `!cd run [project] [template] [tags]")), "{said:?}");
        assert!(tasks_on(&h, 0).is_empty() && tasks_on(&h, 1).is_empty());
        assert!(h.store.runs(Page { limit: 10, before: None }).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_question_names_the_instance_and_masks_secrets_which_the_history_never_keeps() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd run staging:ops:hello-args --var who=ann --var env=Staging --var api_key=hunter2").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("🚀 [staging] Ready to run hello-args?"), "{said}");
        assert!(said.contains("Instance          staging"), "{said}");
        assert!(said.contains("Variable env      stage"), "an enum choice is sent as its value\n{said}");
        assert!(said.contains("Variable api_key  •••••• (secret)") && !said.contains("hunter2"), "{said}");
        assert!(tasks_on(&h, 1).is_empty(), "nothing starts before the answer");
        h.say(&admin(), "yes").await;
        let started = tasks_on(&h, 1);
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].environment.get("who").map(String::as_str), Some("ann"));
        assert_eq!(started[0].environment.get("env").map(String::as_str), Some("stage"));
        let runs = h.store.runs(Page { limit: 10, before: None }).await.unwrap();
        let kept = &runs[0].parameters;
        assert_eq!(kept.get("var.api_key").map(String::as_str), Some("(secret)"), "{kept:?}");
        assert_eq!(kept.get("var.who").map(String::as_str), Some("ann"), "{kept:?}");
    }

    fn ansible_template() -> chatrixcd_ports::semaphore::Template {
        use chatrixcd_ports::semaphore::{SurveyVar, TaskParamsPolicy, Template};
        Template {
            name: "deploy".into(),
            params_policy: TaskParamsPolicy { allow_override_branch: true, ..Default::default() },
            survey_vars: vec![
                SurveyVar { name: "version".into(), ..Default::default() },
                SurveyVar {
                    name: "token".into(),
                    var_type: chatrixcd_ports::semaphore::SurveyVarType::Secret,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn request(template: &chatrixcd_ports::semaphore::Template, vars: &[(&str, &str)], branch: Option<&str>) -> String {
        let args = super::Args {
            vars: vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            branch: branch.map(str::to_owned),
            ..Default::default()
        };
        match super::build_request(template, &args, false) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn only_the_variables_a_template_declares_reach_the_run_even_where_it_declares_none() {
        let h = Harness::single().await;
        // deploy-web declares no variable: an extra one would be an Ansible extra var of the
        // caller's choosing.
        h.say(&admin(), "!cd run ops deploy-web --var ansible_ssh_common_args=-oProxyCommand=id --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(
            said.contains("Template deploy-web asks for no variables, so `ansible_ssh_common_args` cannot be given"),
            "{said}"
        );
        assert!(tasks_on(&h, 0).is_empty());
        let mut template = ansible_template();
        assert!(request(&template, &[("become_exe", "x")], None).contains("has no variable `become_exe`"));
        template.survey_vars.clear();
        assert!(request(&template, &[("x", "1")], None).contains("asks for no variables"));
    }

    #[test]
    fn jinja_in_a_value_is_refused_for_ansible_never_echoing_a_secret() {
        let template = ansible_template();
        assert_eq!(request(&template, &[("version", "1.2.3")], None), "ok");
        for value in ["{{ lookup('pipe', 'id') }}", "{% for x in y %}", "a{#b"] {
            let refused = request(&template, &[("version", value)], None);
            assert!(refused.contains("Jinja markup"), "{value}: {refused}");
            let refused = request(&template, &[("token", value)], None);
            assert!(refused.contains("`token`'s value holds Jinja markup") && !refused.contains(value), "{refused}");
        }
        // Terraform and scripts do not evaluate Jinja: a value is a value there.
        let bash = chatrixcd_ports::semaphore::Template { app: chatrixcd_ports::semaphore::App::Bash, ..template };
        assert_eq!(request(&bash, &[("version", "{{ x }}")], None), "ok");
    }

    #[test]
    fn a_branch_must_be_a_branch_name_not_an_option() {
        let template = ansible_template();
        assert_eq!(request(&template, &[], Some("release/2.5")), "ok");
        for bad in ["--upload-pack=touch /tmp/x", "-x", "a b", "a..b", "a~1", "x.lock", "", "a\u{7}b", "/abs"] {
            assert_eq!(request(&template, &[], Some(bad)), format!("`{bad}` is not a git branch name."), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_command_holding_a_secret_value_is_deleted_and_the_history_keeps_arguments_redacted() {
        let h = Harness::single().await;
        let typed = h
            .say_in(
                &room(),
                &admin(),
                "!cd run ops hello-args --var who=ann --var env=prod --var api_key=hunter2hunter2 --args=\"--password=pa55w0rd-xyz\" --yes",
                None,
            )
            .await;
        assert!(h.chat.redacted.lock().unwrap().iter().any(|(r, e)| r == &room() && e == &typed), "deleted");
        assert_eq!(tasks_on(&h, 0).len(), 1);
        let runs = h.store.runs(Page { limit: 10, before: None }).await.unwrap();
        let kept = format!("{:?}", runs[0].parameters);
        assert!(!kept.contains("hunter2hunter2") && !kept.contains("pa55w0rd-xyz"), "{kept}");
        assert!(kept.contains("--password=[REDACTED]"), "{kept}");
        // Without a secret, the command stays.
        let plain = h.say_in(&room(), &admin(), "!cd run ops hello --var who=bea --yes", None).await;
        assert!(!h.chat.redacted.lock().unwrap().iter().any(|(_, e)| e == &plain));
    }
}
