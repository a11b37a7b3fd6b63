//! Roles, scoped grants and the one question every action asks: may this user do this, here, to
//! that?
//!
//! A *permission* is a named action (`run`, `stop`, …). A *role* is a set of permissions; four
//! are built in and config may add more. A *grant* gives a user a role within a *scope*
//! (instance, project and template patterns such as `staging:*` or `prod:ops:deploy-*`),
//! optionally only in one room and only until a time. `authorize` allows when some grant that
//! is in force covers the action and the target, and otherwise says what was missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chatrixcd_ports::{InstanceId, RoomId, UserId};
use chrono::{DateTime, Utc};

use crate::windows::Window;

/// A named action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Lists, status, `info`.
    Read,
    Logs,
    Run,
    Stop,
    /// Approving or rejecting Terraform plans, and being the second person of a two-person run.
    Approve,
    Schedule,
    Presets,
    /// Joining and leaving rooms.
    Rooms,
    /// Changing grants.
    Grant,
    Verify,
    Exit,
    Audit,
}

impl Permission {
    pub const ALL: [Self; 12] = [
        Self::Read,
        Self::Logs,
        Self::Run,
        Self::Stop,
        Self::Approve,
        Self::Schedule,
        Self::Presets,
        Self::Rooms,
        Self::Grant,
        Self::Verify,
        Self::Exit,
        Self::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Logs => "logs",
            Self::Run => "run",
            Self::Stop => "stop",
            Self::Approve => "approve",
            Self::Schedule => "schedule",
            Self::Presets => "presets",
            Self::Rooms => "rooms",
            Self::Grant => "grant",
            Self::Verify => "verify",
            Self::Exit => "exit",
            Self::Audit => "audit",
        }
    }

    /// Whether it is about the bot itself (its rooms, grants, devices, process, audit log)
    /// rather than something of an instance: only a grant everywhere gives it.
    pub fn is_bot_wide(self) -> bool {
        matches!(self, Self::Rooms | Self::Grant | Self::Verify | Self::Exit | Self::Audit)
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(word.trim()))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub permissions: BTreeSet<Permission>,
    /// A grant of this role without a scope leaves out the protected instances for everything
    /// but `read` and `logs` (`developer`: "no production unless granted"); a scope naming one
    /// includes it.
    pub protected_needs_scope: bool,
}

impl Role {
    fn new(name: &str, permissions: &[Permission], protected_needs_scope: bool) -> Self {
        Self { name: name.to_owned(), permissions: permissions.iter().copied().collect(), protected_needs_scope }
    }

    /// A role from config: a name and its permissions.
    pub fn custom(name: &str, permissions: impl IntoIterator<Item = Permission>) -> Self {
        Self { name: name.to_lowercase(), permissions: permissions.into_iter().collect(), protected_needs_scope: false }
    }

    /// The names of the built-in roles, which config may not redefine.
    pub const BUILT_IN: [&'static str; 4] = ["admin", "operator", "developer", "viewer"];

    /// `admin`, `operator`, `developer`, `viewer`.
    pub fn built_in() -> Vec<Self> {
        use Permission::{Approve, Logs, Read, Run, Schedule, Stop};
        vec![
            Self::new("admin", &Permission::ALL, false),
            Self::new("operator", &[Read, Logs, Run, Stop, Approve, Schedule], false),
            Self::new("developer", &[Read, Logs, Run], true),
            Self::new("viewer", &[Read, Logs], false),
        ]
    }
}

/// A glob over one part of a target: `*` any run of characters, `?` one; case is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn any() -> Self {
        Self("*".into())
    }

    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }

    /// Greedy matching with one backtrack point (the last `*`): linear in practice, never
    /// exponential, whatever the pattern. The pattern is stored lower-case; ASCII text (every
    /// instance name, and most project and template names) is compared without allocating.
    pub fn matches(&self, text: &str) -> bool {
        if self.0.is_ascii() && text.is_ascii() {
            return glob(self.0.as_bytes(), text.as_bytes(), |p, c| p == c.to_ascii_lowercase());
        }
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.to_lowercase().chars().collect();
        glob(&p, &t, |p, c| p == c)
    }
}

