//! Table-driven tests of the grammar: every command, every kind of usage error.

use proptest::prelude::*;

use super::{CommandError, REGISTRY};
use crate::grammar::{GrammarError, Parsed, parse, split_words};

/// Reads the typed arguments of the commands that check more than the grammar does.
fn build(parsed: &Parsed) -> Result<(), CommandError> {
    match parsed.path[0] {
        "run" => super::run::Args::from_parsed(parsed).map(drop),
        "tasks" => super::tasks::Args::from_parsed(parsed).map(drop),
        "status" => super::status::Args::from_parsed(parsed).map(drop),
        "logs" => super::logs::Args::from_parsed(parsed).map(drop),
        "stop" => super::stop::Args::from_parsed(parsed).map(drop),
        "approve" | "reject" => super::approve::Args::from_parsed(parsed).map(drop),
        "templates" => super::templates::Args::from_parsed(parsed).map(drop),
        _ => Ok(()),
    }
}

fn parse_line(line: &str) -> Result<crate::grammar::Parsed, GrammarError> {
    parse(REGISTRY, &split_words(line))
}

#[test]
fn every_command_parses_in_its_documented_forms() {
    let cases: &[(&str, &[&str])] = &[
        ("help", &["help"]),
        ("help run", &["help"]),
        ("HELP aliases add", &["help"]),
        ("projects", &["projects"]),
        ("projects staging", &["projects"]),
        ("instances", &["instances"]),
        ("servers", &["instances"]),
        ("use", &["use"]),
        ("use staging", &["use"]),
        ("run prod:1:5", &["run"]),
        ("run staging:ops:deploy-web web,db --yes", &["run"]),
        ("run prod:ops deploy-web", &["run"]),
        ("templates staging:ops", &["templates"]),
        ("tasks staging --running", &["tasks"]),
        ("status prod:2147483646", &["status"]),
        ("logs staging:42 --tail 5", &["logs"]),
        ("stop staging:7", &["stop"]),
        ("approve prod:7", &["approve"]),
        ("ping staging", &["ping"]),
        ("templates", &["templates"]),
        ("templates ops", &["templates"]),
        ("run", &["run"]),
        ("run 1 1", &["run"]),
        ("run ops deploy-web", &["run"]),
        ("run 4 5 update,molecule", &["run"]),
        ("run 4 5 --tags=update,molecule --skip-tags slow --limit=web1,web2", &["run"]),
        ("run 1 8 --args=\"--verbose -x\" --yes", &["run"]),
        ("run 1 8 --arg=--verbose", &["run"]),
        ("run 1 2 --var who=world --var count=3 --dry-run --diff --debug --branch main --message hi", &["run"]),
        ("deploy 1 1", &["run"]),
        ("tasks", &["tasks"]),
        ("tasks ops --running --limit 5", &["tasks"]),
        ("status", &["status"]),
        ("status 42", &["status"]),
        ("status #2147483646", &["status"]),
        ("logs", &["logs"]),
        ("logs 42 --tail 50", &["logs"]),
        ("logs 42 --page=2", &["logs"]),
        ("logs 42 --grep fatal --errors", &["logs"]),
        ("log 42 --file", &["logs"]),
        ("stop 42", &["stop"]),
        ("stop 42 --force --yes", &["stop"]),
        ("approve 42", &["approve"]),
        ("approve", &["approve"]),
        ("confirm #42", &["approve"]),
        ("reject 42", &["reject"]),
        ("deny", &["reject"]),
        ("ping", &["ping"]),
        ("info", &["info"]),
        ("aliases", &["aliases"]),
        ("aliases list", &["aliases", "list"]),
        ("aliases add dw run 1 1 --tags=web", &["aliases", "add"]),
        ("aliases rm dw", &["aliases", "remove"]),
        ("rooms", &["rooms"]),
        ("rooms join #ops:example.org", &["rooms", "join"]),
        ("rooms leave !abc:example.org", &["rooms", "part"]),
        ("notify", &["notify"]),
        ("notify add prod:ops failures", &["notify", "add"]),
        ("follow rm prod:ops", &["notify", "remove"]),
        ("schedule", &["schedule"]),
        ("schedule add \"0 2 * * *\" prod:1:5 \"Nightly build\" --tz Europe/Berlin", &["schedule", "add"]),
        ("schedule show 3", &["schedule", "show"]),
        ("cron rm 3 --yes", &["schedule", "remove"]),
        ("schedule pause 3", &["schedule", "pause"]),
        ("schedule resume 3", &["schedule", "resume"]),
        ("schedule next", &["schedule", "next"]),
        ("admins", &["admins"]),
        ("verify", &["verify"]),
        ("verify list", &["verify", "list"]),
        ("verify start @a:x DEVICE", &["verify", "start"]),
        ("verify pending", &["verify", "pending"]),
        ("verify status", &["verify", "status"]),
        ("verify accept 1f2e", &["verify", "accept"]),
        ("verify confirm $ev:x", &["verify", "confirm"]),
        ("verify mismatch 1f2e", &["verify", "mismatch"]),
        ("verify cancel 1f2e", &["verify", "cancel"]),
        ("sessions", &["sessions"]),
        ("sessions info", &["sessions", "info"]),
        ("whoami", &["whoami"]),
        ("me", &["whoami"]),
        ("roles", &["roles"]),
        ("permissions", &["permissions"]),
        ("perms @dana:example.org", &["permissions"]),
        ("grant @dana:example.org operator", &["grant"]),
        ("grant @dev:x developer prod:ops:deploy-* --until 2026-12-31 --room here", &["grant"]),
        ("grant @oncall:x operator --window=\"Mon-Fri 08:00-18:00 Europe/Berlin\" --second-person --yes", &["grant"]),
        ("revoke @dana:example.org operator staging", &["revoke"]),
        ("audit", &["audit"]),
        ("audit @dana:x run today --page 2", &["audit"]),
        ("audit denied --since 2026-11-01 --csv", &["audit"]),
        ("exit", &["exit"]),
        ("exit --yes", &["exit"]),
        ("pet", &["pet"]),
        ("params ops hello-args", &["params"]),
        ("history me failed --since 2026-11-01 week", &["history"]),
        ("stats week --by template", &["stats"]),
        ("preset save web 1 1 --limit web --scope room", &["preset", "save"]),
        ("preset list", &["preset", "list"]),
        ("scold", &["scold"]),
    ];
    for (line, path) in cases {
        let parsed = parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e:?}"));
        assert_eq!(parsed.path, *path, "{line:?}");
        build(&parsed).unwrap_or_else(|e| panic!("{line:?}: {e:?}"));
    }
    // Every registered command appears in the table above.
    for spec in REGISTRY {
        assert!(cases.iter().any(|(_, p)| p[0] == spec.name), "no parser case for {}", spec.name);
    }
}

