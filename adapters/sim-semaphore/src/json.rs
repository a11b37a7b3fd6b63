//! The JSON a real Semaphore 2.10.32 sends, field for field (`null` where it sends `null`), built
//! from the model. Newer servers omit empty fields; in `Current` mode the same shapes are sent,
//! which newer clients accept as they must accept 2.10.

use chatrixcd_ports::semaphore::{SurveyVarType, Template};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::model::{LogLine, SimTask, Update};

fn time(t: DateTime<Utc>) -> Value {
    json!(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, time)
}

fn survey_type(t: &SurveyVarType) -> &'static str {
    match t {
        SurveyVarType::String => "",
        SurveyVarType::Int => "int",
        SurveyVarType::Enum => "enum",
        SurveyVarType::Secret => "secret",
        SurveyVarType::Text => "text",
    }
}

/// A template; `single` for `GET /templates/{t}`, which sends `vaults: []` where lists send `null`.
pub(crate) fn template(
    t: &Template,
    inventory: Option<u64>,
    task_count: usize,
    last_task: Option<&Value>,
    single: bool,
) -> Value {
    let survey: Vec<Value> = t
        .survey_vars
        .iter()
        .map(|v| {
            let values = if v.values.is_empty() {
                Value::Null
            } else {
                json!(v.values.iter().map(|c| json!({"name": c.name, "value": c.value})).collect::<Vec<_>>())
            };
            json!({
                "name": v.name, "title": v.title, "required": v.required, "type": survey_type(&v.var_type),
                "description": v.description, "values": values
            })
        })
        .collect();
    json!({
        "id": t.id.get(), "project_id": t.project_id.get(), "inventory_id": inventory, "repository_id": 1,
        "environment_id": 1, "view_id": null, "name": t.name, "playbook": t.playbook,
        "arguments": if t.arguments.is_empty() { Value::Null } else { json!(json!(t.arguments).to_string()) },
        "allow_override_args_in_task": t.allow_override_args_in_task,
        "description": t.description, "vaults": if single { json!([]) } else { Value::Null }, "type": t.template_type, "start_version": null,
        "build_template_id": null, "autorun": false, "git_branch": null,
        "survey_vars": if survey.is_empty() { Value::Null } else { json!(survey) },
        "suppress_success_alerts": false, "app": t.app.as_str(), "tasks": task_count, "last_task": last_task
    })
}

/// `GET /tasks/{k}`: the plain task.
pub(crate) fn task(t: &SimTask) -> Value {
    let environment = &t.environment_text;
    let arguments = t.arguments_text.as_ref().map_or(Value::Null, |a| json!(a));
    json!({
        "id": t.id.get(), "template_id": t.template.get(), "project_id": t.project.get(), "status": t.status.as_str(),
        "debug": false, "dry_run": false, "diff": false, "playbook": "", "environment": environment, "limit": "",
        "secret": "", "arguments": arguments, "git_branch": null, "user_id": 1, "integration_id": null,
        "schedule_id": null, "created": time(t.created), "start": opt_time(t.start), "end": opt_time(t.end),
        "message": t.message, "commit_hash": null, "commit_message": "", "build_task_id": null, "version": null,
        "inventory_id": null
    })
}

/// The answer to a start: the secret field reads `"{}"` there, and `""` ever after.
pub(crate) fn created_task(t: &SimTask) -> Value {
    let mut v = task(t);
    v["secret"] = json!("{}");
    v
}

/// List endpoints add the template's fields and the user's name.
pub(crate) fn task_with_tpl(t: &SimTask, tpl: Option<&Template>) -> Value {
    let mut v = task(t);
    v["tpl_playbook"] = json!(tpl.map(|t| t.playbook.clone()).unwrap_or_default());
    v["tpl_alias"] = json!(t.template_name);
    v["tpl_type"] = json!(tpl.map(|t| t.template_type.clone()).unwrap_or_default());
    v["tpl_app"] = json!(tpl.map(|t| t.app.as_str().to_owned()).unwrap_or_default());
    v["user_name"] = json!(t.user_name);
    v["build_task"] = Value::Null;
    v
}

pub(crate) fn output(task: &SimTask) -> Value {
    json!(
        task.output
            .iter()
            .map(|(at, line)| json!({"task_id": task.id.get(), "task": "", "time": time(*at), "output": line}))
            .collect::<Vec<_>>()
    )
}

pub(crate) fn ws_update(u: &Update) -> Value {
    json!({
        "type": "update", "task_id": u.task.get(), "template_id": u.template.get(), "project_id": u.project.get(),
        "status": u.status.as_str(), "start": opt_time(u.start), "end": opt_time(u.end), "version": null
    })
}

pub(crate) fn ws_log(l: &LogLine) -> Value {
    json!({"type": "log", "task_id": l.task.get(), "project_id": l.project.get(), "time": time(l.time), "output": l.output})
}