/// `*` and `?` over any symbols; `same(pattern symbol, text symbol)` compares the others.
fn glob<T: Copy + PartialEq + From<u8>>(p: &[T], t: &[T], same: impl Fn(T, T) -> bool) -> bool {
    let (any, one) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi).copied() {
            Some(c) if c == any => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if c == one || same(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == any)
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a grant applies: `instance[:project[:template]]`, each part a pattern; parts left out
/// match everything. `*` alone is everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub instance: Pattern,
    pub project: Pattern,
    pub template: Pattern,
}

/// Why a scope cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("`{0}` has more than three parts (instance:project:template)")]
    TooManyParts(String),
    #[error("`{0}` has an empty part")]
    EmptyPart(String),
    #[error("`{given}`: `{part}` may hold only letters, digits, `-`, `_`, `.`, `*` and `?`")]
    BadCharacter { given: String, part: String },
}

impl Scope {
    pub fn everywhere() -> Self {
        Self { instance: Pattern::any(), project: Pattern::any(), template: Pattern::any() }
    }

    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let text = text.trim();
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() > 3 {
            return Err(ScopeError::TooManyParts(text.to_owned()));
        }
        let mut out = Vec::new();
        for part in &parts {
            if part.is_empty() {
                return Err(ScopeError::EmptyPart(text.to_owned()));
            }
            // `İ` lower-cases to `i` and a combining dot (U+0307), the one character lower-casing
            // a letter makes that is not a letter: taken too, so a scope read back reads.
            if !part.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '?' | '\u{307}')) {
                return Err(ScopeError::BadCharacter { given: text.to_owned(), part: (*part).to_owned() });
            }
            out.push(Pattern(part.to_lowercase()));
        }
        let mut parts = out.into_iter();
        Ok(Self {
            instance: parts.next().unwrap_or_else(Pattern::any),
            project: parts.next().unwrap_or_else(Pattern::any),
            template: parts.next().unwrap_or_else(Pattern::any),
        })
    }

    /// Whether this scope is everywhere (`*`, `*:*`, `*:*:*`).
    pub fn is_everywhere(&self) -> bool {
        self.instance.is_any() && self.project.is_any() && self.template.is_any()
    }

    /// Whether this scope names `instance` on purpose (not only through `*`).
    fn names_instance(&self, instance: &str) -> bool {
        !self.instance.0.contains(['*', '?']) && self.instance.matches(instance)
    }

    /// Whether `target` is within this scope.
    pub fn covers(&self, target: &Target<'_>) -> bool {
        // What belongs to no instance (joining rooms, shutting down, changing grants) is only in
        // a scope that is everywhere.
        let Some(instance) = target.instance else { return self.is_everywhere() };
        let named = |pattern: &Pattern, id: Option<String>, name: Option<&str>| {
            pattern.is_any()
                || (target.some_of && id.is_none() && name.is_none())
                || id.is_some_and(|id| pattern.matches(&id))
                || name.is_some_and(|name| pattern.matches(name))
        };
        self.instance.matches(instance.as_str())
            && named(&self.project, target.project_id.map(|p| p.to_string()), target.project)
            && named(&self.template, target.template_id.map(|t| t.to_string()), target.template)
    }
}

impl fmt::Display for Scope {
    /// The shortest form that reads back the same: trailing `*` parts are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.template.is_any() {
            write!(f, "{}:{}:{}", self.instance, self.project, self.template)
        } else if !self.project.is_any() {
            write!(f, "{}:{}", self.instance, self.project)
        } else {
            write!(f, "{}", self.instance)
        }
    }
}

/// What an action is about. A command that names no project (`projects`, `instances`) has
/// `project: None`, which only an unscoped-by-project grant covers; what belongs to no instance
/// (`exit`, `rooms join`, `grant`) has `instance: None`, which only a grant everywhere covers.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub instance: Option<InstanceId>,
    pub project_id: Option<u64>,
    pub project: Option<&'a str>,
    pub template_id: Option<u64>,
    pub template: Option<&'a str>,
    /// About *something* of what is named (listing a project's templates, or "may they run
    /// anything on staging?"): the parts left out then match any pattern. Otherwise they stand
    /// for the whole, which only a grant without a pattern there covers.
    pub some_of: bool,
}

