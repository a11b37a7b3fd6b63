//! `preset save|list|show|remove`: a template's run options saved under a name, for
//! `run --preset` and `schedule add --preset`. A preset is for one template; its variables are
//! checked against the template when it is saved and again each time it is used (a variable
//! the template no longer has is reported, never sent). Secret values are stored sealed with
//! the bot's key, never plain. Saving for oneself needs `run` on the template; for a room or
//! for everybody, `presets` as well.

use chatrixcd_ports::semaphore::{SurveyVarType, Template};
use chatrixcd_ports::{Preset, PresetScope, RoomId, UserId};

use crate::commands::run::{self, Args, Resolved};
use crate::commands::{Command, CommandError, needs_project_instance};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::instances::ProjectRef;
use crate::permissions::{Permission, Target};
use crate::render::Reply;

static SAVE_ARGS: [ArgSpec; 3] = [
    ArgSpec { name: "name", kind: ValueKind::Word, required: true, help: "what to call it (letters, digits, - and _)" },
    run::PROJECT_ARG,
    run::TEMPLATE_ARG,
];

const SCOPE: FlagSpec = FlagSpec {
    name: "scope",
    aliases: &[],
    value: Some(ValueKind::Word),
    repeatable: false,
    help: "who may use it: me (default), room (this room) or all",
};

/// `run`'s options but `--preset` and `--yes`, and `--scope`.
static SAVE_FLAGS: [FlagSpec; 11] = {
    let mut out = [SCOPE; 11];
    let mut i = 0;
    // run::FLAGS ends with --preset and --yes, which a preset does not hold.
    while i < 10 {
        out[i] = run::FLAGS[i];
        i += 1;
    }
    out
};

static NAME_ARG: [ArgSpec; 1] =
    [ArgSpec { name: "name", kind: ValueKind::Word, required: true, help: "the preset's name, as `preset list` shows it" }];

static REMOVE_FLAGS: [FlagSpec; 1] = [SCOPE];

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "preset",
    aliases: &["presets"],
    summary: "Saved run options for a template: save, list, show or remove a preset",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec { name: "list", aliases: &["ls"], summary: "The presets you may use here", ..CommandSpec::BASE },
        CommandSpec {
            name: "save",
            summary: "Save a template's variables and options under a name",
            args: &SAVE_ARGS,
            flags: &SAVE_FLAGS,
            examples: &["preset save prod-web 1 1 --limit web --scope room", "preset save greet ops hello-args --var who=ann --var env=prod"],
            permission: Some(Permission::Run),
            ..CommandSpec::BASE
        },
        CommandSpec { name: "show", summary: "A preset, checked against its template now", args: &NAME_ARG, ..CommandSpec::BASE },
        CommandSpec {
            name: "remove",
            aliases: &["rm", "delete"],
            summary: "Remove a preset",
            args: &NAME_ARG,
            flags: &REMOVE_FLAGS,
            permission: Some(Permission::Run),
            ..CommandSpec::BASE
        },
    ],
    examples: &["preset list", "preset save nightly prod:1:5 --var env=prod", "run 1 5 --preset nightly"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_project_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    match p.sub() {
        Some("save") => save(ctx, req, p).await,
        Some("show") => show(ctx, req, p).await,
        Some("remove") => remove(ctx, req, p).await,
        _ => list(ctx, req).await,
    }
}

fn target(preset: &Preset) -> Target<'_> {
    Target {
        instance: Some(preset.instance),
        project_id: Some(preset.project.get()),
        project: Some(&preset.project_name),
        template_id: Some(preset.template.get()),
        template: Some(&preset.template_name),
        some_of: false,
    }
}

