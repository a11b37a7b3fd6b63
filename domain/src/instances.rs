//! The Semaphore instances the bot talks to, and the qualified references that name one
//! (`prod:1:5`, `staging:ops:deploy-web`, `prod:2147483646`).
//!
//! A ChatrixCD configuration has one instance, named `default`; nothing about instances shows in
//! replies then. With several, every reply about a task, project or template names its instance.

use std::fmt;
use std::sync::Arc;

use chatrixcd_ports::{InstanceId, SemaphorePort, TaskId};

use crate::grammar::suggest;

/// One configured Semaphore server.
#[derive(Clone)]
pub struct Instance {
    pub id: InstanceId,
    /// The base URL, shown by `instances` (never in other replies).
    pub url: String,
    pub semaphore: Arc<dyn SemaphorePort>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance").field("id", &self.id).field("url", &self.url).finish_non_exhaustive()
    }
}

/// Why a set of instances cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstancesError {
    #[error("no Semaphore instance is configured")]
    Empty,
    #[error("instance `{0}` is configured twice")]
    Duplicate(InstanceId),
    #[error("the default instance `{0}` is not configured")]
    UnknownDefault(InstanceId),
}

/// Every configured instance, in configuration order, and the default one.
#[derive(Debug, Clone)]
pub struct Instances {
    list: Vec<Instance>,
    default: usize,
}

/// A name that matches no instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownInstance {
    pub given: String,
    pub suggestion: Option<String>,
    pub known: Vec<String>,
}

impl UnknownInstance {
    pub fn describe(&self) -> String {
        let hint = match &self.suggestion {
            Some(s) => format!(" Did you mean `{s}`?"),
            None => String::new(),
        };
        format!("There is no Semaphore instance `{}`.{hint} Known: {}.", self.given, self.known.join(", "))
    }
}

impl Instances {
    pub fn new(list: Vec<Instance>, default: InstanceId) -> Result<Self, InstancesError> {
        if list.is_empty() {
            return Err(InstancesError::Empty);
        }
        for (i, a) in list.iter().enumerate() {
            if list[..i].iter().any(|b| b.id == a.id) {
                return Err(InstancesError::Duplicate(a.id));
            }
        }
        let default = list.iter().position(|i| i.id == default).ok_or(InstancesError::UnknownDefault(default))?;
        Ok(Self { list, default })
    }

    /// One instance named `default`: what a ChatrixCD configuration describes.
    pub fn single(url: impl Into<String>, semaphore: Arc<dyn SemaphorePort>) -> Self {
        Self { list: vec![Instance { id: InstanceId::default(), url: url.into(), semaphore }], default: 0 }
    }

    pub fn default_instance(&self) -> &Instance {
        // `default` is an index checked in `new` (or 0 of a one-element list), and the list is
        // never changed afterwards.
        &self.list[self.default]
    }

