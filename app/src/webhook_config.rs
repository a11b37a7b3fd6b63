//! The `webhooks` section of config.json, checked: where the endpoint listens, which proxies'
//! `X-Forwarded-For` is believed, and the named hooks of other systems (docs/webhooks.md).
//! Semaphore's alert secrets sit with their instances (`alert_secret`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;

use chatrixcd_ports::RoomId;
use chatrixcd_webhook::{Cidr, HookConfig, MIN_SECRET_CHARS, Renderer, Tls, Verify};
use serde::Deserialize;

use crate::config::{Env, InstanceConfig, Problem, RawConfig, problem, secret};

/// `webhooks`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WebhooksSection {
    /// `127.0.0.1:8088`; behind a reverse proxy that terminates TLS, or with `tls_*_file`.
    pub listen: String,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    pub trusted_proxies: Vec<String>,
    /// Who may read `/readyz` and `/metrics`; absent: loopback only.
    pub status_allow: Option<Vec<String>>,
    pub per_client_per_second: Option<u32>,
    pub per_hook_per_second: Option<u32>,
    /// Bodies larger are refused (413); default 1 MiB.
    pub max_body_bytes: Option<usize>,
    /// A request's headers (and the TLS handshake) must arrive within this; default 10.
    pub header_timeout_secs: Option<u64>,
    /// Connections open at once; default 512.
    pub max_connections: Option<usize>,
    pub hooks: BTreeMap<String, HookSection>,
}

/// `webhooks.hooks.<name>`, as written.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HookSection {
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub verify: String,
    pub rooms: Vec<String>,
    pub template: Option<String>,
    pub allow: Vec<String>,
    pub run: Option<RunSection>,
    /// Keys not listed above: each is a problem, not a warning, since a misspelt `allow` would
    /// leave the hook open to everybody.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

impl std::fmt::Debug for HookSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookSection")
            .field("secret", &crate::config::hidden(&self.secret))
            .field("secret_file", &self.secret_file)
            .field("verify", &self.verify)
            .field("rooms", &self.rooms)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

const HOOK_KEYS: [&str; 7] = ["secret", "secret_file", "verify", "rooms", "template", "allow", "run"];

/// `webhooks.hooks.<name>.run`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RunSection {
    /// Who the hook acts as (its grants decide); default `@hook-<name>:webhooks.invalid`.
    #[serde(rename = "as")]
    pub principal: Option<String>,
    /// `instance:project:template`, as `run` takes it.
    pub template: String,
    pub vars: BTreeMap<String, String>,
    /// A minijinja expression over `body`, `hook` and `event`.
    pub when: Option<String>,
}

/// The user a hook acts as unless `run.as` says: on the reserved `.invalid` domain, so no real
/// account can ever be it.
fn default_principal(name: &str) -> String {
    let local: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    format!("@hook-{local}:webhooks.invalid")
}

fn check_run(
    key: &str,
    name: &str,
    run: &RunSection,
    problems: &mut Vec<Problem>,
) -> Option<chatrixcd_webhook::RunConfig> {
    let principal_text = run.principal.clone().unwrap_or_else(|| default_principal(name));
    let principal = match crate::access_config::user_id(&principal_text) {
        Ok(user) => Some(user),
        Err(e) => {
            problems.push(problem(&format!("{key}.run.as"), e));
            None
        }
    };
    if run.template.trim().is_empty() {
        problems.push(problem(
            &format!("{key}.run.template"),
            "is required: the template to run, e.g. \"staging:ops:deploy-web\"",
        ));
        return None;
    }
    let config = chatrixcd_webhook::RunConfig {
        principal: principal?,
        target: run.template.trim().to_owned(),
        vars: run.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        when: run.when.clone(),
    };
    if let Err(e) = chatrixcd_webhook::run::RunTemplates::new(config.clone()) {
        problems.push(problem(&format!("{key}.run"), e));
        return None;
    }
    Some(config)
}

/// The endpoint, checked.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    pub listen: SocketAddr,
    /// Certificate and key, read and matched at load.
    pub tls: Option<Tls>,
    /// The certificate's file (`chatrixcd webhook test` trusts it).
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub trusted_proxies: Vec<Cidr>,
    pub status_allow: Option<Vec<Cidr>>,
    pub per_client: Option<NonZeroU32>,
    pub per_hook: Option<NonZeroU32>,
    pub max_body: Option<usize>,
    pub header_timeout: Option<std::time::Duration>,
    pub max_connections: Option<usize>,
    pub hooks: Vec<HookConfig>,
}

