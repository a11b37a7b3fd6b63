//! The permission part of config.json, checked: `admin_users` and `viewer_users` (ChatrixCD's),
//! `roles` (custom roles), `grants` (the read-only baseline) and `production_instances`.
//!
//! ChatrixCD wrote user ids URL-encoded (`@alice%40corp:example.org`); they are decoded here,
//! once, and compared exactly from then on, as the Matrix spec defines user ids.

use std::collections::BTreeMap;

use chatrixcd_domain::grammar::suggest;
use chatrixcd_domain::permissions::{Grant, Permission, Role, Scope, parse_until};
use chatrixcd_domain::windows::Window;
use chatrixcd_ports::{InstanceId, RoomId, UserId};
use serde::Deserialize;

use crate::config::{BotSection, Problem, problem};

/// One entry of `bot.grants`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct GrantSection {
    pub user: String,
    pub role: String,
    pub scope: Option<String>,
    pub room: Option<String>,
    /// `2026-12-31` (through that day, UTC) or an RFC 3339 time.
    pub until: Option<String>,
    /// `Mon-Fri 08:00-18:00 Europe/Berlin`.
    pub window: Option<String>,
    pub second_person: bool,
}

/// What the permission keys give, checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccessConfig {
    pub admins: Vec<UserId>,
    pub viewers: Vec<UserId>,
    pub roles: Vec<Role>,
    pub grants: Vec<Grant>,
    pub protected: Vec<InstanceId>,
}

/// ChatrixCD's URL-encoded ids, decoded once: `%40` is `@` and `%3A` is `:`.
pub(crate) fn user_id(text: &str) -> Result<UserId, String> {
    let decoded = text.trim().replace("%40", "@").replace("%3A", ":").replace("%3a", ":");
    UserId::parse(decoded).map_err(|e| e.to_string())
}

/// Users listed under `key`.
pub(crate) fn users(key: &str, list: &[String], problems: &mut Vec<Problem>) -> Vec<UserId> {
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        match user_id(a) {
            Ok(u) => out.push(u),
            Err(e) => problems.push(problem(&format!("bot.{key}[{i}]"), e)),
        }
    }
    out
}

