//! The permission policy the bot holds while it runs: config's baseline plus the grants made
//! in chat, which the store keeps (one JSON list under the setting `grants`: grants are few,
//! and one value is written atomically). Every command, reaction and verification asks it
//! through [`Ctx::authorize`] or the gate in `bot.rs`; nothing else decides who may do what.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chatrixcd_ports::{InstanceId, ProjectId, RoomId, StoreError, TemplateId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::{Core, Ctx, Request, lock};
use crate::error::CommandError;
use crate::permissions::{Decision, Grant, Origin, Permission, Policy, Scope, Target};
use crate::windows::Window;

/// The store's key for the chat grants.
const KEY: &str = "grants";

/// The policy, and what keeps the stored copy in step with it.
#[derive(Debug)]
pub(crate) struct Access {
    policy: Mutex<Policy>,
    loaded: AtomicBool,
    /// Held from a change to its save, so two grants made at once in two rooms are saved in the
    /// order they were made and neither overwrites the other.
    writing: futures::lock::Mutex<()>,
    /// Stored entries this version cannot read, kept as they were and written back with every
    /// save: a grant is never lost because of one bad field.
    unreadable: Mutex<Vec<serde_json::Value>>,
}

/// How the store keeps a chat grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    user: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<String>,
    #[serde(default)]
    second_person: bool,
    by: String,
    at: DateTime<Utc>,
}

impl Stored {
    fn of(grant: &Grant) -> Option<Self> {
        let Origin::Chat { by, at } = &grant.origin else { return None };
        Some(Self {
            user: grant.user.to_string(),
            role: grant.role.clone(),
            scope: grant.scope.as_ref().map(ToString::to_string),
            room: grant.room.as_ref().map(ToString::to_string),
            until: grant.until,
            window: grant.window.as_ref().map(ToString::to_string),
            second_person: grant.second_person,
            by: by.to_string(),
            at: *at,
        })
    }

    fn read(self) -> Result<Grant, String> {
        let user = UserId::parse(&self.user).map_err(|e| e.to_string())?;
        let scope = self.scope.as_deref().map(Scope::parse).transpose().map_err(|e| e.to_string())?;
        let room = self.room.map(RoomId::parse).transpose().map_err(|e| e.to_string())?;
        let window = self.window.as_deref().map(Window::parse).transpose().map_err(|e| e.to_string())?;
        let by = UserId::parse(&self.by).map_err(|e| e.to_string())?;
        Ok(Grant {
            user,
            role: self.role,
            scope,
            room,
            until: self.until,
            window,
            second_person: self.second_person,
            origin: Origin::Chat { by, at: self.at },
        })
    }
}

impl Access {
    pub(crate) fn new(policy: Policy) -> Self {
        Self {
            policy: Mutex::new(policy),
            loaded: AtomicBool::new(false),
            writing: futures::lock::Mutex::new(()),
            unreadable: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn policy(&self) -> std::sync::MutexGuard<'_, Policy> {
        lock(&self.policy)
    }
}

/// Reads the chat grants from the store, once; until that worked, each event tries again (the
/// config baseline applies meanwhile, so admins are never locked out by a store hiccup).
pub(crate) async fn ensure_loaded(core: &Core) {
    if core.access.loaded.load(Ordering::Acquire) {
        return;
    }
    let _writing = core.access.writing.lock().await;
    if core.access.loaded.load(Ordering::Acquire) {
        return;
    }
    let text = match core.store().setting(KEY).await {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the grants made in chat; only config's apply for now");
            return;
        }
    };
    let loaded = crate::stored_list::read(text, "grants", |entry| {
        serde_json::from_value::<Stored>(entry).map_err(|e| e.to_string()).and_then(Stored::read)
    });
    lock(&core.access.unreadable).extend(loaded.unreadable);
    {
        let mut policy = core.access.policy();
        for grant in loaded.entries {
            policy.add(grant);
        }
    }
    core.access.loaded.store(true, Ordering::Release);
}

