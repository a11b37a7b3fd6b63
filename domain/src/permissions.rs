//! Roles, scoped grants and the one question every action will ask: may this user do this,
//! here, to that? (Issue 15; the model only so far: commands still ask `access::check`.)
//!
//! A *permission* is a named action (`run`, `stop`, …). A *role* is a set of permissions; four
//! are built in and config may add more. A *grant* gives a user a role within a *scope*
//! (instance, project and template patterns such as `staging:*` or `prod:ops:deploy-*`),
//! optionally only in one room and only until a time. `authorize` allows when some grant that
//! is in force covers the action and the target, and otherwise says what was missing.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use chatrixcd_ports::{InstanceId, RoomId, UserId};
use chrono::{DateTime, Utc};

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
    /// A grant of this role without a scope leaves out the protected instances (`developer`:
    /// "no production unless granted"); a scope naming one includes it.
    pub protected_needs_scope: bool,
}

impl Role {
    fn new(name: &str, permissions: &[Permission], protected_needs_scope: bool) -> Self {
        Self { name: name.to_owned(), permissions: permissions.iter().copied().collect(), protected_needs_scope }
    }

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
            if !part.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '?')) {
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

    /// Whether this scope names `instance` on purpose (not only through `*`).
    fn names_instance(&self, instance: &str) -> bool {
        !self.instance.0.contains(['*', '?']) && self.instance.matches(instance)
    }

    fn covers(&self, target: &Target<'_>) -> bool {
        let named = |pattern: &Pattern, id: Option<String>, name: Option<&str>| {
            pattern.is_any()
                || id.is_some_and(|id| pattern.matches(&id))
                || name.is_some_and(|name| pattern.matches(name))
        };
        self.instance.matches(target.instance.as_str())
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
/// `project: None`, which only an unscoped-by-project grant covers.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub instance: InstanceId,
    pub project_id: Option<u64>,
    pub project: Option<&'a str>,
    pub template_id: Option<u64>,
    pub template: Option<&'a str>,
}

impl<'a> Target<'a> {
    pub fn instance(instance: InstanceId) -> Self {
        Self { instance, project_id: None, project: None, template_id: None, template: None }
    }
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
}

/// The answer. A denial carries what was missing; `Decision::reason` words it for the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by a grant of this role (an index into the policy's roles).
    Allow {
        role: usize,
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
        let mut scope = target.instance.to_string();
        if let Some(p) = target.project {
            scope.push(':');
            scope.push_str(p);
            if let Some(t) = target.template {
                scope.push(':');
                scope.push_str(t);
            }
        }
        Some(format!("this needs the `{missing}` permission on {scope}"))
    }
}

/// Everything `authorize` weighs: the roles, the grants, and the instances a scopeless grant of
/// a `protected_needs_scope` role leaves out. Grants are indexed by user, so a question costs
/// the asker's grants, not everybody's.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: Vec<Role>,
    by_user: HashMap<UserId, Vec<Grant>>,
    protected: Vec<InstanceId>,
}

impl Policy {
    pub fn new(roles: Vec<Role>, grants: Vec<Grant>, protected: Vec<InstanceId>) -> Self {
        let mut by_user: HashMap<UserId, Vec<Grant>> = HashMap::new();
        for grant in grants {
            by_user.entry(grant.user.clone()).or_default().push(grant);
        }
        Self { roles, by_user, protected }
    }

    /// Adds a grant (from chat, once `grant` exists; the store keeps them).
    pub fn add(&mut self, grant: Grant) {
        self.by_user.entry(grant.user.clone()).or_default().push(grant);
    }

    /// The grants of one user.
    pub fn grants_of(&self, user: &UserId) -> &[Grant] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    fn role(&self, name: &str) -> Option<(usize, &Role)> {
        self.roles.iter().enumerate().find(|(_, r)| r.name.eq_ignore_ascii_case(name))
    }

    /// The role an `Allow` names.
    pub fn role_name(&self, decision: &Decision) -> Option<&str> {
        match decision {
            Decision::Allow { role } => self.roles.get(*role).map(|r| r.name.as_str()),
            Decision::Deny { .. } => None,
        }
    }

    /// May `user`, in `room`, do `action` to `target` at `now`? Deny unless a grant in force
    /// covers it; a denial names the permission and the scope that were missing.
    pub fn authorize(
        &self,
        user: &UserId,
        room: &RoomId,
        action: Permission,
        target: &Target<'_>,
        now: DateTime<Utc>,
    ) -> Decision {
        for grant in self.grants_of(user) {
            let Some((index, role)) = self.role(&grant.role) else { continue };
            let in_force = grant.room.as_ref().is_none_or(|r| r == room) && grant.until.is_none_or(|u| now <= u);
            if !in_force || !role.permissions.contains(&action) {
                continue;
            }
            let covered = match &grant.scope {
                Some(scope) => scope.covers(target),
                None => !(role.protected_needs_scope && self.protected.contains(&target.instance)),
            };
            let protected_named = match &grant.scope {
                Some(scope) if role.protected_needs_scope && self.protected.contains(&target.instance) => {
                    scope.names_instance(target.instance.as_str())
                }
                _ => true,
            };
            if covered && protected_named {
                return Decision::Allow { role: index };
            }
        }
        Decision::Deny { missing: action }
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
        Grant {
            user: user(who),
            role: role.into(),
            scope: scope.map(|s| Scope::parse(s).unwrap()),
            room: None,
            until: None,
        }
    }
    fn policy(grants: Vec<Grant>) -> Policy {
        Policy::new(Role::built_in(), grants, vec![inst("production")])
    }
    fn deploy<'a>(instance: &str) -> Target<'a> {
        Target {
            instance: inst(instance),
            project_id: Some(1),
            project: Some("ops"),
            template_id: Some(5),
            template: Some("deploy-web"),
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
            let target = Target { instance: inst(&instance), project_id: None, project: Some(&project), template_id: None, template: None };
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