impl<'a> Target<'a> {
    pub fn instance(instance: InstanceId) -> Self {
        Self {
            instance: Some(instance),
            project_id: None,
            project: None,
            template_id: None,
            template: None,
            some_of: false,
        }
    }

    /// The same, about something of it (see `some_of`).
    pub fn some_of(self) -> Self {
        Self { some_of: true, ..self }
    }

    /// The bot itself: its rooms, its grants, its process.
    pub fn bot() -> Self {
        Self { instance: None, project_id: None, project: None, template_id: None, template: None, some_of: false }
    }

    /// How the target reads in a denial: `the bot`, `staging`, `staging:ops:deploy-web` (names
    /// where known, else ids).
    pub fn describe(&self) -> String {
        let Some(instance) = self.instance else { return "the bot".to_owned() };
        let mut out = instance.to_string();
        let project = self.project.map(str::to_owned).or_else(|| self.project_id.map(|p| p.to_string()));
        if let Some(p) = project {
            out.push(':');
            out.push_str(&p);
            if let Some(t) = self.template.map(str::to_owned).or_else(|| self.template_id.map(|t| t.to_string())) {
                out.push(':');
                out.push_str(&t);
            }
        }
        out
    }
}

/// An expiry as people write it: `2026-12-31` (through the end of that day, UTC) or an RFC 3339
/// time. `None` when it reads as neither.
pub fn parse_until(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(day) => day.and_hms_opt(23, 59, 59).map(|t| t.and_utc()),
        Err(_) => DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc)),
    }
}

/// Where a grant comes from: config is the read-only baseline; chat grants are stored and may
/// be revoked in chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Config,
    Chat { by: UserId, at: DateTime<Utc> },
}

/// A role given to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: UserId,
    pub role: String,
    /// `None`: everywhere (for a role with `protected_needs_scope`, everywhere but the
    /// protected instances).
    pub scope: Option<Scope>,
    /// Only in this room.
    pub room: Option<RoomId>,
    /// Not after this time.
    pub until: Option<DateTime<Utc>>,
    /// Only within this time window (`Mon-Fri 08:00-18:00 Europe/Berlin`).
    pub window: Option<Window>,
    /// What this grant allows needs a second person's approval (two-person runs).
    pub second_person: bool,
    pub origin: Origin,
}

impl Grant {
    /// A grant from config, everywhere, at any time, with no second person.
    pub fn new(user: UserId, role: &str, scope: Option<Scope>) -> Self {
        Self {
            user,
            role: role.to_lowercase(),
            scope,
            room: None,
            until: None,
            window: None,
            second_person: false,
            origin: Origin::Config,
        }
    }

    /// Whether it applies in `room` at `now` (its room, its expiry, its window).
    pub fn in_force(&self, room: &RoomId, now: DateTime<Utc>) -> bool {
        self.room.as_ref().is_none_or(|r| r == room)
            && self.until.is_none_or(|u| now <= u)
            && self.window.as_ref().is_none_or(|w| w.contains(now))
    }

    /// Whether two grants give the same role to the same user in the same place: the second is
    /// a duplicate, whatever its expiry.
    pub fn same_place(&self, other: &Self) -> bool {
        self.user == other.user && self.role == other.role && self.scope == other.scope && self.room == other.room
    }

    /// `operator on staging:ops in !room until 2026-12-31 (Mon-Fri 08:00-18:00 UTC)`.
    pub fn describe(&self) -> String {
        let mut out = self.role.clone();
        match &self.scope {
            Some(scope) => out.push_str(&format!(" on {scope}")),
            None => out.push_str(" everywhere"),
        }
        if let Some(room) = &self.room {
            out.push_str(&format!(" in {room}"));
        }
        if let Some(until) = self.until {
            out.push_str(&format!(" until {}", until.format("%Y-%m-%d %H:%M UTC")));
        }
        if let Some(window) = &self.window {
            out.push_str(&format!(" ({window})"));
        }
        if self.second_person {
            out.push_str(", with a second person's approval");
        }
        out
    }
}