fn scope_of(given: Option<&str>, req: &Request) -> Result<PresetScope, CommandError> {
    match given.map(str::to_ascii_lowercase).as_deref() {
        None | Some("me" | "mine" | "user") => Ok(PresetScope::User(req.sender.clone())),
        Some("room" | "here") => Ok(PresetScope::Room(req.room.clone())),
        Some("all" | "everyone" | "global") => Ok(PresetScope::All),
        Some(other) => Err(CommandError::Usage(format!("`--scope {other}` is not one of: me, room, all."))),
    }
}

fn scope_words(scope: &PresetScope, room: &RoomId) -> String {
    match scope {
        PresetScope::User(user) => format!("{user}'s"),
        PresetScope::Room(r) if r == room => "this room's".to_owned(),
        PresetScope::Room(r) => format!("{r}'s"),
        PresetScope::All => "everybody's".to_owned(),
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The presets `user` may use in `room`: their own, the room's, everybody's.
pub(crate) async fn usable(ctx: Ctx<'_>, user: &UserId, room: &RoomId) -> Result<Vec<Preset>, CommandError> {
    let all = ctx.store().presets().await?;
    let mut usable: Vec<Preset> = all
        .into_iter()
        .filter(|p| match &p.scope {
            PresetScope::User(u) => u == user,
            PresetScope::Room(r) => r == room,
            PresetScope::All => true,
        })
        .collect();
    // One's own first, then the room's, then everybody's: the first of a name wins.
    usable.sort_by_key(|p| (matches!(p.scope, PresetScope::All), matches!(p.scope, PresetScope::Room(_)), p.name.clone()));
    Ok(usable)
}

/// The preset `name` as `user` sees it in `room` (their own before the room's before everybody's).
pub(crate) async fn find(ctx: Ctx<'_>, user: &UserId, room: &RoomId, name: &str) -> Result<Preset, CommandError> {
    let usable = usable(ctx, user, room).await?;
    if let Some(found) = usable.iter().find(|p| p.name == name) {
        return Ok(found.clone());
    }
    let hint = crate::grammar::suggest(name, usable.iter().map(|p| p.name.as_str()))
        .map(|s| format!(" Did you mean `{s}`?"))
        .unwrap_or_default();
    Err(CommandError::Refused(format!("There is no preset `{name}` here.{hint} (`{} preset list` shows them.)", ctx.prefix())))
}

/// `args` on top of the preset `name`: the preset's target when the run names none, its options
/// where the run gives none, its variables (secrets opened) with the run's `--var`s winning.
pub(crate) async fn apply(ctx: Ctx<'_>, user: &UserId, room: &RoomId, name: &str, args: Args) -> Result<(Args, Preset), CommandError> {
    let preset = find(ctx, user, room, name).await?;
    let mut out = args;
    if out.project.is_none() {
        let reference = format!("{}:{}:{}", preset.instance, preset.project, preset.template);
        let parsed = ProjectRef::parse(&reference).map_err(|e| CommandError::Usage(e.to_string()))?;
        out.template = parsed.template.clone();
        out.project = Some(parsed);
    }
    let fill = |mine: &mut Vec<String>, theirs: &[String]| {
        if mine.is_empty() {
            mine.extend(theirs.iter().cloned());
        }
    };
    fill(&mut out.tags, &preset.tags);
    fill(&mut out.skip_tags, &preset.skip_tags);
    fill(&mut out.limit, &preset.limit);
    fill(&mut out.arguments, &preset.arguments);
    out.branch = out.branch.or_else(|| preset.branch.clone());
    out.dry_run |= preset.dry_run;
    out.diff |= preset.diff;
    out.debug |= preset.debug;
    let mut vars = preset.vars.clone();
    if !preset.sealed.is_empty() {
        let sealer = ctx.sealer().ok_or_else(|| {
            CommandError::Refused(format!("Preset `{name}` holds secret values, and this bot has no key to open them (see docs/configuration.md, bot.secrets_key_file)."))
        })?;
        for (key, sealed) in &preset.sealed {
            let value = sealer.open(sealed).map_err(|e| CommandError::Refused(format!("Preset `{name}`: `{key}`: {e}.")))?;
            vars.push((key.clone(), value));
        }
    }
    for (key, value) in std::mem::take(&mut out.vars) {
        vars.retain(|(k, _)| k != &key);
        vars.push((key, value));
    }
    out.vars = vars;
    Ok((out, preset))
}

/// The preset still fits the resolved run: same template, and every variable it sets is one
/// the template still has.
pub(crate) fn check(preset: &Preset, resolved: &Resolved) -> Result<(), CommandError> {
    let t = &resolved.template;
    if resolved.instance != preset.instance || t.id != preset.template || resolved.project.id != preset.project {
        return Err(CommandError::Usage(format!(
            "Preset `{}` is for {} ({}) in {}, not {} ({}).",
            preset.name, preset.template_name, preset.template, preset.project_name, t.name, t.id
        )));
    }
    let gone = removed_variables(preset, t);
    if !gone.is_empty() {
        return Err(CommandError::Refused(format!(
            "Preset `{}` sets {}, which {} no longer asks for; I won't send {}. Save the preset again without {}.",
            preset.name,
            gone.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", "),
            t.name,
            if gone.len() == 1 { "it" } else { "them" },
            if gone.len() == 1 { "it" } else { "them" }
        )));
    }
    Ok(())
}

fn removed_variables<'p>(preset: &'p Preset, t: &Template) -> Vec<&'p str> {
    if t.survey_vars.is_empty() && preset.sealed.is_empty() {
        // A template without a survey takes any variable (as extra vars).
        return Vec::new();
    }
    preset
        .vars
        .iter()
        .chain(&preset.sealed)
        .map(|(k, _)| k.as_str())
        .filter(|k| !t.survey_vars.iter().any(|v| v.name == *k))
        .collect()
}