#[test]
fn run_maps_chatrixcd_syntax_onto_typed_options() {
    let parsed = parse_line("run 4 5 update,molecule --tags=extra --args=\"--check -v\" --var who=me").unwrap();
    let args = super::run::Args::from_parsed(&parsed).unwrap();
    assert_eq!(args.tags, ["update", "molecule", "extra"]);
    assert_eq!(args.arguments, ["--check", "-v"]);
    assert_eq!(args.vars, [("who".to_owned(), "me".to_owned())]);
    assert_eq!(
        format!("{args:?}"),
        r#"Args { project: Some(ProjectRef { instance: None, project: "4", template: None }), template: Some("5"), vars: ["who"], .. }"#,
        "values never in Debug"
    );
    let parsed = parse_line(r#"run 1 8 --args='["--a","b c"]'"#).unwrap();
    let args = super::run::Args::from_parsed(&parsed).unwrap();
    assert_eq!(args.arguments, ["--a", "b c"]);
}

#[test]
fn usage_errors_say_what_was_wrong() {
    let cases: &[(&str, &str)] = &[
        ("projcts", "Unknown command `projcts`. Did you mean `projects`?"),
        ("frobnicate", "Unknown command `frobnicate`."),
        ("stop", "Missing <task>."),
        ("stop abc", "`abc` is not a valid task: expected a task number such as 42."),
        ("stop prod:abc", "`prod:abc` is not a valid task: expected a task number such as 42, or instance:42."),
        ("stop a:b:3", "`a:b:3` is not a valid task: expected a task number such as 42, or instance:42."),
        ("status :3", "`:3` is not a valid task: expected a task number such as 42, or instance:42."),
        ("status 1 2", "Unexpected `2`."),
        ("logs 4 --tail", "Option `--tail` needs a value (`--tail=…`)."),
        ("logs 4 --tail=x", "`x` is not a valid tail: expected a whole number."),
        ("logs 4 --tial 3", "Unknown option `--tial`. Did you mean `tail`?"),
        ("run 1 1 --yes=please", "Option `--yes` takes no value."),
        ("run 1 1 --branch a --branch b", "Option `--branch` was given more than once."),
        ("aliases frob", "`aliases` has no action `frob`."),
        ("aliases ad x y", "`aliases` has no action `ad`. Did you mean `add`?"),
        ("aliases add x", "Missing <command>."),
        ("rooms join", "Missing <room>."),
        ("verify start @a:x", "Missing <device>."),
    ];
    for (line, expected) in cases {
        let err = parse_line(line).expect_err(line);
        assert_eq!(err.describe(), *expected, "{line:?}");
    }
}

#[test]
fn typed_argument_errors_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("run 1 1 --var novalue", "`--var novalue` needs the form name=value."),
        ("run 1 1 --args=[1,2]", "--args looks like a JSON array"),
        ("tasks --limit 0", "--limit must be between 1 and 50."),
        ("run a:b:c:d", "`a:b:c:d` has too many parts"),
        ("run prod::5", "`prod::5` has an empty part"),
        ("run prod:1:5 web db", "names the template already"),
        ("templates prod:1:5", "`templates` wants a project"),
        ("logs 3 --tail 0", "--tail must be a number from 1 up."),
        ("logs 3 --tail 5 --page 2", "Use either --tail or --page, not both."),
    ];
    for (line, expected) in cases {
        let parsed = parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e:?}"));
        let err = build(&parsed).expect_err(line).to_string();
        assert!(err.contains(expected), "{line:?}: {err}");
    }
}

proptest! {
    /// Whatever text arrives, parsing returns a result or an error; it never panics.
    #[test]
    fn parser_never_panics(line in "\\PC{0,200}") {
        if let Ok(parsed) = parse_line(&line) {
            let _ = build(&parsed);
        }
    }

    /// Words made of command-ish pieces exercise the deeper grammar paths.
    #[test]
    fn parser_never_panics_on_command_shaped_input(
        words in prop::collection::vec(prop::sample::select(vec![
            "run", "stop", "logs", "aliases", "add", "rm", "rooms", "join", "--tags", "--tags=", "--var", "a=b",
            "--yes", "--page", "0", "1", "#", "#5", "--", "-", "'", "\"", "=", "ops", "help", "verify", "start",
        ]), 0..10)
    ) {
        let line = words.join(" ");
        if let Ok(parsed) = parse_line(&line) {
            let _ = build(&parsed);
        }
    }
}
