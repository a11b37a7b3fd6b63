//! The `webhooks` section of config.json, checked: where the endpoint listens, which proxies'
//! `X-Forwarded-For` is believed, and the named hooks of other systems (docs/webhooks.md).
//! Semaphore's alert secrets sit with their instances (`alert_secret`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chatrixcd_ports::RoomId;
use chatrixcd_webhook::{Cidr, HookConfig, MIN_SECRET_CHARS, Renderer, Verify};
use serde::Deserialize;

use crate::config::{Env, InstanceConfig, Problem, RawConfig, problem, secret};

/// `webhooks`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WebhooksSection {
    /// `127.0.0.1:8088`; behind a reverse proxy that terminates TLS.
    pub listen: String,
    pub trusted_proxies: Vec<String>,
    pub hooks: BTreeMap<String, HookSection>,
}

/// `webhooks.hooks.<name>`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct HookSection {
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub verify: String,
    pub rooms: Vec<String>,
    pub template: Option<String>,
    pub allow: Vec<String>,
}

/// The endpoint, checked.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    pub listen: SocketAddr,
    pub trusted_proxies: Vec<Cidr>,
    pub hooks: Vec<HookConfig>,
}

/// `CHATRIXCD_HOOK_<NAME>_SECRET`.
fn secret_variable(name: &str) -> String {
    format!("CHATRIXCD_HOOK_{}_SECRET", name.to_ascii_uppercase().replace('-', "_"))
}

fn ranges(key: &str, list: &[String], problems: &mut Vec<Problem>) -> Vec<Cidr> {
    let mut out = Vec::new();
    for (i, text) in list.iter().enumerate() {
        match Cidr::parse(text) {
            Ok(c) => out.push(c),
            Err(e) => problems.push(problem(&format!("{key}[{i}]"), e)),
        }
    }
    out
}

pub(crate) fn check(
    raw: &RawConfig,
    instances: &[InstanceConfig],
    env: Env<'_>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<Webhooks> {
    let with_secret = instances.iter().filter(|i| i.alert_secret.is_some()).count();
    let Some(section) = &raw.webhooks else {
        if let Some(i) = instances.iter().find(|i| i.alert_secret.is_some()) {
            warnings.push(problem(
                &format!("{}.alert_secret", i.key),
                "is set, but there is no `webhooks` section to receive alerts",
            ));
        }
        return None;
    };
    let listen = match section.listen.trim().parse::<SocketAddr>() {
        Ok(address) => Some(address),
        Err(_) => {
            problems.push(problem(
                "webhooks.listen",
                format!("`{}` is not an address and port, e.g. \"127.0.0.1:8088\"", section.listen),
            ));
            None
        }
    };
    let trusted_proxies = ranges("webhooks.trusted_proxies", &section.trusted_proxies, problems);
    let mut hooks = Vec::new();
    for (name, h) in &section.hooks {
        let key = format!("webhooks.hooks.{name}");
        if let Some(hook) = check_hook(&key, name, h, env, problems, warnings) {
            hooks.push(hook);
        }
    }
    if with_secret == 0 && hooks.is_empty() {
        warnings.push(problem(
            "webhooks",
            "no Semaphore instance has an `alert_secret` and no hook is configured: the endpoint takes nothing (see docs/webhooks.md)",
        ));
    }
    Some(Webhooks { listen: listen?, trusted_proxies, hooks })
}

fn check_hook(
    key: &str,
    name: &str,
    h: &HookSection,
    env: Env<'_>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<HookConfig> {
    let before = problems.len();
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name == "semaphore"
    {
        problems.push(problem(key, "a hook's name may hold only letters, digits, `-` and `_`, and is not `semaphore`"));
    }
    let verify = Verify::parse(&h.verify);
    if verify.is_none() {
        problems.push(problem(
            &format!("{key}.verify"),
            format!("`{}` is not one of: {}", h.verify, Verify::NAMES.join(", ")),
        ));
    }
    let variable = secret_variable(name);
    let secret_file_key = format!("{key}.secret_file");
    let secret =
        secret(env, &variable, h.secret.as_ref(), h.secret_file.as_ref(), &secret_file_key, problems, warnings);
    match &secret {
        None if h.secret_file.is_none() => {
            problems.push(problem(&format!("{key}.secret"), format!("is required (or {key}.secret_file or {variable})")));
        }
        Some(s) if s.chars().count() < MIN_SECRET_CHARS => problems.push(problem(
            &format!("{key}.secret"),
            format!(
                "is {} characters; a hook's secret must hold at least 128 bits: {MIN_SECRET_CHARS} hex characters or more",
                s.chars().count()
            ),
        )),
        _ => {}
    }
    let mut rooms = Vec::new();
    for (i, r) in h.rooms.iter().enumerate() {
        match RoomId::parse(r.trim()) {
            Ok(room) => rooms.push(room),
            Err(e) => problems.push(problem(&format!("{key}.rooms[{i}]"), format!("{e} (use the room id, `!…`)"))),
        }
    }
    if h.rooms.is_empty() {
        problems.push(problem(&format!("{key}.rooms"), "lists no room: the deliveries would go nowhere"));
    }
    if let Err(e) = Renderer::new(h.template.as_deref()) {
        problems.push(problem(&format!("{key}.template"), e));
    }
    let allow = ranges(&format!("{key}.allow"), &h.allow, problems);
    if problems.len() > before {
        return None;
    }
    Some(HookConfig {
        name: name.to_owned(),
        secret: secret?,
        verify: verify?,
        rooms,
        template: h.template.clone(),
        allow,
    })
}
