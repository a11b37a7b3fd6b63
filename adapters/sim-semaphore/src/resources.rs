//! The project resources a bot reads but never changes (keys, variable groups, repositories,
//! inventories, schedules), kept as the JSON objects the API returns, and project settings.

use std::collections::BTreeMap;

use chatrixcd_ports::ProjectId;
use serde_json::{Value, json};

/// Which kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Key,
    Environment,
    Repository,
    Inventory,
    /// Semaphore's own cron schedules.
    Schedule,
}

impl Kind {
    /// Fills the fields a real server adds, so reads show the recorded shape.
    fn complete(self, object: &mut serde_json::Map<String, Value>) {
        let defaults: &[(&str, Value)] = match self {
            Kind::Key => &[
                ("type", json!("none")),
                ("string", json!("")),
                ("login_password", Value::Null),
                ("ssh", Value::Null),
                ("override_secret", json!(false)),
            ],
            Kind::Environment => {
                &[("password", Value::Null), ("json", json!("{}")), ("env", Value::Null), ("secrets", Value::Null)]
            }
            Kind::Repository => &[("git_url", json!("")), ("git_branch", json!("")), ("ssh_key_id", json!(0))],
            Kind::Inventory => &[
                ("inventory", json!("")),
                ("ssh_key_id", Value::Null),
                ("become_key_id", Value::Null),
                ("type", json!("static")),
                ("holder_id", Value::Null),
                ("repository_id", Value::Null),
            ],
            Kind::Schedule => &[
                ("template_id", json!(0)),
                ("cron_format", json!("")),
                ("active", json!(true)),
                ("repository_id", Value::Null),
            ],
        };
        for (k, v) in defaults {
            object.entry((*k).to_owned()).or_insert_with(|| v.clone());
        }
        if self == Kind::Key {
            // Secrets are never read back; the shapes are, with empty values.
            object.insert("login_password".into(), json!({"login": "", "password": ""}));
            object.insert("ssh".into(), json!({"login": "", "passphrase": "", "private_key": ""}));
        }
    }
}

/// Resources of every project, ids counted per kind across projects, as on a real server.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    items: BTreeMap<Kind, Vec<Value>>,
    /// Project settings as `GET /api/project/{p}` returns them.
    projects: BTreeMap<ProjectId, Value>,
}

impl Resources {
    pub(crate) fn add(&mut self, kind: Kind, project: ProjectId, mut object: serde_json::Map<String, Value>) -> Value {
        let list = self.items.entry(kind).or_default();
        let id = list.len() as u64 + 1;
        object.insert("id".into(), json!(id));
        object.insert("project_id".into(), json!(project.get()));
        object.entry("name").or_insert_with(|| json!(""));
        kind.complete(&mut object);
        let value = Value::Object(object);
        list.push(value.clone());
        value
    }

    pub(crate) fn list(&self, kind: Kind, project: ProjectId) -> Vec<Value> {
        self.items
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(|v| v["project_id"].as_u64() == Some(project.get()))
            .cloned()
            .collect()
    }

    pub(crate) fn set_project(&mut self, project: ProjectId, settings: Value) {
        self.projects.insert(project, settings);
    }

    pub(crate) fn project(&self, project: ProjectId) -> Option<&Value> {
        self.projects.get(&project)
    }
}