    pub fn get(&self, id: InstanceId) -> Option<&Instance> {
        self.list.iter().find(|i| i.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Instance> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// More than one instance: replies then name the instance they are about.
    pub fn is_multi(&self) -> bool {
        self.list.len() > 1
    }

    /// The instance called `given` (case-insensitively, or by a unique prefix), with "did you
    /// mean" when none fits.
    pub fn resolve(&self, given: &str) -> Result<&Instance, UnknownInstance> {
        let wanted = given.trim().to_ascii_lowercase();
        if let Some(hit) = self.list.iter().find(|i| i.id.as_str() == wanted) {
            return Ok(hit);
        }
        let mut prefixed = self.list.iter().filter(|i| !wanted.is_empty() && i.id.as_str().starts_with(&wanted));
        if let (Some(one), None) = (prefixed.next(), prefixed.next()) {
            return Ok(one);
        }
        Err(UnknownInstance {
            given: given.to_owned(),
            suggestion: suggest(&wanted, self.list.iter().map(|i| i.id.as_str())).map(str::to_owned),
            known: self.list.iter().map(|i| i.id.to_string()).collect(),
        })
    }

    /// Whether `word` names an instance exactly (used to tell `prod:42` from other colons).
    pub fn names(&self, word: &str) -> bool {
        self.list.iter().any(|i| i.id.as_str().eq_ignore_ascii_case(word))
    }
}

/// Why a qualified reference cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("`{given}` has an empty part; write it as {form}")]
    EmptyPart { given: String, form: &'static str },
    #[error("`{given}` has too many parts; write it as {form}")]
    TooManyParts { given: String, form: &'static str },
    #[error("`{given}` is not a task number; write it as {form}")]
    NotATask { given: String, form: &'static str },
}

const PROJECT_FORM: &str = "`project`, `instance:project` or `instance:project:template`";
const TASK_FORM: &str = "`42` or `instance:42`";

/// A project (and maybe a template) as typed: `1`, `ops`, `prod:1`, `prod:1:5`,
/// `staging:ops:deploy-web`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRef {
    pub instance: Option<String>,
    pub project: String,
    pub template: Option<String>,
}

impl ProjectRef {
    pub fn parse(given: &str) -> Result<Self, ReferenceError> {
        let parts: Vec<&str> = given.split(':').collect();
        if parts.iter().any(|p| p.trim().is_empty()) {
            return Err(ReferenceError::EmptyPart { given: given.to_owned(), form: PROJECT_FORM });
        }
        let owned = |s: &str| s.trim().to_owned();
        match parts.as_slice() {
            [project] => Ok(Self { instance: None, project: owned(project), template: None }),
            [instance, project] => {
                Ok(Self { instance: Some(owned(instance)), project: owned(project), template: None })
            }
            [instance, project, template] => {
                Ok(Self { instance: Some(owned(instance)), project: owned(project), template: Some(owned(template)) })
            }
            _ => Err(ReferenceError::TooManyParts { given: given.to_owned(), form: PROJECT_FORM }),
        }
    }
}

impl fmt::Display for ProjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = &self.instance {
            write!(f, "{i}:")?;
        }
        f.write_str(&self.project)?;
        if let Some(t) = &self.template {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

/// A task as typed: `42`, `#42` or `prod:42`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub instance: Option<String>,
    pub task: TaskId,
}

impl TaskSpec {
    pub fn parse(given: &str) -> Result<Self, ReferenceError> {
        let parts: Vec<&str> = given.split(':').collect();
        if parts.iter().any(|p| p.trim().is_empty()) {
            return Err(ReferenceError::EmptyPart { given: given.to_owned(), form: TASK_FORM });
        }
        let (instance, number) = match parts.as_slice() {
            [number] => (None, *number),
            [instance, number] => (Some(instance.trim().to_owned()), *number),
            _ => return Err(ReferenceError::TooManyParts { given: given.to_owned(), form: TASK_FORM }),
        };
        let task = number
            .parse::<TaskId>()
            .map_err(|_| ReferenceError::NotATask { given: given.to_owned(), form: TASK_FORM })?;
        Ok(Self { instance, task })
    }

    /// Whether `given` reads as a task reference (for the grammar's value check).
    pub fn is_valid(given: &str) -> bool {
        Self::parse(given).is_ok()
    }
}

impl fmt::Display for TaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.instance {
            Some(i) => write!(f, "{i}:{}", self.task),
            None => write!(f, "{}", self.task),
        }
    }
}

/// How replies name a task: `#42` with one instance, `#42 on production` with several.
pub fn task_label(instances: &Instances, instance: InstanceId, task: TaskId) -> String {
    if instances.is_multi() { format!("#{task} on {instance}") } else { format!("#{task}") }
}

/// How a task is typed back in a command: `42`, or `production:42` with several instances.
pub fn task_arg(instances: &Instances, instance: InstanceId, task: TaskId) -> String {
    if instances.is_multi() { format!("{instance}:{task}") } else { task.to_string() }
}

/// The instance tag that opens a reply about a project, template or task when several
/// instances are configured (`[production] `); empty otherwise.
pub fn tag(instances: &Instances, instance: InstanceId) -> String {
    if instances.is_multi() { format!("[{instance}] ") } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatrixcd_ports::semaphore::MockSemaphorePort;
    use proptest::prelude::*;

    fn instances(names: &[&str]) -> Instances {
        let list = names
            .iter()
            .map(|n| Instance {
                id: InstanceId::parse(n).unwrap(),
                url: format!("https://{n}.example"),
                semaphore: Arc::new(MockSemaphorePort::new()),
            })
            .collect();
        Instances::new(list, InstanceId::parse(names[0]).unwrap()).unwrap()
    }

    #[test]
    fn instances_resolve_by_name_or_unique_prefix_with_did_you_mean() {
        let all = instances(&["production", "staging", "stage-eu"]);
        assert_eq!(all.resolve("production").unwrap().id.as_str(), "production");
        assert_eq!(all.resolve("PROD").unwrap().id.as_str(), "production");
        assert_eq!(all.resolve("stagi").unwrap().id.as_str(), "staging");
        let ambiguous = all.resolve("sta").unwrap_err();
        assert_eq!(ambiguous.known, ["production", "staging", "stage-eu"]);
        let typo = all.resolve("prodution").unwrap_err();
        assert_eq!(typo.suggestion.as_deref(), Some("production"));
        assert!(typo.describe().contains("Did you mean `production`?"), "{}", typo.describe());
        assert!(all.is_multi());
        assert!(!instances(&["default"]).is_multi());
    }

    #[test]
    fn a_set_of_instances_is_checked() {
        let one = || Instance {
            id: InstanceId::parse("a").unwrap(),
            url: String::new(),
            semaphore: Arc::new(MockSemaphorePort::new()),
        };
        assert_eq!(Instances::new(Vec::new(), InstanceId::default()).unwrap_err(), InstancesError::Empty);
        assert!(matches!(
            Instances::new(vec![one(), one()], InstanceId::parse("a").unwrap()),
            Err(InstancesError::Duplicate(_))
        ));
        assert!(matches!(Instances::new(vec![one()], InstanceId::default()), Err(InstancesError::UnknownDefault(_))));
    }

    #[test]
    fn qualified_references_table() {
        let p = |s: &str| ProjectRef::parse(s);
        assert_eq!(p("1").unwrap(), ProjectRef { instance: Default::default(), project: "1".into(), template: None });
        assert_eq!(p("prod:ops").unwrap().instance.as_deref(), Some("prod"));
        assert_eq!(p("staging:ops:deploy-web").unwrap().template.as_deref(), Some("deploy-web"));
        assert!(matches!(p("a:b:c:d"), Err(ReferenceError::TooManyParts { .. })));
        assert!(matches!(p("prod:"), Err(ReferenceError::EmptyPart { .. })));
        assert!(matches!(p(":1"), Err(ReferenceError::EmptyPart { .. })));
        let t = |s: &str| TaskSpec::parse(s);
        assert_eq!(t("42").unwrap(), TaskSpec { instance: Default::default(), task: TaskId::new(42) });
        assert_eq!(t("#42").unwrap().task, TaskId::new(42));
        assert_eq!(t("prod:2147483646").unwrap().instance.as_deref(), Some("prod"));
        assert!(matches!(t("prod:1:5"), Err(ReferenceError::TooManyParts { .. })));
        assert!(matches!(t("prod:x"), Err(ReferenceError::NotATask { .. })));
        assert!(matches!(t("prod:"), Err(ReferenceError::EmptyPart { .. })));
        assert!(t("prod:1:5").unwrap_err().to_string().contains("instance:42"));
    }

    #[test]
    fn labels_name_the_instance_only_when_there_are_several() {
        let one = instances(&["default"]);
        let two = instances(&["production", "staging"]);
        let prod = InstanceId::parse("production").unwrap();
        assert_eq!(task_label(&one, InstanceId::default(), TaskId::new(7)), "#7");
        assert_eq!(task_label(&two, prod, TaskId::new(7)), "#7 on production");
        assert_eq!(task_arg(&two, prod, TaskId::new(7)), "production:7");
        assert_eq!(tag(&one, InstanceId::default()), "");
        assert_eq!(tag(&two, prod), "[production] ");
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9_-]{0,12}"
    }

    proptest! {
        #[test]
        fn project_references_print_back_as_typed(
            instance in proptest::option::of(word()),
            project in word(),
            template in proptest::option::of(word()),
        ) {
            // A template is only written after an instance.
            let template = if instance.is_some() { template } else { None };
            let r = ProjectRef { instance, project, template };
            prop_assert_eq!(ProjectRef::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn task_references_print_back_as_typed(instance in proptest::option::of(word()), task in 0u64..u64::MAX) {
            let r = TaskSpec { instance, task: TaskId::new(task) };
            prop_assert_eq!(TaskSpec::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn any_text_parses_or_fails_cleanly(text in "\\PC{0,40}", pick in "[a-z0-9: -]{0,16}") {
            // What reads back prints back to the same (the fuzz target `references` too).
            for given in [text, pick] {
                if let Ok(r) = ProjectRef::parse(&given) {
                    prop_assert_eq!(ProjectRef::parse(&r.to_string()).unwrap(), r);
                }
                if let Ok(r) = TaskSpec::parse(&given) {
                    prop_assert_eq!(TaskSpec::parse(&r.to_string()).unwrap(), r);
                }
            }
        }
    }
}