/// Checks every permission key; problems name the key and what is wrong.
pub(crate) fn check(
    b: &BotSection,
    instances: &[&str],
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> AccessConfig {
    let admins = users("admin_users", &b.admin_users, problems);
    let viewers = users("viewer_users", &b.viewer_users, problems);
    let custom = check_roles(&b.roles, problems);
    let mut known: Vec<String> = Role::BUILT_IN.iter().map(|r| (*r).to_owned()).collect();
    known.extend(custom.iter().map(|r| r.name.clone()));
    let mut out_grants: Vec<Grant> = Vec::new();
    for (i, g) in b.grants.iter().enumerate() {
        let key = format!("bot.grants[{i}]");
        if let Some(grant) = check_grant(&key, g, &known, instances, problems) {
            let repeated = admins
                .iter()
                .map(|u| Grant::new(u.clone(), "admin", None))
                .chain(viewers.iter().map(|u| Grant::new(u.clone(), "viewer", None)))
                .chain(out_grants.iter().cloned())
                .any(|held| held.same_place(&grant));
            if repeated {
                problems
                    .push(problem(&key, format!("repeats a grant of {} to {} given above", grant.role, grant.user)));
            } else {
                out_grants.push(grant);
            }
        }
    }
    let mut protected = Vec::new();
    for (i, name) in b.production_instances.iter().enumerate() {
        match InstanceId::parse(name.trim()).ok().filter(|id| instances.contains(&id.as_str())) {
            Some(id) => protected.push(id),
            None => problems.push(problem(
                &format!("bot.production_instances[{i}]"),
                format!(
                    "no instance is called `{name}` (there are: {}){}",
                    instances.join(", "),
                    hint(name, instances)
                ),
            )),
        }
    }
    let admin_in_grants = out_grants.iter().any(|g| {
        g.room.is_none()
            && g.until.is_none()
            && g.scope.as_ref().is_none_or(Scope::is_everywhere)
            && (g.role == "admin"
                || custom.iter().any(|r| r.name == g.role && r.permissions.contains(&Permission::Grant)))
    });
    if admins.is_empty() && !admin_in_grants {
        warnings.push(problem(
            "bot.admin_users",
            "is empty and no grant in bot.grants makes an admin: nobody may use the bot (ChatrixCD let everybody in; chatrixcd denies by default)",
        ));
    }
    AccessConfig { admins, viewers, roles: custom, grants: out_grants, protected }
}

fn hint(given: &str, names: &[&str]) -> String {
    suggest(given, names.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
}

fn check_roles(roles: &BTreeMap<String, Vec<String>>, problems: &mut Vec<Problem>) -> Vec<Role> {
    let mut out = Vec::new();
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    for (name, permissions) in roles {
        let key = format!("bot.roles.{name}");
        if Role::BUILT_IN.iter().any(|b| b.eq_ignore_ascii_case(name)) {
            problems.push(problem(&key, format!("`{name}` is a built-in role; give yours another name")));
            continue;
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            problems.push(problem(&key, "a role's name may hold only letters, digits, `-` and `_`"));
            continue;
        }
        if permissions.is_empty() {
            problems.push(problem(&key, format!("lists no permissions (there are: {})", names.join(", "))));
            continue;
        }
        let mut parsed = Vec::new();
        for (i, p) in permissions.iter().enumerate() {
            match Permission::parse(p) {
                Some(p) => parsed.push(p),
                None => problems.push(problem(
                    &format!("{key}[{i}]"),
                    format!("`{p}` is not a permission (there are: {}){}", names.join(", "), hint(p, &names)),
                )),
            }
        }
        out.push(Role::custom(name, parsed));
    }
    out
}

fn check_grant(
    key: &str,
    g: &GrantSection,
    roles: &[String],
    instances: &[&str],
    problems: &mut Vec<Problem>,
) -> Option<Grant> {
    let before = problems.len();
    let user = user_id(&g.user).map_err(|e| problems.push(problem(&format!("{key}.user"), e))).ok();
    let role = g.role.trim().to_lowercase();
    if !roles.contains(&role) {
        let names: Vec<&str> = roles.iter().map(String::as_str).collect();
        problems.push(problem(
            &format!("{key}.role"),
            format!("there is no role `{}` (there are: {}){}", g.role, names.join(", "), hint(&g.role, &names)),
        ));
    }
    let scope = match g.scope.as_deref().map(Scope::parse).transpose() {
        Ok(Some(scope)) if !instances.iter().any(|i| scope.instance.matches(i)) => {
            problems.push(problem(
                &format!("{key}.scope"),
                format!(
                    "`{scope}` matches no instance (there are: {}){}",
                    instances.join(", "),
                    hint(&scope.instance.to_string(), instances)
                ),
            ));
            None
        }
        Ok(scope) => scope,
        Err(e) => {
            problems.push(problem(&format!("{key}.scope"), e.to_string()));
            None
        }
    };
    let room = match g.room.as_deref().map(|r| RoomId::parse(r.trim())).transpose() {
        Ok(room) => room,
        Err(e) => {
            problems.push(problem(&format!("{key}.room"), format!("{e} (use the room id, `!…`)")));
            None
        }
    };
    let until = g.until.as_deref().and_then(|u| match parse_until(u) {
        Some(t) => Some(t),
        None => {
            problems.push(problem(
                &format!("{key}.until"),
                format!("`{u}` is not a date (2026-12-31) or an RFC 3339 time"),
            ));
            None
        }
    });
    let window = match g.window.as_deref().map(Window::parse).transpose() {
        Ok(window) => window,
        Err(e) => {
            problems.push(problem(&format!("{key}.window"), e.to_string()));
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    let user = user?;
    Some(Grant { room, until, window, second_person: g.second_person, ..Grant::new(user, &role, scope) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(roles: &[(&str, &[&str])], grants: &str, production: &[&str]) -> (AccessConfig, Vec<Problem>, Vec<Problem>) {
        let b = BotSection {
            admin_users: vec!["@alice%40corp:example.org".to_owned()],
            roles: roles.iter().map(|(n, p)| ((*n).to_owned(), p.iter().map(|s| (*s).to_owned()).collect())).collect(),
            grants: serde_json::from_str(grants).unwrap(),
            production_instances: production.iter().map(|s| (*s).to_owned()).collect(),
            ..BotSection::default()
        };
        let (mut problems, mut warnings) = (Vec::new(), Vec::new());
        let out = check(&b, &["production", "staging"], &mut problems, &mut warnings);
        (out, problems, warnings)
    }

    #[test]
    fn good_roles_grants_and_protected_instances_are_read() {
        let (out, problems, warnings) = run(
            &[("deployer", &["read", "run"])],
            r#"[{"user": "@dev:x", "role": "developer", "scope": "production:ops:deploy-*", "until": "2026-12-31",
                 "window": "Mon-Fri 08:00-18:00 Europe/Berlin", "second_person": true},
                {"user": "@d:x", "role": "Deployer", "room": "!ops:x"}]"#,
            &["production"],
        );
        assert!(problems.is_empty() && warnings.is_empty(), "{problems:?} {warnings:?}");
        assert_eq!(out.admins[0].as_str(), "@alice@corp:example.org", "decoded once, at load");
        assert_eq!(out.roles[0].name, "deployer");
        assert_eq!(out.grants.len(), 2);
        assert!(out.grants[0].second_person && out.grants[0].window.is_some());
        assert_eq!(out.grants[0].until.unwrap().to_rfc3339(), "2026-12-31T23:59:59+00:00");
        assert_eq!(out.grants[1].role, "deployer");
        assert_eq!(out.protected[0].as_str(), "production");
    }

    #[test]
    fn every_bad_entry_is_refused_naming_its_key() {
        let (_, problems, _) = run(
            &[("admin", &["read"]), ("empty", &[]), ("typo", &["rnu"])],
            r##"[{"user": "dev", "role": "developer"},
                {"user": "@d:x", "role": "opertor"},
                {"user": "@d:x", "role": "operator", "scope": "prod"},
                {"user": "@d:x", "role": "operator", "scope": "a:b:c:d"},
                {"user": "@d:x", "role": "operator", "room": "#ops:x"},
                {"user": "@d:x", "role": "operator", "until": "someday"},
                {"user": "@d:x", "role": "operator", "window": "Mon-Fri 25:00-26:00"},
                {"user": "@alice%40corp:example.org", "role": "admin"},
                {"user": "@e:x", "role": "viewer"},
                {"user": "@e:x", "role": "viewer"}]"##,
            &["prodution"],
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "bot.roles.admin",
                "bot.roles.empty",
                "bot.roles.typo[0]",
                "bot.grants[0].user",
                "bot.grants[1].role",
                "bot.grants[2].scope",
                "bot.grants[3].scope",
                "bot.grants[4].room",
                "bot.grants[5].until",
                "bot.grants[6].window",
                "bot.grants[7]",
                "bot.grants[9]",
                "bot.production_instances[0]",
            ],
            "{problems:#?}"
        );
        let text = |k: &str| problems.iter().find(|p| p.key == k).map(|p| p.message.clone()).unwrap_or_default();
        assert!(text("bot.roles.typo[0]").contains("did you mean `run`?"), "{problems:#?}");
        assert!(text("bot.grants[1].role").contains("did you mean `operator`?"), "{problems:#?}");
        assert!(text("bot.grants[2].scope").contains("matches no instance"), "{problems:#?}");
        assert!(text("bot.production_instances[0]").contains("did you mean `production`?"), "{problems:#?}");
    }

    #[test]
    fn no_admin_anywhere_is_a_warning_and_a_granted_admin_counts() {
        let (mut problems, mut warnings) = (Vec::new(), Vec::new());
        let mut b = BotSection {
            grants: serde_json::from_str(r#"[{"user": "@d:x", "role": "operator"}]"#).unwrap(),
            ..BotSection::default()
        };
        check(&b, &["default"], &mut problems, &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        b.grants = serde_json::from_str(r#"[{"user": "@d:x", "role": "admin"}]"#).unwrap();
        warnings.clear();
        check(&b, &["default"], &mut problems, &mut warnings);
        assert!(warnings.is_empty() && problems.is_empty(), "{warnings:?} {problems:?}");
    }
}