async fn save(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let name = p.arg("name").unwrap_or_default().to_owned();
    if !valid_name(&name) {
        return Err(CommandError::Usage(format!("`{name}` cannot be a preset's name: use letters, digits, - and _ (at most 64).")));
    }
    let scope = scope_of(p.flag("scope"), req)?;
    let args = Args::from_parsed(p)?;
    let resolved = run::resolve(ctx, req, args.project.as_ref(), args.template.as_deref(), Permission::Run).await?;
    let t = &resolved.template;
    run::delete_typed_secret(ctx, req, t, &args.vars).await;
    // Checked as a run would be now: overrides the template allows, values of the right type.
    let checked = run::build_request(t, &args, true)?;
    let mut preset = Preset {
        name: name.clone(),
        scope: scope.clone(),
        owner: req.sender.clone(),
        instance: resolved.instance,
        project: resolved.project.id,
        project_name: resolved.project.name.clone(),
        template: t.id,
        template_name: t.name.clone(),
        vars: Vec::new(),
        sealed: Vec::new(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        limit: args.limit.clone(),
        arguments: args.arguments.clone(),
        branch: args.branch.clone(),
        dry_run: args.dry_run,
        diff: args.diff,
        debug: args.debug,
        created_at: ctx.now(),
    };
    for (key, value) in &args.vars {
        let secret = t.survey_vars.iter().any(|v| &v.name == key && v.var_type == SurveyVarType::Secret);
        if secret {
            let sealer = ctx.sealer().ok_or_else(|| {
                CommandError::Refused(format!("`{key}` is secret, and this bot has no key to seal secrets with, so the preset cannot hold it (see docs/configuration.md, bot.secrets_key_file). Leave it out: a run asks for it."))
            })?;
            let sealed = sealer.seal(value).map_err(|e| CommandError::Refused(format!("`{key}`: {e}.")))?;
            preset.sealed.push((key.clone(), sealed));
        } else {
            // As the run will send it (an enum choice by its value).
            let sent = checked.environment.get(key).cloned().unwrap_or_else(|| value.clone());
            preset.vars.push((key.clone(), sent));
        }
    }
    if scope != PresetScope::User(req.sender.clone()) {
        ctx.authorize(req, Permission::Presets, &target(&preset)).await?;
    }
    let existing = ctx.store().presets().await?.into_iter().find(|e| e.scope == scope && e.name == name);
    if let Some(old) = &existing
        && old.owner != req.sender
    {
        ctx.authorize(req, Permission::Presets, &target(old)).await?;
    }
    ctx.store().put_preset(preset.clone()).await?;
    let verb = if existing.is_some() { "replaced" } else { "saved" };
    ctx.audit(req, "preset.save", format!("{name} ({}) for {} / {}", scope.key(), preset.project_name, preset.template_name)).await;
    let reply = Reply::notice()
        .push(&format!("💾 Preset `{name}` {verb} as {} preset for {} ({}): {}. Use it with ", scope_words(&scope, &req.room), t.name, t.id, summary(&preset)))
        .code(&format!("{} run --preset {name}", ctx.prefix()))
        .push(".");
    ctx.reply(req, reply).await;
    Ok(())
}

/// The preset's values and options, secrets masked.
fn summary(preset: &Preset) -> String {
    let mut parts: Vec<String> = preset.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.extend(preset.sealed.iter().map(|(k, _)| format!("{k} (secret, sealed)")));
    for (name, list) in [("tags", &preset.tags), ("skip-tags", &preset.skip_tags), ("limit", &preset.limit)] {
        if !list.is_empty() {
            parts.push(format!("--{name}={}", list.join(",")));
        }
    }
    if !preset.arguments.is_empty() {
        parts.push(format!("--args=\"{}\"", preset.arguments.join(" ")));
    }
    if let Some(b) = &preset.branch {
        parts.push(format!("--branch={b}"));
    }
    for (on, name) in [(preset.dry_run, "--dry-run"), (preset.diff, "--diff"), (preset.debug, "--debug")] {
        if on {
            parts.push(name.to_owned());
        }
    }
    if parts.is_empty() { "no options".to_owned() } else { parts.join(" ") }
}

async fn list(ctx: Ctx<'_>, req: &Request) -> Result<(), CommandError> {
    let presets: Vec<Preset> =
        usable(ctx, &req.sender, &req.room).await?.into_iter().filter(|p| ctx.may(req, Permission::Read, &target(p))).collect();
    let reply = if presets.is_empty() {
        Reply::notice()
            .push("No presets here yet. ")
            .code(&format!("{} preset save <name> <project> <template> --var k=v", ctx.prefix()))
            .push(" saves one.")
    } else {
        let rows: Vec<Vec<String>> = presets
            .iter()
            .map(|p| {
                let place = if ctx.instances().is_multi() { format!("{}:{}", p.instance, p.project_name) } else { p.project_name.clone() };
                vec![p.name.clone(), scope_words(&p.scope, &req.room), format!("{} ({}) in {place}", p.template_name, p.template), summary(p)]
            })
            .collect();
        Reply::notice().bold("Presets").table(&["Name", "For", "Template", "Sets"], &rows)
    };
    ctx.reply(req, reply).await;
    Ok(())
}

async fn show(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let name = p.arg("name").unwrap_or_default();
    let preset = find(ctx, &req.sender, &req.room, name).await?;
    ctx.authorize(req, Permission::Read, &target(&preset)).await?;
    let mut reply = Reply::notice()
        .bold(&format!("💾 Preset `{}`", preset.name))
        .line()
        .push(&format!(
            "{} preset for {} ({}) in {}, saved by {} on {}.",
            crate::commands::grant::capitalised(&scope_words(&preset.scope, &req.room)),
            preset.template_name,
            preset.template,
            preset.project_name,
            preset.owner,
            preset.created_at.format("%Y-%m-%d")
        ))
        .line()
        .push(&format!("Sets: {}.", summary(&preset)));
    // Checked against the template as it is now.
    let status = match ctx.instances().get(preset.instance) {
        None => format!("⚠️ Its instance {} is no longer configured.", preset.instance),
        Some(instance) => match instance.semaphore.templates(preset.project).await {
            Err(e) => format!("⚠️ Could not check it against Semaphore: {}.", crate::bot::shown(ctx.core(), &e)),
            Ok(templates) => match templates.iter().find(|t| t.id == preset.template) {
                None => format!("⚠️ Its template {} ({}) is gone from Semaphore.", preset.template_name, preset.template),
                Some(t) => {
                    let gone = removed_variables(&preset, t);
                    if gone.is_empty() {
                        "✅ It fits its template as it is now.".to_owned()
                    } else {
                        format!("⚠️ {} no longer asks for {}; a run with this preset is refused until it is saved again.", t.name, gone.join(", "))
                    }
                }
            },
        },
    };
    reply = reply.line().push(&status);
    ctx.reply(req, reply).await;
    Ok(())
}

async fn remove(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let name = p.arg("name").unwrap_or_default();
    let preset = match p.flag("scope") {
        Some(given) => {
            let scope = scope_of(Some(given), req)?;
            ctx.store()
                .presets()
                .await?
                .into_iter()
                .find(|e| e.scope == scope && e.name == name)
                .ok_or_else(|| CommandError::Refused(format!("There is no preset `{name}` for {}.", scope_words(&scope, &req.room))))?
        }
        None => find(ctx, &req.sender, &req.room, name).await?,
    };
    if preset.owner != req.sender {
        ctx.authorize(req, Permission::Presets, &target(&preset)).await?;
    }
    ctx.store().remove_preset(&preset.scope, &preset.name).await?;
    ctx.audit(req, "preset.remove", format!("{} ({})", preset.name, preset.scope.key())).await;
    ctx.reply(req, Reply::notice().push(&format!("🗑️ Preset `{}` removed.", preset.name))).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{Page, PresetScope, ProjectId, Store as _, UserId};

    use crate::testing::{Harness, admin, room, settings};

    fn tasks(h: &Harness) -> Vec<chatrixcd_sim_semaphore::SimTask> {
        h.sims[0].model().recent_tasks(ProjectId::new(1), 10).unwrap()
    }

    #[tokio::test]
    async fn a_preset_is_saved_checked_used_with_overrides_and_its_secret_sealed() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd preset save greet ops hello-args --var who=ann --var env=Staging --var api_key=hunter2 --args=--loud").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("💾 Preset `greet` saved as @alice:test's preset for hello-args (8): who=ann env=stage api_key (secret, sealed) --args=\"--loud\""), "{said}");
        let stored = h.store.presets().await.unwrap();
        assert_eq!(stored.len(), 1);
        let json = serde_json::to_string(&stored[0]).unwrap();
        assert!(!json.contains("hunter2") && json.contains("v1:"), "sealed at rest: {json}");

        h.say(&admin(), "!cd preset list").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("greet") && said.contains("hello-args (8) in ops"), "{said}");
        h.say(&admin(), "!cd preset show greet").await;
        assert!(h.chat.bodies().join("\n").contains("✅ It fits its template as it is now."));

        // The preset names the target; --var wins over it.
        h.say(&admin(), "!cd run --preset greet --var who=bea").await;
        let asked = h.chat.bodies().join("\n");
        assert!(asked.contains("Ready to run hello-args?") && asked.contains("Variable who      bea"), "{asked}");
        assert!(asked.contains("Variable api_key  •••••• (secret)") && asked.contains("Arguments         --loud"), "{asked}");
        h.say(&admin(), "yes").await;
        let started = tasks(&h);
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].environment.get("who").map(String::as_str), Some("bea"));
        assert_eq!(started[0].environment.get("env").map(String::as_str), Some("stage"));
        let audit = h.store.audit(Page { limit: 20, before: None }).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "preset.save") && audit.iter().all(|a| !a.detail.contains("hunter2")));

        // Another template: refused, nothing starts.
        h.say(&admin(), "!cd run ops hello --preset greet --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Preset `greet` is for hello-args (8) in ops, not hello (2)."), "{said}");
        assert_eq!(tasks(&h).len(), 1);
    }

    #[tokio::test]
    async fn a_variable_the_template_no_longer_has_is_reported_not_sent() {
        let h = Harness::single().await;
        let mut stale = chatrixcd_ports::Preset {
            name: "old".into(),
            scope: PresetScope::Room(room()),
            owner: admin(),
            instance: chatrixcd_ports::InstanceId::parse("default").unwrap(),
            project: ProjectId::new(1),
            project_name: "ops".into(),
            template: chatrixcd_ports::TemplateId::new(2),
            template_name: "hello".into(),
            vars: vec![("who".into(), "ann".into()), ("colour".into(), "red".into())],
            sealed: Vec::new(),
            tags: Vec::new(),
            skip_tags: Vec::new(),
            limit: Vec::new(),
            arguments: Vec::new(),
            branch: None,
            dry_run: false,
            diff: false,
            debug: false,
            created_at: chrono::Utc::now(),
        };
        h.store.put_preset(stale.clone()).await.unwrap();
        h.say(&admin(), "!cd run --preset old --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Preset `old` sets `colour`, which hello no longer asks for; I won't send it."), "{said}");
        h.say(&admin(), "!cd preset show old").await;
        assert!(h.chat.bodies().join("\n").contains("⚠️ hello no longer asks for colour"));
        assert!(tasks(&h).is_empty());
        // A sealed value that does not open (another key): refused, named.
        stale.name = "locked".into();
        stale.vars.retain(|(k, _)| k == "who");
        stale.sealed = vec![("who".into(), "v1:garbage".into())];
        h.store.put_preset(stale).await.unwrap();
        h.say(&admin(), "!cd run --preset locked --yes").await;
        assert!(h.chat.bodies().join("\n").contains("Preset `locked`: `who`: a sealed value could not be opened"));
        h.say(&admin(), "!cd run --preset nope").await;
        assert!(h.chat.bodies().join("\n").contains("There is no preset `nope` here."));
    }

    #[tokio::test]
    async fn shared_presets_need_the_presets_permission_and_bad_input_is_named() {
        let mut s = settings();
        s.grants.push(crate::permissions::Grant::new(UserId::parse("@olga:test").unwrap(), "operator", None));
        let h = Harness::with(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], s).await;
        let olga = UserId::parse("@olga:test").unwrap();
        h.say(&olga, "!cd preset save mine 1 1 --limit web").await;
        h.say(&olga, "!cd preset save shared 1 1 --limit web --scope all").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("💾 Preset `mine` saved"), "{said}");
        assert!(!said.contains("💾 Preset `shared`"), "{said}");
        for (line, wanted) in [
            ("!cd preset save bad/name 1 1", "cannot be a preset's name"),
            ("!cd preset save x 1 1 --scope team", "`--scope team` is not one of: me, room, all."),
            ("!cd preset save x ops hello-args --var count=many", "`count` must be a whole number, not `many`."),
            ("!cd preset save x ops hello-args --var colour=red", "Template hello-args has no variable `colour`."),
            ("!cd preset save x ops hello-args --tags web", "does not allow"),
        ] {
            h.say(&admin(), line).await;
            let said = h.chat.bodies().join("\n");
            assert!(said.contains(wanted), "{line}: {said}");
        }
        h.say(&admin(), "!cd preset save team 1 1 --limit web --scope room").await;
        h.say(&olga, "!cd preset remove team").await;
        assert_eq!(h.store.presets().await.unwrap().len(), 2, "olga may not remove alice's room preset");
        h.say(&admin(), "!cd preset remove team").await;
        assert!(h.chat.bodies().join("\n").contains("🗑️ Preset `team` removed."));
    }
}