/// The answer. A denial carries what was missing; `Decision::reason` words it for the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by a grant of this role (an index into the policy's roles); `second_person`:
    /// that grant wants a second person to approve.
    Allow {
        role: usize,
        second_person: bool,
    },
    Deny {
        missing: Permission,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }

    /// Why it was denied, naming the permission and the scope (nothing the caller may not read:
    /// only what they asked about). `None` when allowed.
    pub fn reason(&self, target: &Target<'_>) -> Option<String> {
        let Self::Deny { missing } = self else { return None };
        Some(format!("this needs the `{missing}` permission on {}", target.describe()))
    }
}

/// Everything `authorize` weighs: the roles, the grants, and the instances a scopeless grant of
/// a `protected_needs_scope` role leaves out. Grants are indexed by user, so a question costs
/// the asker's grants, not everybody's.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: Vec<Role>,
    /// A B-tree, not a hash map: a few comparisons of short ids cost less than hashing one with
    /// SipHash, and every command asks (see docs/performance.md).
    by_user: BTreeMap<UserId, Vec<Grant>>,
    protected: Vec<InstanceId>,
    /// Until when some admin grant is in force (`Some(None)`: for good), kept up to date by
    /// every change: `has_admin` is asked for every command.
    admin_until: Option<Option<DateTime<Utc>>>,
}

impl Policy {
    pub fn new(roles: Vec<Role>, grants: Vec<Grant>, protected: Vec<InstanceId>) -> Self {
        let mut by_user: BTreeMap<UserId, Vec<Grant>> = BTreeMap::new();
        for grant in grants {
            by_user.entry(grant.user.clone()).or_default().push(grant);
        }
        let mut policy = Self { roles, by_user, protected, admin_until: None };
        policy.admins_changed();
        policy
    }

    fn admins_changed(&mut self) {
        let mut until: Option<Option<DateTime<Utc>>> = None;
        for grant in self.by_user.values().flatten() {
            let admin = grant.room.is_none()
                && grant.scope.as_ref().is_none_or(Scope::is_everywhere)
                && self.role(&grant.role).is_some_and(|r| r.permissions.contains(&Permission::Grant));
            if admin {
                until = Some(match (until, grant.until) {
                    (Some(None), _) | (_, None) => None,
                    (Some(Some(a)), Some(b)) => Some(a.max(b)),
                    (None, Some(b)) => Some(b),
                });
            }
        }
        self.admin_until = until;
    }

    /// Adds a grant.
    pub fn add(&mut self, grant: Grant) {
        self.by_user.entry(grant.user.clone()).or_default().push(grant);
        self.admins_changed();
    }

    /// Removes the chat grants of `role` to `user` with exactly this scope (any room); returns
    /// them. Config grants stay: config is the baseline.
    pub fn revoke(&mut self, user: &UserId, role: &str, scope: Option<&Scope>) -> Vec<Grant> {
        let Some(grants) = self.by_user.get_mut(user) else { return Vec::new() };
        let (gone, kept): (Vec<Grant>, Vec<Grant>) = std::mem::take(grants).into_iter().partition(|g| {
            g.origin != Origin::Config && g.role.eq_ignore_ascii_case(role) && g.scope.as_ref() == scope
        });
        *grants = kept;
        self.admins_changed();
        gone
    }

    /// The grants of one user.
    pub fn grants_of(&self, user: &UserId) -> &[Grant] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// Every grant, users in id order (for listings and for saving).
    pub fn all(&self) -> Vec<&Grant> {
        self.by_user.values().flatten().collect()
    }

    /// The grants made in chat, which the store keeps.
    pub fn chat_grants(&self) -> Vec<Grant> {
        self.all().into_iter().filter(|g| g.origin != Origin::Config).cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.values().all(Vec::is_empty)
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The instances a scopeless `developer` grant leaves out.
    pub fn protected(&self) -> &[InstanceId] {
        &self.protected
    }

    /// A role by name, ignoring case.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.role_at(name).map(|(_, r)| r)
    }

    fn role_at(&self, name: &str) -> Option<(usize, &Role)> {
        self.roles.iter().enumerate().find(|(_, r)| r.name.eq_ignore_ascii_case(name))
    }

