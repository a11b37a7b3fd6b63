//! What the simulated templates print, and the demo data: project `ops` with the templates of the
//! recorded 2.10.32 server, printing what the real runs printed, and a second project `web`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chatrixcd_ports::Clock;
use chatrixcd_ports::semaphore::{App, Template};
use chrono::Duration;

use crate::model::{SimConfig, SimModel, Then};
use crate::resources::Kind;
use serde_json::{Value, json};

/// What a template's run prints and how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// Prints the lines, then succeeds.
    Succeed(Vec<String>),
    /// Prints the lines, then fails.
    Fail(Vec<String>),
    /// A shell script: first prints its command line (template arguments, survey values `k=v`
    /// sorted by name, task arguments), then the lines, then succeeds.
    Shell { template_args: Vec<String>, lines: Vec<String> },
    /// A Terraform plan with changes: prints the plan, waits for confirmation, then applies.
    Plan { plan: Vec<String>, apply: Vec<String> },
}

impl Script {
    pub(crate) fn lines_for(
        &self,
        environment: &BTreeMap<String, String>,
        arguments: &[String],
    ) -> (Vec<String>, Then) {
        match self {
            Self::Succeed(lines) => (lines.clone(), Then::Succeed),
            Self::Fail(lines) => (lines.clone(), Then::Fail),
            Self::Shell { template_args, lines } => {
                let mut words = template_args.clone();
                words.extend(environment.iter().map(|(k, v)| format!("{k}={v}")));
                words.extend(arguments.iter().cloned());
                let mut out = vec![format!("hello from bash: {}", words.join(" "))];
                out.extend(lines.iter().cloned());
                (out, Then::Succeed)
            }
            Self::Plan { plan, apply } => (plan.clone(), Then::AskConfirmation(apply.clone())),
        }
    }
}

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|l| (*l).to_owned()).collect()
}

const GALAXY: [&str; 6] = [
    "installing static inventory",
    "No /srv/semaphore/repo/collections/requirements.yml file found. Skip galaxy install process.\n",
    "No /srv/semaphore/repo/requirements.yml file found. Skip galaxy install process.\n",
    "No /srv/semaphore/repo/roles/requirements.yml file found. Skip galaxy install process.\n",
    "No /srv/semaphore/repo/requirements.yml file found. Skip galaxy install process.\n",
    "",
];

fn deploy_web() -> Vec<String> {
    let mut out = lines(&GALAXY);
    out.extend(lines(&[
        "PLAY [Deploy web] **************************************************************",
        "",
        "TASK [Check connectivity] ******************************************************",
        "\x1b[0;32mok: [localhost]\x1b[0m",
        "",
        "TASK [Render release note] *****************************************************",
        "\x1b[0;32mok: [localhost] => {\x1b[0m",
        "\x1b[0;32m    \"msg\": \"release 1.0 for localhost\"\x1b[0m",
        "\x1b[0;32m}\x1b[0m",
        "",
        "TASK [Touch a marker] **********************************************************",
        "\x1b[0;33mchanged: [localhost]\x1b[0m",
        "",
        "TASK [Optional step] ***********************************************************",
        "\x1b[0;36mskipping: [localhost]\x1b[0m",
        "",
        "PLAY RECAP *********************************************************************",
        "\x1b[0;33mlocalhost\x1b[0m                  : \x1b[0;32mok=3   \x1b[0m \x1b[0;33mchanged=1   \x1b[0m unreachable=0    failed=0    \x1b[0;36mskipped=1   \x1b[0m rescued=0    ignored=0   ",
        "",
    ]));
    out
}

fn broken_deploy() -> Vec<String> {
    let mut out = lines(&GALAXY);
    out.extend(lines(&[
        "PLAY [Broken deploy] ***********************************************************",
        "",
        "TASK [This one fails] **********************************************************",
        "\x1b[0;31m[ERROR]: Task failed: Module failed: non-zero return code\x1b[0m",
        "\x1b[0;31mOrigin: /srv/semaphore/repo/broken.yml:5:7\x1b[0m",
        "\x1b[0;31m\x1b[0m",
        "\x1b[0;31m3   gather_facts: false\x1b[0m",
        "\x1b[0;31m4   tasks:\x1b[0m",
        "\x1b[0;31m5     - name: This one fails\x1b[0m",
        "\x1b[0;31m        ^ column 7\x1b[0m",
        "\x1b[0;31m\x1b[0m",
        "\x1b[0;31mfatal: [localhost]: FAILED! => {\"changed\": true, \"cmd\": [\"/bin/false\"], \"msg\": \"non-zero return code\", \"rc\": 1, \"stderr\": \"\", \"stdout\": \"\"}\x1b[0m",
        "",
        "PLAY RECAP *********************************************************************",
        "\x1b[0;31mlocalhost\x1b[0m                  : ok=0    changed=0    unreachable=0    \x1b[0;31mfailed=1   \x1b[0m skipped=0    rescued=0    ignored=0   ",
        "",
        "Running app failed: exit status 2",
    ]));
    out
}

const TF_INIT: [&str; 3] = [
    "\x1b[1mInitializing the backend...\x1b[0m",
    "Terraform has been successfully initialized!",
    "Switched to workspace \"default\".",
];