impl Webhooks {
    /// The endpoint's settings, with the instances that take alerts.
    pub(crate) fn endpoint(
        &self,
        alert_secrets: Vec<(chatrixcd_ports::InstanceId, String)>,
        clock: std::sync::Arc<dyn chatrixcd_ports::Clock>,
    ) -> chatrixcd_webhook::WebhookConfig {
        let mut endpoint = chatrixcd_webhook::WebhookConfig::new(self.listen, clock);
        endpoint.alert_secrets = alert_secrets;
        endpoint.hooks = self.hooks.clone();
        endpoint.trusted_proxies = self.trusted_proxies.clone();
        endpoint.tls = self.tls.clone();
        if let Some(allow) = &self.status_allow {
            endpoint.status_allow = allow.clone();
        }
        endpoint.per_client = self.per_client.unwrap_or(endpoint.per_client);
        endpoint.per_hook = self.per_hook.unwrap_or(endpoint.per_hook);
        endpoint.max_body = self.max_body.unwrap_or(endpoint.max_body);
        endpoint.limits.header_timeout = self.header_timeout.unwrap_or(endpoint.limits.header_timeout);
        endpoint.limits.max_connections = self.max_connections.unwrap_or(endpoint.limits.max_connections);
        endpoint
    }
}

fn rate(key: &str, value: Option<u32>, problems: &mut Vec<Problem>) -> Option<NonZeroU32> {
    let value = value?;
    let rate = NonZeroU32::new(value);
    if rate.is_none() {
        problems.push(problem(key, "must be 1 or more (requests per second)"));
    }
    rate
}