    /// The role an `Allow` names.
    pub fn role_name(&self, decision: &Decision) -> Option<&str> {
        match decision {
            Decision::Allow { role, .. } => self.roles.get(*role).map(|r| r.name.as_str()),
            Decision::Deny { .. } => None,
        }
    }

    /// Whether `user` holds any grant in force in `room`: the bot answers them (`help`,
    /// `whoami`), and brushes off everybody else.
    pub fn knows(&self, user: &UserId, room: &RoomId, now: DateTime<Utc>) -> bool {
        self.grants_of(user).iter().any(|g| g.in_force(room, now))
    }

    /// Whether a grant of `role` is an administrator's: it may change grants, bot-wide, in every
    /// room, for good. The bot needs one to be told who it works for.
    fn is_admin_grant(&self, grant: &Grant, now: DateTime<Utc>) -> bool {
        grant.room.is_none()
            && grant.until.is_none_or(|u| now <= u)
            && grant.scope.as_ref().is_none_or(Scope::is_everywhere)
            && self.role(&grant.role).is_some_and(|r| r.permissions.contains(&Permission::Grant))
    }

    /// Who may change grants everywhere: whom a denial names as the people to ask.
    pub fn granters(&self, now: DateTime<Utc>) -> Vec<&UserId> {
        // In id order: the map is ordered.
        self.by_user
            .iter()
            .filter(|(_, grants)| grants.iter().any(|g| self.is_admin_grant(g, now)))
            .map(|(u, _)| u)
            .collect()
    }

    /// Whether `user` has grants whose scope names projects or templates: only then must a
    /// command look names up before asking (ids are enough for everybody else).
    pub fn needs_names(&self, user: &UserId) -> bool {
        self.grants_of(user)
            .iter()
            .any(|g| g.scope.as_ref().is_some_and(|s| !s.project.is_any() || !s.template.is_any()))
    }

    /// May `user`, in `room`, do `action` to `target` at `now`? Deny unless a grant in force
    /// covers it; a denial names the permission and the scope that were missing. Of the grants
    /// that allow it, one that needs no second person wins.
    pub fn authorize(
        &self,
        user: &UserId,
        room: &RoomId,
        action: Permission,
        target: &Target<'_>,
        now: DateTime<Utc>,
    ) -> Decision {
        // Looking is never held back: a developer sees what runs on production, and only
        // changing it needs a grant that names it.
        let looking = matches!(action, Permission::Read | Permission::Logs);
        self.best(user, room, action, now, |grant, role| {
            let protected = !looking && target.instance.is_some_and(|i| self.protected.contains(&i));
            match &grant.scope {
                None => !(role.protected_needs_scope && protected),
                Some(scope) => {
                    let named = !(role.protected_needs_scope && protected)
                        || target.instance.is_some_and(|i| scope.names_instance(i.as_str()));
                    scope.covers(target) && named
                }
            }
        })
    }

    /// May `user` do `action` to *something* of `instance` (or, with `None`, anywhere)? The
    /// quick question asked before a command runs; the command asks `authorize` about the
    /// project and template once it knows them.
    pub fn authorize_within(
        &self,
        user: &UserId,
        room: &RoomId,
        action: Permission,
        instance: Option<InstanceId>,
        now: DateTime<Utc>,
    ) -> Decision {
        match instance {
            Some(instance) => self.authorize(user, room, action, &Target::instance(instance).some_of(), now),
            None => self.best(user, room, action, now, |_, _| true),
        }
    }

    fn best(
        &self,
        user: &UserId,
        room: &RoomId,
        action: Permission,
        now: DateTime<Utc>,
        covers: impl Fn(&Grant, &Role) -> bool,
    ) -> Decision {
        let mut found = None;
        for grant in self.grants_of(user) {
            let Some((index, role)) = self.role_at(&grant.role) else { continue };
            if !role.permissions.contains(&action) || !grant.in_force(room, now) || !covers(grant, role) {
                continue;
            }
            if !grant.second_person {
                return Decision::Allow { role: index, second_person: false };
            }
            found.get_or_insert(Decision::Allow { role: index, second_person: true });
        }
        found.unwrap_or(Decision::Deny { missing: action })
    }