/// What a template created through the API runs: the recorded server's scripts, recognised by
/// their playbook, and otherwise a short plain run of the template's app. Also its own pace, if any.
pub(crate) fn script_for(template: &Template) -> (Script, Option<Duration>) {
    let greet = lines(&["\x1b[32mstep 1 ok\x1b[0m", "\x1b[32mstep 2 ok\x1b[0m", "\x1b[32mstep 3 ok\x1b[0m"]);
    let shell = |lines: Vec<String>| Script::Shell { template_args: template.arguments.clone(), lines };
    match template.playbook.as_str() {
        "deploy.yml" => (Script::Succeed(deploy_web()), None),
        "broken.yml" => (Script::Fail(broken_deploy()), None),
        "hello.sh" => (shell(greet), None),
        // As recorded: `slow` runs for ten minutes, `chatty` prints 3,000 lines in about seven seconds.
        "slow.sh" => {
            (shell((1..=600).map(|n| format!("still working... {n}/600")).collect()), Some(Duration::seconds(1)))
        }
        "chatty.sh" => (
            shell((1..=3000).map(|n| format!("line {n} {}", "=".repeat(60))).collect()),
            Some(Duration::microseconds(2_400)),
        ),
        "tf" => {
            let mut plan = lines(&TF_INIT);
            plan.extend(lines(&[
                "Terraform will perform the following actions:",
                "  \x1b[32m+\x1b[0m resource \"null_resource\" \"web\" {",
                "      + id = (known after apply)",
                "    }",
                "\x1b[1mPlan:\x1b[0m 1 to add, 0 to change, 0 to destroy.",
            ]));
            let apply = lines(&[
                "null_resource.web: Creating...",
                "null_resource.web: Creation complete after 1s [id=42]",
                "\x1b[32m\x1b[1mApply complete! Resources: 1 added, 0 changed, 0 destroyed.\x1b[0m",
            ]);
            (Script::Plan { plan, apply }, None)
        }
        "smoke.sh" => (shell(lines(&["\x1b[32mHTTP 200 OK\x1b[0m"])), None),
        _ => match template.app {
            App::Ansible => (Script::Succeed(generic_play(&template.name)), None),
            App::Terraform | App::Tofu => {
                let mut out = lines(&TF_INIT);
                out.push("No changes. Your infrastructure matches the configuration.".into());
                (Script::Succeed(out), None)
            }
            _ => (shell(lines(&["done"])), None),
        },
    }
}

fn generic_play(name: &str) -> Vec<String> {
    let mut out = lines(&GALAXY);
    out.extend([
        format!("PLAY [{name}] {}", "*".repeat(70usize.saturating_sub(name.len()))),
        String::new(),
        format!("TASK [Apply] {}", "*".repeat(67)),
        "\x1b[0;33mchanged: [localhost]\x1b[0m".to_owned(),
        String::new(),
        format!("PLAY RECAP {}", "*".repeat(69)),
        "\x1b[0;33mlocalhost\x1b[0m                  : \x1b[0;32mok=1   \x1b[0m \x1b[0;33mchanged=1   \x1b[0m unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   ".to_owned(),
    ]);
    out
}

impl SimModel {
    /// The demo server, seeded the way the recorded server was (through the same calls as the
    /// API): project 1 `ops` with the recorded templates (1 `deploy-web` succeeds with a PLAY
    /// RECAP, 3 `broken-deploy` fails, 5 `infra-plan` waits for confirmation...), and project 2
    /// `web`.
    pub fn demo(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        let mut model = SimModel::new(config, clock);
        let ops = model.add_project("ops");
        let object = |v: Value| match v {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        // Seeding data is fixed: none of these calls can fail.
        let _ = model.add_resource(
            Kind::Repository,
            ops,
            object(json!({"name": "local", "git_url": "/srv/semaphore/repo", "git_branch": "", "ssh_key_id": 1})),
        );
        let _ = model.add_resource(
            Kind::Inventory,
            ops,
            object(json!({
                "name": "localhost", "inventory": "[web]\nlocalhost ansible_connection=local ansible_python_interpreter=auto_silent\n",
                "ssh_key_id": 1, "type": "static"
            })),
        );
        let survey = |name: &str, title: &str, kind: &str, required: bool| json!({"name": name, "title": title, "required": required, "type": kind, "description": "", "values": null});
        let ops_templates = [
            json!({"name": "deploy-web", "app": "ansible", "playbook": "deploy.yml", "inventory_id": 1}),
            json!({"name": "hello", "app": "bash", "playbook": "hello.sh", "survey_vars": [survey("who", "Who", "", true)]}),
            json!({"name": "broken-deploy", "app": "ansible", "playbook": "broken.yml", "inventory_id": 1}),
            json!({"name": "slow", "app": "bash", "playbook": "slow.sh"}),
            json!({"name": "infra-plan", "app": "terraform", "playbook": "tf"}),
            json!({"name": "infra-nochange", "app": "terraform", "playbook": "tfnochange"}),
            json!({"name": "chatty", "app": "bash", "playbook": "chatty.sh"}),
            json!({
                "name": "hello-args", "app": "bash", "playbook": "hello.sh", "description": "bash with arguments allowed",
                "arguments": "[\"--from-template\"]", "allow_override_args_in_task": true,
                "survey_vars": [
                    {"name": "who", "title": "Who", "required": true, "type": "", "description": "whom to greet", "values": null},
                    survey("count", "Count", "int", false),
                    {"name": "env", "title": "Target", "required": true, "type": "enum", "description": "",
                     "values": [{"name": "Production", "value": "prod"}, {"name": "Staging", "value": "stage"}]},
                    survey("api_key", "API key", "secret", false)
                ]
            }),
        ];
        for t in ops_templates {
            let _ = model.create_template(ops, &t);
        }
        let web = model.add_project("web");
        let _ = model.create_template(
            web,
            &json!({"name": "build-site", "app": "ansible", "playbook": "site.yml", "description": "Build and publish the static site"}),
        );
        let _ = model.create_template(
            web,
            &json!({
                "name": "smoke-test", "app": "bash", "playbook": "smoke.sh", "description": "Probe the site after a deploy",
                "survey_vars": [survey("url", "URL to probe", "", true)]
            }),
        );
        model
    }
}
