//! Semaphore's JSON, as it really arrives: every field optional, unknown fields ignored, and
//! converted into the port's types in one place.

use std::collections::BTreeMap;

use chatrixcd_ports::semaphore::{
    ActivityEvent, App, Environment, Inventory, LogTooLarge, Project, ServerInfo, ServerSchedule, StartTask,
    SurveyEnumValue, SurveyVar, SurveyVarType, Task, TaskLog, TaskParamsPolicy, TaskStatus, Template,
};
use chatrixcd_ports::{ProjectId, TaskId, TemplateId};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Go's zero time (`0001-01-01T00:00:00Z`) means "unset" (BoltDB projects carry it).
fn real_time(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.filter(|t| t.timestamp() > 0)
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireInfo {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl WireInfo {
    pub(crate) fn into_port(self) -> ServerInfo {
        let extra = self
            .rest
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect();
        ServerInfo { version: self.version.unwrap_or_default(), extra }
    }
}

/// Major and minor version from `2.10.32-f33944e0-1729800000`; `None` if unreadable.
pub(crate) fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim_start_matches('v').split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireProject {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
}

impl WireProject {
    pub(crate) fn into_port(self) -> Project {
        Project { id: ProjectId::new(self.id), name: self.name.unwrap_or_default() }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireEnumValue {
    pub name: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireSurveyVar {
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub required: Option<bool>,
    #[serde(rename = "type")]
    pub var_type: Option<String>,
    pub values: Option<Vec<WireEnumValue>>,
    pub default_value: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireTaskParams {
    pub allow_debug: Option<bool>,
    pub allow_override_inventory: Option<bool>,
    pub allow_override_limit: Option<bool>,
    pub allow_override_tags: Option<bool>,
    pub allow_override_skip_tags: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireTemplate {
    pub id: u64,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub playbook: Option<String>,
    #[serde(default, rename = "type")]
    pub template_type: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
    #[serde(default)]
    pub allow_override_args_in_task: Option<bool>,
    #[serde(default)]
    pub allow_override_branch_in_task: Option<bool>,
    #[serde(default)]
    pub survey_vars: Option<Vec<WireSurveyVar>>,
    #[serde(default)]
    pub task_params: Option<WireTaskParams>,
}

impl WireTemplate {
    pub(crate) fn into_port(self, project: ProjectId) -> Template {
        let allow_args = self.allow_override_args_in_task.unwrap_or(false);
        let params_policy = match &self.task_params {
            // Newer servers: only what the template's prompts allow is honoured.
            Some(p) => TaskParamsPolicy {
                allow_debug: p.allow_debug.unwrap_or(false),
                allow_override_limit: p.allow_override_limit.unwrap_or(false),
                allow_override_tags: p.allow_override_tags.unwrap_or(false),
                allow_override_skip_tags: p.allow_override_skip_tags.unwrap_or(false),
                allow_override_inventory: p.allow_override_inventory.unwrap_or(false),
                allow_override_branch: self.allow_override_branch_in_task.unwrap_or(false),
            },
            None => TaskParamsPolicy::legacy(allow_args),
        };
        let arguments = self
            .arguments
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .and_then(|a| serde_json::from_str::<Vec<String>>(a).ok())
            .unwrap_or_default();
        Template {
            id: TemplateId::new(self.id),
            project_id: self.project_id.map_or(project, ProjectId::new),
            name: self.name.unwrap_or_default(),
            description: self.description.filter(|d| !d.is_empty()),
            app: App::parse(self.app.as_deref().unwrap_or_default()),
            playbook: self.playbook.unwrap_or_default(),
            template_type: self.template_type.unwrap_or_default(),
            arguments,
            allow_override_args_in_task: allow_args,
            params_policy,
            survey_vars: self.survey_vars.unwrap_or_default().into_iter().map(WireSurveyVar::into_port).collect(),
        }
    }
}

impl WireSurveyVar {
    fn into_port(self) -> SurveyVar {
        let var_type = match self.var_type.as_deref() {
            Some("int") => SurveyVarType::Int,
            Some("enum" | "select") => SurveyVarType::Enum,
            Some("secret") => SurveyVarType::Secret,
            Some("text") => SurveyVarType::Text,
            _ => SurveyVarType::String,
        };
        let default_value = match self.default_value {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            Some(Value::Array(items)) => {
                let joined: Vec<String> = items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                (!joined.is_empty()).then(|| joined.join(","))
            }
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        SurveyVar {
            name: self.name.unwrap_or_default(),
            title: self.title.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            required: self.required.unwrap_or(false),
            var_type,
            values: self
                .values
                .unwrap_or_default()
                .into_iter()
                .map(|v| SurveyEnumValue { name: v.name.unwrap_or_default(), value: v.value.unwrap_or_default() })
                .collect(),
            default_value,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireTask {
    pub id: u64,
    #[serde(default)]
    pub template_id: Option<u64>,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub tpl_alias: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
}

impl WireTask {
    pub(crate) fn into_port(self, project: ProjectId) -> Task {
        Task {
            id: TaskId::new(self.id),
            project_id: self.project_id.map_or(project, ProjectId::new),
            template_id: TemplateId::new(self.template_id.unwrap_or_default()),
            status: TaskStatus::from(self.status.unwrap_or_default()),
            created: real_time(self.created),
            start: real_time(self.start),
            end: real_time(self.end),
            message: self.message.filter(|m| !m.is_empty()),
            template_name: self.tpl_alias.filter(|n| !n.is_empty()),
            user_name: self.user_name.filter(|n| !n.is_empty()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireNamed {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl WireNamed {
    pub(crate) fn into_environment(self) -> Environment {
        Environment { id: self.id, name: self.name.unwrap_or_default() }
    }
    pub(crate) fn into_inventory(self) -> Inventory {
        Inventory { id: self.id, name: self.name.unwrap_or_default(), kind: self.kind.unwrap_or_default() }
    }
}

/// A schedule of Semaphore's own. 2.10 sends id, project_id, template_id, cron_format, name,
/// active and repository_id, plus `tpl_name` in lists; newer servers add `type` and `run_at`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireSchedule {
    pub id: u64,
    #[serde(default)]
    pub template_id: Option<u64>,
    #[serde(default)]
    pub tpl_name: Option<String>,
    #[serde(default)]
    pub cron_format: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub repository_id: Option<u64>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
}

impl WireSchedule {
    pub(crate) fn into_port(self) -> ServerSchedule {
        let one_off = self.kind.as_deref() == Some("run_at");
        ServerSchedule {
            id: self.id,
            template_id: TemplateId::new(self.template_id.unwrap_or_default()),
            template_name: self.tpl_name.filter(|n| !n.is_empty()),
            cron: self.cron_format.unwrap_or_default(),
            name: self.name.unwrap_or_default(),
            // 2.10 has no `active: false` schedules older than the field; absent means on.
            active: self.active.unwrap_or(true),
            repository_id: self.repository_id.filter(|r| *r != 0),
            run_at: if one_off { real_time(self.run_at) } else { None },
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireEvent {
    pub project_id: Option<u64>,
    pub object_type: Option<String>,
    pub object_id: Option<u64>,
    pub description: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub username: Option<String>,
}

impl WireEvent {
    pub(crate) fn into_port(self) -> ActivityEvent {
        ActivityEvent {
            project: self.project_id.map(ProjectId::new),
            object_type: self.object_type.unwrap_or_default(),
            object_id: self.object_id,
            description: self.description.unwrap_or_default(),
            created: real_time(self.created),
            user_name: self.username.filter(|u| !u.is_empty()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireOutput {
    // Each entry's `time` is not read: nothing shows per-line times.
    #[serde(default)]
    pub output: Option<String>,
}

impl WireOutput {
    /// Adds this entry's line to `log` (an entry without output is an empty line).
    pub(crate) fn push_into(self, log: &mut TaskLog) -> Result<(), LogTooLarge> {
        log.push_entry(self.output.as_deref().unwrap_or_default())
    }
}

/// A project's templates as the port hands them out: numbered the way people see them in the
/// UI, by id, whatever order the server listed them in.
pub(crate) fn templates_into_port(list: Vec<WireTemplate>, project: ProjectId) -> Vec<Template> {
    let mut templates: Vec<Template> = list.into_iter().map(|t| t.into_port(project)).collect();
    templates.sort_by_key(|t| t.id);
    templates
}

/// The start body for the server in front of us. Both shapes at once where harmless: 2.10 reads
/// the top-level fields and ignores `params`; newer servers read `params`.
pub(crate) fn start_body(request: &StartTask, legacy: bool) -> Value {
    let mut body = Map::new();
    body.insert("template_id".into(), json!(request.template_id.get()));
    body.insert("debug".into(), json!(request.debug));
    body.insert("dry_run".into(), json!(request.dry_run));
    body.insert("diff".into(), json!(request.diff));
    if let Some(m) = &request.message {
        body.insert("message".into(), json!(m));
    }
    if !request.limit.is_empty() {
        body.insert("limit".into(), json!(request.limit.join(",")));
    }
    if let Some(b) = &request.git_branch {
        body.insert("git_branch".into(), json!(b));
    }
    // Semaphore wants JSON *inside strings* for these.
    if !request.environment.is_empty() {
        body.insert("environment".into(), json!(json!(request.environment).to_string()));
    }
    if !request.secrets.is_empty() {
        body.insert("secret".into(), json!(json!(request.secrets).to_string()));
    }
    let mut arguments = request.arguments.clone();
    if legacy {
        // 2.10 has no task-level tags: they reach ansible-playbook as arguments.
        if !request.tags.is_empty() {
            arguments.push(format!("--tags={}", request.tags.join(",")));
        }
        if !request.skip_tags.is_empty() {
            arguments.push(format!("--skip-tags={}", request.skip_tags.join(",")));
        }
    } else {
        let mut params = Map::new();
        params.insert("debug".into(), json!(request.debug));
        params.insert("dry_run".into(), json!(request.dry_run));
        params.insert("diff".into(), json!(request.diff));
        if !request.limit.is_empty() {
            params.insert("limit".into(), json!(request.limit));
        }
        if !request.tags.is_empty() {
            params.insert("tags".into(), json!(request.tags));
        }
        if !request.skip_tags.is_empty() {
            params.insert("skip_tags".into(), json!(request.skip_tags));
        }
        body.insert("params".into(), Value::Object(params));
    }
    if !arguments.is_empty() {
        body.insert("arguments".into(), json!(json!(arguments).to_string()));
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_every_known_shape() {
        assert_eq!(parse_version("2.10.32-f33944e0-1729800000"), Some((2, 10)));
        assert_eq!(parse_version("v2.16.14"), Some((2, 16)));
        assert_eq!(parse_version("develop"), None);
    }

    proptest::proptest! {
        /// Whatever a run's tags, skipped tags, limit and arguments hold (spaces, `--become`,
        /// `-e @/etc/shadow`, quotes), the CLI arguments Semaphore gets are the given arguments
        /// one for one, plus on 2.10 one `--tags=…` and one `--skip-tags=…`: a value never
        /// becomes a flag of its own, and nothing is added beyond what the template allows.
        #[test]
        fn values_never_become_extra_cli_arguments(
            tags in proptest::collection::vec("[ -~]{0,20}", 0..4),
            skip_tags in proptest::collection::vec("[ -~]{0,20}", 0..3),
            limit in proptest::collection::vec("[ -~]{0,20}", 0..3),
            arguments in proptest::collection::vec("[ -~]{0,20}", 0..4),
            legacy in proptest::bool::ANY,
        ) {
            let r = StartTask {
                template_id: TemplateId::new(8),
                tags: tags.clone(),
                skip_tags: skip_tags.clone(),
                limit: limit.clone(),
                arguments: arguments.clone(),
                ..Default::default()
            };
            let body = start_body(&r, legacy);
            let sent: Vec<String> = match body.get("arguments") {
                Some(Value::String(text)) => serde_json::from_str(text).unwrap(),
                None => Vec::new(),
                Some(other) => panic!("arguments must be JSON in a string: {other}"),
            };
            let mut expected = arguments.clone();
            if legacy {
                if !tags.is_empty() {
                    expected.push(format!("--tags={}", tags.join(",")));
                }
                if !skip_tags.is_empty() {
                    expected.push(format!("--skip-tags={}", skip_tags.join(",")));
                }
            }
            proptest::prop_assert_eq!(sent, expected);
            // The limit is one field (`--limit=<value>` to Semaphore), never arguments.
            if !limit.is_empty() {
                proptest::prop_assert_eq!(&body["limit"], &json!(limit.join(",")));
            }
        }
    }

    #[test]
    fn legacy_start_body_carries_tags_as_arguments_and_json_in_strings() {
        let mut r =
            StartTask { template_id: TemplateId::new(8), tags: vec!["web".into(), "db".into()], ..Default::default() };
        r.arguments = vec!["--extra".into()];
        r.environment.insert("who".into(), "me".into());
        r.secrets.insert("token".into(), "x".into());
        let body = start_body(&r, true);
        assert_eq!(body["arguments"], json!("[\"--extra\",\"--tags=web,db\"]"));
        assert_eq!(body["environment"], json!("{\"who\":\"me\"}"));
        assert_eq!(body["secret"], json!("{\"token\":\"x\"}"));
        assert!(body.get("params").is_none());
        let body = start_body(&r, false);
        assert_eq!(body["params"]["tags"], json!(["web", "db"]));
        assert_eq!(body["arguments"], json!("[\"--extra\"]"));
    }

    #[test]
    fn null_heavy_2_10_template_converts() {
        let t: WireTemplate = serde_json::from_value(json!({
            "id": 3, "project_id": 1, "name": "broken-deploy", "description": null, "arguments": null,
            "app": "ansible", "survey_vars": null, "allow_override_args_in_task": false, "inventory_id": 1
        }))
        .unwrap();
        let t = t.into_port(ProjectId::new(1));
        assert_eq!(t.description, None);
        assert!(t.survey_vars.is_empty());
        assert!(!t.params_policy.allow_override_tags);
        assert!(t.params_policy.allow_override_limit);
    }

    #[test]
    fn go_zero_times_mean_unset() {
        let task: WireTask = serde_json::from_value(
            json!({"id": 5, "status": "waiting", "created": "0001-01-01T00:00:00Z", "start": null}),
        )
        .unwrap();
        let task = task.into_port(ProjectId::new(1));
        assert_eq!(task.created, None);
        assert_eq!(task.status, TaskStatus::Waiting);
    }
}

/// Every body a real 2.10.32 sent in the recordings decodes into the client's types.
#[cfg(test)]
mod recorded {
    use super::*;
    use crate::events::decode_frame;

    fn recordings() -> Vec<(String, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/semaphore/2.10.32");
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                all.push((path.file_name().unwrap().to_string_lossy().into_owned(), doc));
            }
        }
        all
    }

    fn generic(path: &str) -> String {
        path.split('?')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .split('/')
            .map(|s| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { "{n}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_recorded_answer_the_client_reads_decodes() {
        let mut decoded = 0;
        for (file, doc) in recordings() {
            for exchange in doc["exchanges"].as_array().into_iter().flatten() {
                let response = &exchange["response"];
                if response["body_kind"] != "json" {
                    continue;
                }
                let body = response["body"].clone();
                let route = format!(
                    "{} {}",
                    exchange["request"]["method"].as_str().unwrap(),
                    generic(exchange["request"]["path"].as_str().unwrap())
                );
                let p = ProjectId::new(1);
                let result: Result<(), serde_json::Error> = match route.as_str() {
                    "GET /api/info" => serde_json::from_value::<WireInfo>(body).map(|_| ()),
                    "GET /api/projects" => serde_json::from_value::<Vec<WireProject>>(body).map(|_| ()),
                    "GET /api/project/{n}/templates" => serde_json::from_value::<Vec<WireTemplate>>(body)
                        .map(|l| l.into_iter().for_each(|t| drop(t.into_port(p)))),
                    "GET /api/project/{n}/templates/{n}" => {
                        serde_json::from_value::<WireTemplate>(body).map(|t| drop(t.into_port(p)))
                    }
                    "GET /api/project/{n}/tasks"
                    | "GET /api/project/{n}/tasks/last"
                    | "GET /api/project/{n}/templates/{n}/tasks/last" => serde_json::from_value::<Vec<WireTask>>(body)
                        .map(|l| l.into_iter().for_each(|t| drop(t.into_port(p)))),
                    "GET /api/project/{n}/tasks/{n}" | "POST /api/project/{n}/tasks" => {
                        serde_json::from_value::<WireTask>(body).map(|t| drop(t.into_port(p)))
                    }
                    "GET /api/project/{n}/tasks/{n}/output" => {
                        serde_json::from_value::<Vec<WireOutput>>(body).map(|_| ())
                    }
                    "GET /api/project/{n}/environment" | "GET /api/project/{n}/inventory" => {
                        serde_json::from_value::<Vec<WireNamed>>(body).map(|_| ())
                    }
                    "GET /api/project/{n}/schedules" => serde_json::from_value::<Vec<WireSchedule>>(body)
                        .map(|l| l.into_iter().for_each(|s| drop(s.into_port()))),
                    "GET /api/project/{n}/events/last" | "GET /api/events/last" => {
                        serde_json::from_value::<Vec<WireEvent>>(body).map(|_| ())
                    }
                    // Routes the bot never reads.
                    _ => continue,
                };
                result.unwrap_or_else(|e| panic!("{file} {route}: {e}"));
                decoded += 1;
            }
            for frame in doc["websocket"].as_array().into_iter().flatten() {
                if let Some(message) = frame.get("message") {
                    assert!(decode_frame(&message.to_string()).is_some(), "{file}: frame {message}");
                    decoded += 1;
                }
            }
        }
        assert!(decoded > 300, "walked {decoded} bodies");
    }

    #[test]
    fn ids_are_64_bit_and_lists_keep_the_servers_order() {
        let (_, doc) = recordings().into_iter().find(|(f, _)| f == "finished.json").unwrap();
        let list = doc["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["request"]["path"].as_str().unwrap().contains("tasks/last"))
            .unwrap();
        let tasks: Vec<WireTask> = serde_json::from_value(list["response"]["body"].clone()).unwrap();
        let ids: Vec<u64> = tasks.iter().map(|t| t.id).collect();
        // Newest first, which on BoltDB means ascending ids: never re-sort by id.
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(ids.iter().all(|&id| id > u64::from(u16::MAX)), "ids do not fit 16 bits");
    }
}