/// Changes the policy with `change` and saves the chat grants; the change is undone if the save
/// fails, so what the bot obeys is always what it would obey after a restart.
pub(crate) async fn change<T>(core: &Core, change: impl FnOnce(&mut Policy) -> T) -> Result<T, StoreError> {
    let _writing = core.access.writing.lock().await;
    let (before, out, stored) = {
        let mut policy = core.access.policy();
        let before = policy.clone();
        let out = change(&mut policy);
        let mut stored: Vec<serde_json::Value> =
            policy.chat_grants().iter().filter_map(Stored::of).filter_map(|s| serde_json::to_value(s).ok()).collect();
        stored.extend(lock(&core.access.unreadable).iter().cloned());
        (before, out, stored)
    };
    let text = serde_json::Value::Array(stored).to_string();
    if let Err(e) = core.store().set_setting(KEY, &text).await {
        *core.access.policy() = before;
        return Err(e);
    }
    Ok(out)
}

/// What the bot makes of a sender in a room, before it reads the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// A room outside `allowed_rooms`: not ours to talk in.
    Silent,
    /// Nobody holds any grant: say how to configure an admin.
    NoAdmins,
    /// The sender holds no grant in force here.
    Stranger,
    Known,
}

pub(crate) fn gate(core: &Core, room: &RoomId, user: &UserId, now: DateTime<Utc>) -> Gate {
    let settings = &core.settings;
    if !settings.allowed_rooms.is_empty() && !settings.allowed_rooms.contains(room) {
        return Gate::Silent;
    }
    let policy = core.access.policy();
    // As ChatrixCD's successor promises: nobody is obeyed until someone may change grants.
    if !policy.has_admin(now) {
        Gate::NoAdmins
    } else if policy.knows(user, room, now) {
        Gate::Known
    } else {
        Gate::Stranger
    }
}

/// A target with its names looked up where a grant needs them.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub instance: InstanceId,
    pub project_id: ProjectId,
    pub project: Option<String>,
    pub template_id: Option<TemplateId>,
    pub template: Option<String>,
}

impl Named {
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            instance: Some(self.instance),
            project_id: Some(self.project_id.get()),
            project: self.project.as_deref(),
            template_id: self.template_id.map(TemplateId::get),
            template: self.template.as_deref(),
            some_of: false,
        }
    }
}

/// The words of a denial: what was missing, and who can grant it (never what the caller may
/// not read: only the target they asked about).
pub(crate) fn denial(policy: &Policy, decision: &Decision, target: &Target<'_>, now: DateTime<Utc>) -> String {
    let reason = decision.reason(target).unwrap_or_default();
    let granters = policy.granters(now);
    let who = match granters.as_slice() {
        [] => " Nobody can grant it in chat: an operator can add it to `bot.grants` in the configuration.".to_owned(),
        [one] => format!(" {one} can grant it."),
        many => {
            format!(" {} can grant it.", many.iter().take(3).map(ToString::to_string).collect::<Vec<_>>().join(" or "))
        }
    };
    let mut text = reason;
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text.push('.');
    text.push_str(&who);
    text
}