fn tls(section: &WebhooksSection, problems: &mut Vec<Problem>) -> Option<Tls> {
    match (&section.tls_cert_file, &section.tls_key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => match Tls::from_pem_files(Path::new(cert), Path::new(key)) {
            Ok(tls) => Some(tls),
            Err(e) => {
                problems.push(problem("webhooks.tls_cert_file", e.to_string()));
                None
            }
        },
        (Some(_), None) => {
            problems.push(problem("webhooks.tls_key_file", "is required with tls_cert_file"));
            None
        }
        (None, Some(_)) => {
            problems.push(problem("webhooks.tls_cert_file", "is required with tls_key_file"));
            None
        }
    }
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
    let status_allow = section.status_allow.as_ref().map(|list| ranges("webhooks.status_allow", list, problems));
    let tls = tls(section, problems);
    let per_client = rate("webhooks.per_client_per_second", section.per_client_per_second, problems);
    let per_hook = rate("webhooks.per_hook_per_second", section.per_hook_per_second, problems);
    let positive = |key: &str, value: Option<u64>, problems: &mut Vec<Problem>| match value {
        Some(0) => {
            problems.push(problem(key, "must be 1 or more"));
            None
        }
        other => other,
    };
    let max_body = positive("webhooks.max_body_bytes", section.max_body_bytes.map(|b| b as u64), problems)
        .and_then(|b| usize::try_from(b).ok());
    let header_timeout = positive("webhooks.header_timeout_secs", section.header_timeout_secs, problems)
        .map(std::time::Duration::from_secs);
    let max_connections = positive("webhooks.max_connections", section.max_connections.map(|c| c as u64), problems)
        .and_then(|c| usize::try_from(c).ok());
    let mut hooks = Vec::new();
    let mut variables: BTreeMap<String, &str> = BTreeMap::new();
    for name in section.hooks.keys() {
        if let Some(other) = variables.insert(secret_variable(name), name) {
            problems.push(problem(
                &format!("webhooks.hooks.{name}"),
                format!("and `{other}` would both take their secret from {}: rename one", secret_variable(name)),
            ));
        }
    }
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
    let tls_cert_file = tls.as_ref().and(section.tls_cert_file.as_ref()).map(std::path::PathBuf::from);
    Some(Webhooks {
        listen: listen?,
        tls,
        tls_cert_file,
        trusted_proxies,
        status_allow,
        per_client,
        per_hook,
        max_body,
        header_timeout,
        max_connections,
        hooks,
    })
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
    for unknown in h.unknown.keys() {
        let known = HOOK_KEYS.join(", ");
        let hint = chatrixcd_domain::grammar::suggest(unknown, HOOK_KEYS)
            .map(|k| format!("did you mean `{k}`? "))
            .unwrap_or_default();
        problems.push(problem(&format!("{key}.{unknown}"), format!("is not a hook setting ({hint}known: {known})")));
    }
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
    let run = h.run.as_ref().and_then(|r| check_run(key, name, r, problems));
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
        run,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const SECRET: &str = "9b2f6c1d4e8a0b3c5d7e9f1a2b4c6d8e";

    fn with_webhooks(webhooks: &str) -> String {
        format!(
            r#"{{
                matrix: {{ homeserver: "https://m.example", user_id: "@bot:m.example", password: "pw" }},
                semaphore: {{ url: "https://s.example", api_token: "t", alert_secret: "{SECRET}" }},
                bot: {{ admin_users: ["@a:m.example"] }},
                webhooks: {webhooks},
            }}"#
        )
    }

    /// Every problem's key and a piece of its message.
    fn problems(webhooks: &str) -> Vec<(String, String)> {
        match parse(&with_webhooks(webhooks)) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| (p.key, p.message)).collect(),
        }
    }

    #[test]
    fn a_whole_section_reaches_the_endpoint() {
        let text = with_webhooks(&format!(
            r#"{{ listen: "127.0.0.1:8088", trusted_proxies: ["10.0.0.0/8"], status_allow: ["192.0.2.0/24"],
                 per_client_per_second: 5, per_hook_per_second: 7, max_body_bytes: 4096, header_timeout_secs: 3, max_connections: 9,
                 hooks: {{ gitea: {{ secret: "{SECRET}", verify: "forgejo", rooms: ["!dev:m.example"], allow: ["10.1.0.0/16"] }} }} }}"#
        ));
        let (config, warnings) = parse(&text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let webhooks = config.webhooks.as_ref().unwrap();
        let default = config.instances[0].id;
        let clock = std::sync::Arc::new(chatrixcd_clock::SystemClock);
        let endpoint = webhooks.endpoint(vec![(default, SECRET.to_owned())], clock);
        assert_eq!(endpoint.listen.port(), 8088);
        assert_eq!((endpoint.per_client.get(), endpoint.per_hook.get()), (5, 7));
        assert_eq!(endpoint.max_body, 4096);
        assert_eq!((endpoint.limits.header_timeout.as_secs(), endpoint.limits.max_connections), (3, 9));
        assert_eq!(endpoint.status_allow.len(), 1);
        assert_eq!(endpoint.trusted_proxies.len(), 1);
        let hook = &endpoint.hooks[0];
        assert_eq!((hook.name.as_str(), hook.verify, hook.allow.len()), ("gitea", chatrixcd_webhook::Verify::Gitea, 1));
        assert!(config.secrets().iter().any(|s| s == SECRET), "hook secrets are redacted");
    }

    #[test]
    fn each_mistake_is_named_where_it_is() {
        let hook = |body: &str| format!(r#"{{ listen: "127.0.0.1:8088", hooks: {{ ci: {body} }} }}"#);
        let good = format!(r#"secret: "{SECRET}", verify: "github", rooms: ["!r:m.example"]"#);
        let cases: Vec<(String, &str, &str)> = vec![
            (hook(&format!("{{ {good}, alow: [\"10.0.0.0/8\"] }}")), "webhooks.hooks.ci.alow", "did you mean `allow`"),
            (hook(r#"{ secret: "short", verify: "github", rooms: ["!r:m.example"] }"#), "webhooks.hooks.ci.secret", "128 bits"),
            (hook(&format!(r#"{{ secret: "{SECRET}", verify: "md5", rooms: ["!r:m.example"] }}"#)), "webhooks.hooks.ci.verify", "hmac-sha256"),
            (hook(&format!(r##"{{ secret: "{SECRET}", verify: "github", rooms: ["#r:m.example"] }}"##)), "webhooks.hooks.ci.rooms[0]", "room id"),
            (hook(&format!(r#"{{ secret: "{SECRET}", verify: "github", rooms: [] }}"#)), "webhooks.hooks.ci.rooms", "no room"),
            (hook(&format!("{{ {good}, allow: [\"10.0.0.0/33\"] }}")), "webhooks.hooks.ci.allow[0]", ""),
            (hook(&format!("{{ {good}, template: \"{{{{ unclosed\" }}")), "webhooks.hooks.ci.template", ""),
            (hook(r#"{ verify: "github", rooms: ["!r:m.example"] }"#), "webhooks.hooks.ci.secret", "is required"),
            (
                format!(r#"{{ listen: "127.0.0.1:8088", hooks: {{ "a-b": {{ {good} }}, a_b: {{ {good} }} }} }}"#),
                "webhooks.hooks.a_b",
                "CHATRIXCD_HOOK_A_B_SECRET",
            ),
            (r#"{ listen: "127.0.0.1:8088", tls_cert_file: "/nonexistent/cert.pem" }"#.into(), "webhooks.tls_key_file", "required"),
            (
                r#"{ listen: "127.0.0.1:8088", tls_cert_file: "/nonexistent/c.pem", tls_key_file: "/nonexistent/k.pem" }"#.into(),
                "webhooks.tls_cert_file",
                "/nonexistent/c.pem",
            ),
            (r#"{ listen: "127.0.0.1:8088", per_client_per_second: 0 }"#.into(), "webhooks.per_client_per_second", "1 or more"),
            (r#"{ listen: "127.0.0.1:8088", status_allow: ["everyone"] }"#.into(), "webhooks.status_allow[0]", ""),
            (r#"{ listen: "8088" }"#.into(), "webhooks.listen", "address and port"),
            (hook(&format!("{{ {good}, run: {{ template: \"\" }} }}")), "webhooks.hooks.ci.run.template", "is required"),
            (hook(&format!("{{ {good}, run: {{ template: \"s:o:t\", when: \"a ===\" }} }}")), "webhooks.hooks.ci.run", "run.when"),
            (hook(&format!("{{ {good}, run: {{ template: \"s:o:t\", as: \"nobody\" }} }}")), "webhooks.hooks.ci.run.as", ""),
        ];
        for (webhooks, key, says) in cases {
            let found = problems(&webhooks);
            assert!(
                found.iter().any(|(k, m)| k == key && m.contains(says)),
                "{webhooks}\nwanted {key}: …{says}…\ngot {found:#?}"
            );
        }
        assert!(problems(&hook(&format!("{{ {good} }}"))).is_empty());
    }
}