    /// Whether `inviter` may bring the bot into `room`: the `rooms` permission, bot-wide (a grant
    /// limited to that room counts for it).
    pub fn may_invite(&self, inviter: &UserId, room: &RoomId, now: DateTime<Utc>) -> bool {
        self.authorize(inviter, room, Permission::Rooms, &Target::bot(), now).is_allowed()
    }

    /// Whether the policy still has an administrator (see `granters`) at `now`.
    pub fn has_admin(&self, now: DateTime<Utc>) -> bool {
        match self.admin_until {
            None => false,
            Some(None) => true,
            Some(Some(until)) => now <= until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(n: &str) -> UserId {
        UserId::parse(format!("@{n}:test")).unwrap()
    }
    fn room(n: &str) -> RoomId {
        RoomId::parse(format!("!{n}:test")).unwrap()
    }
    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap()
    }
    fn inst(n: &str) -> InstanceId {
        InstanceId::parse(n).unwrap()
    }
    fn grant(who: &str, role: &str, scope: Option<&str>) -> Grant {
        Grant::new(user(who), role, scope.map(|s| Scope::parse(s).unwrap()))
    }
    fn policy(grants: Vec<Grant>) -> Policy {
        Policy::new(Role::built_in(), grants, vec![inst("production")])
    }
    fn deploy<'a>(instance: &str) -> Target<'a> {
        Target {
            instance: Some(inst(instance)),
            project_id: Some(1),
            project: Some("ops"),
            template_id: Some(5),
            template: Some("deploy-web"),
            some_of: false,
        }
    }

    #[test]
    fn each_built_in_role_may_do_what_it_says_and_nothing_more() {
        let p = policy(vec![
            grant("ann", "admin", None),
            grant("otto", "operator", None),
            grant("dev", "developer", None),
            grant("vic", "viewer", None),
        ]);
        use Permission::*;
        let table: &[(&str, &[Permission])] = &[
            ("ann", &Permission::ALL),
            ("otto", &[Read, Logs, Run, Stop, Approve, Schedule]),
            ("dev", &[Read, Logs, Run]),
            ("vic", &[Read, Logs]),
            ("nobody", &[]),
        ];
        for (who, allowed) in table {
            for action in Permission::ALL {
                let got = p.authorize(&user(who), &room("r"), action, &deploy("staging"), at(0)).is_allowed();
                assert_eq!(got, allowed.contains(&action), "{who} {action}");
            }
        }
    }

    #[test]
    fn developers_reach_production_only_through_a_scope_naming_it() {
        let mut p = policy(vec![grant("dev", "developer", None)]);
        let run = |p: &Policy, instance: &str| {
            p.authorize(&user("dev"), &room("r"), Permission::Run, &deploy(instance), at(0))
        };
        assert!(run(&p, "staging").is_allowed());
        let denied = run(&p, "production");
        assert_eq!(denied, Decision::Deny { missing: Permission::Run });
        assert_eq!(
            denied.reason(&deploy("production")).as_deref(),
            Some("this needs the `run` permission on production:ops:deploy-web")
        );
        assert_eq!(p.role_name(&run(&p, "staging")), Some("developer"));
        p.add(grant("dev", "developer", Some("*")));
        assert!(!run(&p, "production").is_allowed(), "a wildcard is not naming production");
        p.add(grant("dev", "developer", Some("production:ops:deploy-*")));
        assert!(run(&p, "production").is_allowed());
    }

    #[test]
    fn scopes_rooms_and_expiry_limit_a_grant() {
        let mut scoped = grant("otto", "operator", Some("staging:ops"));
        scoped.room = Some(room("ops"));
        scoped.until = Some(at(100));
        let p = policy(vec![scoped]);
        let ask = |r: &str, target: &Target<'_>, t: i64| {
            p.authorize(&user("otto"), &room(r), Permission::Stop, target, at(t)).is_allowed()
        };
        assert!(ask("ops", &deploy("staging"), 0));
        assert!(ask("ops", &deploy("staging"), 100), "until is inclusive");
        assert!(!ask("ops", &deploy("staging"), 101), "expired");
        assert!(!ask("elsewhere", &deploy("staging"), 0), "another room");
        let mut web = deploy("staging");
        web.project = Some("web");
        web.project_id = Some(2);
        assert!(!ask("ops", &web, 0), "another project");
        let mut by_id = deploy("staging");
        by_id.project = None;
        assert!(!ask("ops", &by_id, 0), "a project known only by id does not match a name");
        assert!(!ask("ops", &Target::instance(inst("staging")), 0), "no project: only a project-wide grant covers it");
    }