impl<'a> Ctx<'a> {
    /// The policy, for a look (never across an `.await`).
    pub(crate) fn policy(&self) -> std::sync::MutexGuard<'a, Policy> {
        self.core().access.policy()
    }

    /// Whether the requester may use the command `spec` somewhere (for `help`).
    pub(crate) fn may_use(&self, req: &Request, spec: &crate::grammar::CommandSpec) -> bool {
        let Some(action) = spec.permission else { return true };
        let policy = self.policy();
        let now = self.now();
        if action.is_bot_wide() {
            policy.authorize(&req.sender, &req.room, action, &Target::bot(), now).is_allowed()
        } else {
            policy.authorize_within(&req.sender, &req.room, action, None, now).is_allowed()
        }
    }

    /// The projects of `instance` the requester may read something of: the others are left out
    /// of every list and every lookup by name, as if they did not exist.
    pub(crate) fn readable_projects(
        &self,
        req: &Request,
        instance: InstanceId,
        projects: Vec<chatrixcd_ports::semaphore::Project>,
    ) -> Vec<chatrixcd_ports::semaphore::Project> {
        let policy = self.policy();
        let now = self.now();
        projects
            .into_iter()
            .filter(|p| {
                let target = Target {
                    instance: Some(instance),
                    project_id: Some(p.id.get()),
                    project: Some(&p.name),
                    template_id: None,
                    template: None,
                    some_of: true,
                };
                policy.authorize(&req.sender, &req.room, Permission::Read, &target, now).is_allowed()
            })
            .collect()
    }

    /// Whether the requester may read `template` of `project` (lists of templates and tasks).
    pub(crate) fn may_read_template(
        &self,
        req: &Request,
        instance: InstanceId,
        project: &chatrixcd_ports::semaphore::Project,
        template_id: TemplateId,
        template: Option<&str>,
    ) -> bool {
        let target = Target {
            instance: Some(instance),
            project_id: Some(project.id.get()),
            project: Some(&project.name),
            template_id: Some(template_id.get()),
            template,
            some_of: false,
        };
        self.may(req, Permission::Read, &target)
    }

    /// Whether the requester may do `action` to `target`, quietly (for filtering lists).
    pub(crate) fn may(&self, req: &Request, action: Permission, target: &Target<'_>) -> bool {
        self.policy().authorize(&req.sender, &req.room, action, target, self.now()).is_allowed()
    }

    /// Asks the policy; a denial is audited and becomes the reply. `Ok(true)`: allowed, but the
    /// grant wants a second person to approve.
    pub(crate) async fn authorize(
        &self,
        req: &Request,
        action: Permission,
        target: &Target<'_>,
    ) -> Result<bool, CommandError> {
        let now = self.now();
        let (decision, text) = {
            let policy = self.policy();
            let decision = policy.authorize(&req.sender, &req.room, action, target, now);
            // Names only what the caller may read: a task of a project they may not see is
            // named by its ids.
            let readable = action != Permission::Read
                && policy.authorize(&req.sender, &req.room, Permission::Read, target, now).is_allowed();
            let shown = if readable { *target } else { Target { project: None, template: None, ..*target } };
            let text = denial(&policy, &decision, &shown, now);
            (decision, text)
        };
        match decision {
            Decision::Allow { second_person, .. } => Ok(second_person),
            Decision::Deny { .. } => {
                self.audit(req, "denied", format!("{action} on {}", target.describe())).await;
                Err(CommandError::Denied(text))
            }
        }
    }

    /// `authorize` about a project (and template) of an instance, looking their names up in
    /// Semaphore only when one of the requester's grants names projects or templates.
    pub(crate) async fn authorize_on(
        &self,
        req: &Request,
        action: Permission,
        named: &mut Named,
    ) -> Result<bool, CommandError> {
        self.fill_names(req, named).await;
        self.authorize(req, action, &named.target()).await
    }

    /// Looks up the names `named` lacks, when a grant of the requester needs them. A lookup
    /// that fails leaves the name out: a grant by name then does not match (deny by default).
    pub(crate) async fn fill_names(&self, req: &Request, named: &mut Named) {
        if !self.policy().needs_names(&req.sender) {
            return;
        }
        let Some(instance) = self.instances().get(named.instance) else { return };
        if named.project.is_none()
            && let Ok(projects) = instance.semaphore.projects().await
        {
            named.project = projects.into_iter().find(|p| p.id == named.project_id).map(|p| p.name);
        }
        if let (None, Some(template)) = (&named.template, named.template_id)
            && let Ok(templates) = instance.semaphore.templates(named.project_id).await
        {
            named.template = templates.into_iter().find(|t| t.id == template).map(|t| t.name);
        }
    }
}
