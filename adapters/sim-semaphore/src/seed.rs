//! What the simulated templates print, and the demo data: project `ops` with the templates of the
//! recorded 2.10.32 server, printing what the real runs printed, and a second project `web`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chatrixcd_ports::semaphore::{App, SurveyEnumValue, SurveyVar, SurveyVarType, TaskParamsPolicy, Template};
use chatrixcd_ports::{Clock, ProjectId};
use chrono::Duration;

use crate::model::{Mode, SimConfig, SimModel, Then};

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

fn template(project: ProjectId, name: &str, app: App, playbook: &str) -> Template {
    Template {
        project_id: project,
        name: name.to_owned(),
        app,
        playbook: playbook.to_owned(),
        params_policy: TaskParamsPolicy::legacy(false),
        ..Template::default()
    }
}

fn survey(name: &str, title: &str, var_type: SurveyVarType, required: bool) -> SurveyVar {
    SurveyVar { name: name.into(), title: title.into(), var_type, required, ..SurveyVar::default() }
}

impl SimModel {
    /// The demo server: project 1 `ops` with the recorded templates (1 `deploy-web` succeeds with
    /// a PLAY RECAP, 3 `broken-deploy` fails, 5 `infra-plan` waits for confirmation...) and
    /// project 2 `web`.
    pub fn demo(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        let current = config.mode == Mode::Current;
        let mut model = SimModel::new(config, clock);
        let ops = model.add_project("ops");
        let policy = |allow_args: bool| {
            if current {
                TaskParamsPolicy { allow_debug: true, allow_override_limit: true, ..TaskParamsPolicy::default() }
            } else {
                TaskParamsPolicy::legacy(allow_args)
            }
        };

        let mut t = template(ops, "deploy-web", App::Ansible, "deploy.yml");
        t.params_policy = policy(false);
        model.add_template(t, Script::Succeed(deploy_web()));

        let mut t = template(ops, "hello", App::Bash, "hello.sh");
        t.survey_vars = vec![survey("who", "Who", SurveyVarType::String, true)];
        let greet = lines(&["\x1b[32mstep 1 ok\x1b[0m", "\x1b[32mstep 2 ok\x1b[0m", "\x1b[32mstep 3 ok\x1b[0m"]);
        model.add_template(t, Script::Shell { template_args: Vec::new(), lines: greet.clone() });

        let mut t = template(ops, "broken-deploy", App::Ansible, "broken.yml");
        t.params_policy = policy(false);
        model.add_template(t, Script::Fail(broken_deploy()));

        let slow: Vec<String> = (1..=600).map(|n| format!("still working... {n}/600")).collect();
        let slow_id = model.add_template(
            template(ops, "slow", App::Bash, "slow.sh"),
            Script::Shell { template_args: Vec::new(), lines: slow },
        );

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
        model.add_template(template(ops, "infra-plan", App::Terraform, "tf"), Script::Plan { plan, apply });

        let mut nochange = lines(&TF_INIT);
        nochange.push("No changes. Your infrastructure matches the configuration.".into());
        model.add_template(template(ops, "infra-nochange", App::Terraform, "tfnochange"), Script::Succeed(nochange));

        let chatty: Vec<String> = (1..=3000).map(|n| format!("line {n} {}", "=".repeat(60))).collect();
        let chatty_id = model.add_template(
            template(ops, "chatty", App::Bash, "chatty.sh"),
            Script::Shell { template_args: Vec::new(), lines: chatty },
        );

        let mut t = template(ops, "hello-args", App::Bash, "hello.sh");
        t.description = Some("bash with arguments allowed".into());
        t.arguments = vec!["--from-template".into()];
        t.allow_override_args_in_task = true;
        t.params_policy = policy(true);
        let mut who = survey("who", "Who", SurveyVarType::String, true);
        who.description = "whom to greet".into();
        let mut env = survey("env", "Target", SurveyVarType::Enum, true);
        env.values = vec![
            SurveyEnumValue { name: "Production".into(), value: "prod".into() },
            SurveyEnumValue { name: "Staging".into(), value: "stage".into() },
        ];
        t.survey_vars = vec![
            who,
            survey("count", "Count", SurveyVarType::Int, false),
            env,
            survey("api_key", "API key", SurveyVarType::Secret, false),
        ];
        model.add_template(t, Script::Shell { template_args: vec!["--from-template".into()], lines: greet.clone() });

        // As recorded: `slow` runs for ten minutes, `chatty` prints 3,000 lines in about seven seconds.
        model.set_pace(slow_id, Duration::seconds(1));
        model.set_pace(chatty_id, Duration::microseconds(2_400));

        let web = model.add_project("web");
        let mut t = template(web, "build-site", App::Ansible, "site.yml");
        t.description = Some("Build and publish the static site".into());
        t.params_policy = policy(false);
        let mut site = lines(&GALAXY);
        site.extend(lines(&[
            "PLAY [Build site] **************************************************************",
            "",
            "TASK [Render pages] ************************************************************",
            "\x1b[0;33mchanged: [localhost]\x1b[0m",
            "",
            "PLAY RECAP *********************************************************************",
            "\x1b[0;33mlocalhost\x1b[0m                  : \x1b[0;32mok=1   \x1b[0m \x1b[0;33mchanged=1   \x1b[0m unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   ",
        ]));
        model.add_template(t, Script::Succeed(site));
        let mut t = template(web, "smoke-test", App::Bash, "smoke.sh");
        t.description = Some("Probe the site after a deploy".into());
        t.survey_vars = vec![survey("url", "URL to probe", SurveyVarType::String, true)];
        model.add_template(
            t,
            Script::Shell { template_args: Vec::new(), lines: lines(&["\x1b[32mHTTP 200 OK\x1b[0m"]) },
        );
        model
    }
}