    #[test]
    fn bad_scopes_are_refused_with_the_reason() {
        assert_eq!(Scope::parse("a:b:c:d"), Err(ScopeError::TooManyParts("a:b:c:d".into())));
        assert_eq!(Scope::parse("prod::x"), Err(ScopeError::EmptyPart("prod::x".into())));
        assert!(matches!(Scope::parse("prod:o ps"), Err(ScopeError::BadCharacter { .. })));
        assert_eq!(Scope::parse("Staging:*").unwrap().to_string(), "staging");
    }

    /// Found by the `references` fuzz target: `İ` is stored lower-cased as `i` and U+0307, which
    /// was refused when the scope was read again (a chat grant's, at the next start).
    #[test]
    fn a_scope_with_a_dotted_capital_i_reads_back() {
        let scope = Scope::parse("staging:İzmir").unwrap();
        assert_eq!(Scope::parse(&scope.to_string()), Ok(scope.clone()));
        assert!(scope.project.matches("İZMIR") && scope.project.matches("i\u{307}zmir"));
    }

    fn part() -> impl Strategy<Value = String> {
        "[a-z0-9*?][a-z0-9_.*?-]{0,6}"
    }

    proptest! {
        /// A scope prints in a form that reads back to the same scope.
        #[test]
        fn scopes_print_and_read_back(parts in prop::collection::vec(part(), 1..=3)) {
            let scope = Scope::parse(&parts.join(":")).unwrap();
            prop_assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
        }

        /// Without a grant nothing is allowed; with an admin grant everything is.
        #[test]
        fn deny_by_default_and_admins_everywhere(
            action in prop::sample::select(Permission::ALL.to_vec()),
            instance in "[a-z][a-z0-9-]{0,10}",
            project in "[a-z][a-z0-9-]{0,10}",
        ) {
            let target = Target { instance: Some(inst(&instance)), project_id: None, project: Some(&project), template_id: None, template: None, some_of: false };
            let nobody = policy(vec![grant("vic", "viewer", None)]);
            prop_assert!(!nobody.authorize(&user("eve"), &room("r"), action, &target, at(0)).is_allowed());
            let admin = policy(vec![grant("ann", "admin", None)]);
            prop_assert!(admin.authorize(&user("ann"), &room("r"), action, &target, at(0)).is_allowed());
        }

        /// Any text at all (what a chat message may hold): a scope that reads prints back to
        /// itself, as the fuzz target `references` checks at length.
        #[test]
        fn any_text_that_reads_as_a_scope_prints_back(text in any::<String>(), pick in "[a-z*?:.-]{0,12}") {
            for given in [text, pick] {
                if let Ok(scope) = Scope::parse(&given) {
                    prop_assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
                }
            }
        }

        /// The matcher agrees with the plain recursive definition of a glob.
        #[test]
        fn globs_match_as_defined(pattern in "[ab*?]{0,8}", text in "[ab]{0,10}") {
            fn reference(p: &[char], t: &[char]) -> bool {
                match p.split_first() {
                    None => t.is_empty(),
                    Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
                    Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
                    Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
                }
            }
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(Pattern(pattern.clone()).matches(&text), reference(&p, &t));
        }

        /// A literal pattern matches exactly its own text, whatever the case.
        #[test]
        fn a_literal_pattern_matches_only_itself(a in "[a-z0-9-]{1,8}", b in "[a-z0-9-]{1,8}") {
            let pattern = Scope::parse(&a).unwrap().instance;
            prop_assert!(pattern.matches(&a.to_uppercase()));
            prop_assert_eq!(pattern.matches(&b), a == b);
        }
    }
}
