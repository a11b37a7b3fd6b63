//! ChatrixCD's `config.json` (HJSON: comments, trailing commas, unquoted keys), read as it is:
//! existing users point chatrixcd at the file they have. Every problem is reported with the key it
//! concerns, all at once, so a broken file is fixed in one go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chatrixcd_domain::{ConfirmPolicy, PolicyRule};
use chatrixcd_ports::{InstanceId, RoomId, UserId};
use chatrixcd_semaphore::SemaphoreConfig;
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MatrixSection {
    pub homeserver: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub auth_type: Option<String>,
    pub password: Option<String>,
    /// A file holding the password (new in chatrixcd), so it need not sit in config.json.
    pub password_file: Option<String>,
    pub access_token: Option<String>,
    pub access_token_file: Option<String>,
    pub oidc_redirect_url: Option<String>,
    pub store_path: Option<String>,
    /// Encrypts the Matrix state and crypto stores (new in chatrixcd).
    pub store_passphrase: Option<String>,
    pub store_passphrase_file: Option<String>,
}

/// Shows whether a secret is set, never its value: for the `Debug` of sections holding one.
pub(crate) fn hidden(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl std::fmt::Debug for MatrixSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixSection")
            .field("homeserver", &self.homeserver)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("auth_type", &self.auth_type)
            .field("password", &hidden(&self.password))
            .field("password_file", &self.password_file)
            .field("access_token", &hidden(&self.access_token))
            .field("access_token_file", &self.access_token_file)
            .field("store_path", &self.store_path)
            .field("store_passphrase", &hidden(&self.store_passphrase))
            .field("store_passphrase_file", &self.store_passphrase_file)
            .finish_non_exhaustive()
    }
}

/// One Semaphore server: ChatrixCD's `semaphore` section, or one entry of `semaphore_instances`.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub(crate) struct SemaphoreSection {
    pub url: String,
    pub api_token: Option<String>,
    /// A file holding the token (new in chatrixcd).
    pub api_token_file: Option<String>,
    pub ssl_verify: bool,
    pub ssl_ca_cert: Option<String>,
    pub ssl_client_cert: Option<String>,
    pub ssl_client_key: Option<String>,
    /// Limit for one request to this instance, in seconds (new in chatrixcd; default 15).
    pub timeout_secs: Option<u64>,
    /// The address people open in a browser, when it differs from `url` (new in chatrixcd).
    pub web_url: Option<String>,
    /// The secret in the URL Semaphore's alerts are sent to (`webhooks`; docs/webhooks.md).
    pub alert_secret: Option<String>,
    pub alert_secret_file: Option<String>,
}

impl std::fmt::Debug for SemaphoreSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemaphoreSection")
            .field("url", &self.url)
            .field("api_token", &hidden(&self.api_token))
            .field("api_token_file", &self.api_token_file)
            .field("ssl_verify", &self.ssl_verify)
            .field("alert_secret", &hidden(&self.alert_secret))
            .field("alert_secret_file", &self.alert_secret_file)
            .finish_non_exhaustive()
    }
}

impl Default for SemaphoreSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            api_token: None,
            api_token_file: None,
            ssl_verify: true,
            ssl_ca_cert: None,
            ssl_client_cert: None,
            ssl_client_key: None,
            timeout_secs: None,
            web_url: None,
            alert_secret: None,
            alert_secret_file: None,
        }
    }
}

/// One entry of `bot.policies`: how much agreement runs of part of what the bot can run need.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PolicySection {
    pub instance: Option<String>,
    /// A project id or name.
    pub project: Option<Value>,
    /// A template id or name.
    pub template: Option<Value>,
    pub policy: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct BotSection {
    pub command_prefix: String,
    pub allowed_rooms: Vec<String>,
    pub admin_users: Vec<String>,
    /// May look (status, logs, lists) but not run, stop or change anything (new in chatrixcd).
    pub viewer_users: Vec<String>,
    /// Never answered, e.g. other bots (new in chatrixcd).
    pub ignored_users: Vec<String>,
    pub greetings_enabled: bool,
    pub greeting_rooms: Vec<String>,
    pub startup_message: Option<String>,
    pub shutdown_message: Option<String>,
    /// Commands older than this many seconds when they arrive (sent while the bot was down) are
    /// not run; their sender is told. New in chatrixcd (ChatrixCD dropped them silently).
    pub offline_command_window: u32,
    /// ChatrixCD's personality file; default `messages.json` when it exists.
    pub messages_file: Option<String>,
    /// ChatrixCD's aliases file, imported once; default `aliases.json` when it exists.
    pub aliases_file: Option<String>,
    /// Forget runs older than this many days; keep everything when absent.
    pub keep_history_days: Option<u32>,
    /// `none`, `confirm` (the default) or `two-person`, where no policy below matches.
    pub default_policy: Option<String>,
    pub policies: Vec<PolicySection>,
    /// Custom roles: name -> permissions (new in chatrixcd; docs/permissions.md).
    pub roles: BTreeMap<String, Vec<String>>,
    /// Grants of roles to users, optionally scoped, per room, until a date, in a time window.
    pub grants: Vec<crate::access_config::GrantSection>,
    /// Instances a `developer` grant without a scope leaves out.
    pub production_instances: Vec<String>,
    /// Rooms following tasks the bot did not start (docs/webhooks.md).
    pub notify: Vec<NotifySection>,
    /// The zone schedules are read in unless they name one (IANA, e.g. `Europe/Berlin`).
    pub timezone: Option<String>,
    /// The most schedules one room may have.
    pub max_schedules_per_room: Option<usize>,
    /// `--missed all` runs at most this many missed slots.
    pub schedule_missed_at_most: Option<u32>,
    /// The key presets' secret values are sealed with (32 bytes, mode 0600); default
    /// `secrets.key` in the data directory, made at the first start.
    pub secrets_key_file: Option<String>,
}

/// One entry of `bot.notify`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NotifySection {
    pub room: String,
    pub scope: String,
    /// `failures` (the default), `finished` or `all`.
    pub on: Option<String>,
}

impl Default for BotSection {
    fn default() -> Self {
        Self {
            command_prefix: "!cd".into(),
            allowed_rooms: Vec::new(),
            admin_users: Vec::new(),
            viewer_users: Vec::new(),
            ignored_users: Vec::new(),
            greetings_enabled: true,
            greeting_rooms: Vec::new(),
            startup_message: None,
            shutdown_message: None,
            offline_command_window: 600,
            messages_file: None,
            aliases_file: None,
            keep_history_days: None,
            default_policy: None,
            policies: Vec::new(),
            roles: BTreeMap::new(),
            grants: Vec::new(),
            production_instances: Vec::new(),
            notify: Vec::new(),
            timezone: None,
            max_schedules_per_room: None,
            schedule_missed_at_most: None,
            secrets_key_file: None,
        }
    }
}

/// The configuration as written, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawConfig {
    pub matrix: MatrixSection,
    /// ChatrixCD's one server: the instance `default`.
    pub semaphore: Option<SemaphoreSection>,
    pub semaphore_instances: BTreeMap<String, SemaphoreSection>,
    pub default_instance: Option<String>,
    pub bot: BotSection,
    /// The webhook endpoint (new in chatrixcd; off when absent).
    pub webhooks: Option<crate::webhook_config::WebhooksSection>,
    /// How long the run history keeps what (new in chatrixcd).
    pub privacy: PrivacySection,
}

/// `privacy`: the run history's retention, and when it forgets who asked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PrivacySection {
    /// Forget runs older than this many days (the same as `bot.keep_history_days`).
    pub retention_days: Option<u32>,
    /// Replace the requester of runs older than this many days with one pseudonym.
    pub anonymise_after_days: Option<u32>,
}

/// A problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

pub(crate) fn problem(key: &str, message: impl Into<String>) -> Problem {
    Problem { key: key.to_owned(), message: message.into() }
}

/// One Semaphore instance, validated, its token read from wherever it was given.
#[derive(Clone)]
pub(crate) struct InstanceConfig {
    pub id: InstanceId,
    /// Where it is configured, for messages: `semaphore` or `semaphore_instances.<name>`.
    pub key: String,
    pub section: SemaphoreSection,
    pub token: String,
    /// Semaphore's alerts for this instance are taken at the webhook endpoint with this secret.
    pub alert_secret: Option<String>,
}

impl std::fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceConfig").field("id", &self.id).field("url", &self.section.url).finish_non_exhaustive()
    }
}

impl InstanceConfig {
    /// The HTTP client's settings for this instance.
    pub(crate) fn semaphore_config(&self) -> SemaphoreConfig {
        let s = &self.section;
        let mut c = SemaphoreConfig::new(s.url.clone(), self.token.clone());
        c.verify_tls = s.ssl_verify;
        let path = |p: &Option<String>| p.as_deref().filter(|p| !p.is_empty()).map(PathBuf::from);
        c.ca_file = path(&s.ssl_ca_cert);
        c.client_cert = path(&s.ssl_client_cert);
        c.client_key = path(&s.ssl_client_key);
        if let Some(secs) = s.timeout_secs {
            c.request_timeout = std::time::Duration::from_secs(secs);
            c.connect_timeout = c.connect_timeout.min(c.request_timeout);
        }
        c.web_url = s.web_url.clone().filter(|u| !u.is_empty());
        c
    }
}

/// A configuration that passed validation. Secrets given by file or environment are already
/// read into `raw` (the Matrix ones) and `instances` (the tokens).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub raw: RawConfig,
    pub user_id: UserId,
    pub admins: Vec<UserId>,
    pub viewers: Vec<UserId>,
    pub roles: Vec<chatrixcd_domain::permissions::Role>,
    pub grants: Vec<chatrixcd_domain::permissions::Grant>,
    pub protected_instances: Vec<InstanceId>,
    /// `bot.notify`, checked.
    pub follows: Vec<chatrixcd_domain::notify::Follow>,
    /// `bot.timezone`, checked (UTC when absent).
    pub schedule_zone: String,
    pub ignored_users: Vec<UserId>,
    pub allowed_rooms: Vec<RoomId>,
    /// The default instance first, then the others by name.
    pub instances: Vec<InstanceConfig>,
    pub default_instance: InstanceId,
    pub default_policy: ConfirmPolicy,
    pub policies: Vec<PolicyRule>,
    pub messages_file: Option<PathBuf>,
    pub aliases_file: Option<PathBuf>,
    /// The webhook endpoint, when `webhooks` is configured.
    pub webhooks: Option<crate::webhook_config::Webhooks>,
}

impl Config {
    /// Every secret value, for the redactor: none of them may reach a chat message or a log.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let m = &self.raw.matrix;
        let mut all: Vec<String> = [m.password.clone(), m.access_token.clone(), m.store_passphrase.clone()]
            .into_iter()
            .flatten()
            .chain(self.instances.iter().map(|i| i.token.clone()))
            .chain(self.instances.iter().filter_map(|i| i.alert_secret.clone()))
            .chain(self.webhooks.iter().flat_map(|w| w.hooks.iter().map(|h| h.secret.clone())))
            .filter(|s| !s.trim().is_empty())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Top-level keys chatrixcd knows; `plugins` and `_config_version` are ChatrixCD's.
const TOP: &[&str] = &[
    "matrix",
    "semaphore",
    "semaphore_instances",
    "default_instance",
    "bot",
    "webhooks",
    "privacy",
    "plugins",
    "_config_version",
];

const SEMAPHORE_KEYS: &[&str] = &[
    "url",
    "api_token",
    "api_token_file",
    "ssl_verify",
    "ssl_ca_cert",
    "ssl_client_cert",
    "ssl_client_key",
    "timeout_secs",
    "web_url",
    "alert_secret",
    "alert_secret_file",
];

/// Keys chatrixcd knows, per section; others are reported as likely typos (not errors: old
/// ChatrixCD files carry keys of its TUI and plugins).
const KNOWN: &[(&str, &[&str])] = &[
    (
        "webhooks",
        &[
            "listen",
            "tls_cert_file",
            "tls_key_file",
            "trusted_proxies",
            "status_allow",
            "per_client_per_second",
            "per_hook_per_second",
            "max_body_bytes",
            "header_timeout_secs",
            "max_connections",
            "hooks",
        ],
    ),
    (
        "matrix",
        &[
            "homeserver",
            "user_id",
            "device_id",
            "device_name",
            "auth_type",
            "password",
            "password_file",
            "access_token",
            "access_token_file",
            "oidc_redirect_url",
            "store_path",
            "store_passphrase",
            "store_passphrase_file",
        ],
    ),
    ("semaphore", SEMAPHORE_KEYS),
    (
        "bot",
        &[
            "command_prefix",
            "allowed_rooms",
            "admin_users",
            "viewer_users",
            "ignored_users",
            "greetings_enabled",
            "greeting_rooms",
            "startup_message",
            "shutdown_message",
            "offline_command_window",
            "messages_file",
            "aliases_file",
            "keep_history_days",
            "default_policy",
            "policies",
            "roles",
            "grants",
            "production_instances",
            "notify",
            "timezone",
            "max_schedules_per_room",
            "schedule_missed_at_most",
            "secrets_key_file",
            "log_file",
            "mouse_enabled",
            "color_enabled",
            "color_theme",
            "verbosity",
            "load_plugins",
            "tui_mode",
            "redact",
        ],
    ),
];

/// Where the environment is read from: the process's, or a test's.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, ignoring empty values.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The variable that holds an instance's token: `CHATRIXCD_SEMAPHORE_API_TOKEN` for ChatrixCD's
/// single section, `CHATRIXCD_SEMAPHORE_<NAME>_API_TOKEN` for a named one (`-` becomes `_`).
pub(crate) fn token_variable(instance: Option<&InstanceId>) -> String {
    match instance {
        None => "CHATRIXCD_SEMAPHORE_API_TOKEN".to_owned(),
        Some(id) => format!("CHATRIXCD_SEMAPHORE_{}_API_TOKEN", id.as_str().to_ascii_uppercase().replace('-', "_")),
    }
}

/// Reads and validates a config file against the process environment. `Err` holds every
/// problem found.
pub(crate) fn load(path: &Path) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![problem(&path.display().to_string(), format!("cannot read it: {e}"))])?;
    let (config, mut warnings) = parse_with(&text, &process_env)?;
    warn_if_inline_secrets_are_open(path, &text, &config, &mut warnings);
    Ok((config, warnings))
}

/// ChatrixCD's config.json holds its secrets inline: a file others may read gives them away.
fn warn_if_inline_secrets_are_open(path: &Path, text: &str, config: &Config, warnings: &mut Vec<Problem>) {
    if config.secrets().iter().any(|s| text.contains(s.as_str())) {
        let shown = path.display().to_string();
        if readable_by_others(&shown) {
            warnings.push(problem(
                &shown,
                format!(
                    "holds secrets inline but others may read it: `chmod 600 {shown}`, or move them to `…_file` keys or CHATRIXCD_… variables"
                ),
            ));
        }
    }
}

#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    parse_with(text, &|_| None)
}

/// A secret: the environment variable wins, then the file, then the value in config.json.
pub(crate) fn secret(
    env: Env<'_>,
    variable: &str,
    inline: Option<&String>,
    file: Option<&String>,
    file_key: &str,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<String> {
    if let Some(value) = env(variable) {
        return Some(value);
    }
    if let Some(file) = file.map(|f| f.trim()).filter(|f| !f.is_empty()) {
        return match std::fs::read_to_string(file) {
            Ok(text) => {
                warn_if_readable_by_others(file, file_key, warnings);
                let value = text.trim_end_matches(['\n', '\r']).to_owned();
                if value.trim().is_empty() {
                    problems.push(problem(file_key, format!("`{file}` is empty")));
                    None
                } else {
                    Some(value)
                }
            }
            Err(e) => {
                problems.push(problem(file_key, format!("cannot read `{file}`: {e}")));
                None
            }
        };
    }
    inline.filter(|v| !v.trim().is_empty()).cloned()
}

fn warn_if_readable_by_others(file: &str, key: &str, warnings: &mut Vec<Problem>) {
    if readable_by_others(file) {
        warnings.push(problem(key, format!("`{file}` holds a secret but others may read it: `chmod 600 {file}`")));
    }
}

/// Whether the group or everyone may read `file` (false if it cannot be looked at).
#[cfg(unix)]
fn readable_by_others(file: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(file).is_ok_and(|meta| meta.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_file: &str) -> bool {
    false
}

/// Whether `url` is plain `http` to another machine: what it carries (a token, a password, a
/// task's secret values) crosses the network unencrypted. Loopback is the operator's own.
pub(crate) fn plain_http_off_host(url: &str) -> bool {
    let Some(rest) = url.trim().strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    !loopback
}

fn is_http_url(url: &str) -> bool {
    url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.contains(char::is_whitespace)
    })
}

/// The URL as a server identity: the client's base address, scheme and host lower-cased.
fn same_server(url: &str) -> Option<String> {
    let probe = SemaphoreConfig::new(url, "");
    let base = probe.base_url()?;
    let (scheme, rest) = base.split_once("://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    Some(format!("{}://{}/{path}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
}

fn policy(text: &str) -> Option<ConfirmPolicy> {
    match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "none" => Some(ConfirmPolicy::None),
        "confirm" => Some(ConfirmPolicy::Confirm),
        "two-person" => Some(ConfirmPolicy::TwoPerson),
        _ => None,
    }
}

const POLICIES: &str = "none, confirm, two-person";

pub(crate) fn parse_with(text: &str, env: Env<'_>) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    let value: Value = chatrixcd_domain::hjson::from_str(text)
        .map_err(|e| vec![problem("(file)", format!("not valid HJSON/JSON: {e}"))])?;
    let Value::Object(top) = &value else {
        return Err(vec![problem("(file)", "must be an object with matrix, semaphore and bot sections")]);
    };
    let mut warnings = Vec::new();
    let unknown = |key: &str, known: &[&str], at: &str, warnings: &mut Vec<Problem>| {
        let hint = chatrixcd_domain::grammar::suggest(key, known.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        warnings.push(problem(at, format!("unknown key, ignored{hint}")));
    };
    for key in top.keys().filter(|k| !TOP.contains(&k.as_str())) {
        unknown(key, TOP, key, &mut warnings);
    }
    for (section, keys) in KNOWN {
        if let Some(Value::Object(map)) = top.get(*section) {
            for key in map.keys().filter(|k| !keys.contains(&k.as_str())) {
                unknown(key, keys, &format!("{section}.{key}"), &mut warnings);
            }
        }
    }
    if let Some(Value::Object(instances)) = top.get("semaphore_instances") {
        for (name, section) in instances {
            if let Value::Object(map) = section {
                for key in map.keys().filter(|k| !SEMAPHORE_KEYS.contains(&k.as_str())) {
                    unknown(key, SEMAPHORE_KEYS, &format!("semaphore_instances.{name}.{key}"), &mut warnings);
                }
            }
        }
    }
    // Typed reading, section by section, so a wrong type names its section and key.
    let mut problems = Vec::new();
    let mut raw = RawConfig::default();
    macro_rules! section {
        ($name:literal, $field:ident) => {
            match top.get($name) {
                None | Some(Value::Null) => {}
                Some(v) => match serde_json::from_value(v.clone()) {
                    Ok(s) => raw.$field = s,
                    Err(e) => problems.push(problem($name, format!("has a value of the wrong type: {e}"))),
                },
            }
        };
    }
    section!("matrix", matrix);
    section!("semaphore", semaphore);
    section!("default_instance", default_instance);
    section!("bot", bot);
    section!("webhooks", webhooks);
    section!("privacy", privacy);
    if let (Some(a), Some(b)) = (raw.privacy.retention_days, raw.bot.keep_history_days)
        && a != b
    {
        problems.push(problem(
            "privacy.retention_days",
            format!("says {a} days and bot.keep_history_days says {b}; keep one"),
        ));
    }
    if let (Some(anonymise), Some(keep)) =
        (raw.privacy.anonymise_after_days, raw.privacy.retention_days.or(raw.bot.keep_history_days))
        && anonymise >= keep
    {
        warnings.push(problem(
            "privacy.anonymise_after_days",
            format!("is {anonymise} days, but runs are forgotten after {keep}: nothing will be anonymised"),
        ));
    }
    // Instance by instance, so a wrong type names the instance.
    match top.get("semaphore_instances") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, v) in map {
                match serde_json::from_value(v.clone()) {
                    Ok(s) => {
                        raw.semaphore_instances.insert(name.clone(), s);
                    }
                    Err(e) => problems.push(problem(
                        &format!("semaphore_instances.{name}"),
                        format!("has a value of the wrong type: {e}"),
                    )),
                }
            }
        }
        Some(_) => problems.push(problem(
            "semaphore_instances",
            "must be an object of named instances, e.g. { production: { url: …, api_token: … } }",
        )),
    }

    let user_id = check_matrix(&mut raw.matrix, env, &mut problems, &mut warnings);
    let (instances, default_instance) = check_instances(&raw, env, &mut problems, &mut warnings);
    let b = &raw.bot;
    if b.command_prefix.trim().is_empty() || b.command_prefix.contains(char::is_whitespace) {
        problems.push(problem("bot.command_prefix", "must be one non-empty word, e.g. \"!cd\""));
    }
    let names: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    let access = crate::access_config::check(b, &names, &mut problems, &mut warnings);
    let ignored_users = crate::access_config::users("ignored_users", &b.ignored_users, &mut problems);
    let webhooks = crate::webhook_config::check(&raw, &instances, env, &mut problems, &mut warnings);
    let follows = check_notify(&b.notify, &names, &mut problems);
    let schedule_zone = match b.timezone.as_deref().map(chatrixcd_domain::cron::zone) {
        None => "UTC".to_owned(),
        Some(Ok(zone)) => zone.name().to_owned(),
        Some(Err(e)) => {
            problems.push(problem("bot.timezone", e.to_string()));
            "UTC".to_owned()
        }
    };
    let mut allowed_rooms = Vec::new();
    for (i, r) in b.allowed_rooms.iter().enumerate() {
        match RoomId::parse(r.trim()) {
            Ok(id) => allowed_rooms.push(id),
            Err(e) => problems.push(problem(
                &format!("bot.allowed_rooms[{i}]"),
                format!("{e} (use the room id, `!…`, not an alias)"),
            )),
        }
    }
    for (i, r) in b.greeting_rooms.iter().enumerate() {
        if let Err(e) = RoomId::parse(r.trim()) {
            problems.push(problem(&format!("bot.greeting_rooms[{i}]"), format!("{e} (use the room id, `!…`)")));
        }
    }
    if b.keep_history_days == Some(0) {
        problems.push(problem("bot.keep_history_days", "must be at least 1 (leave it out to keep every run)"));
    }
    let default_policy = match b.default_policy.as_deref() {
        None => ConfirmPolicy::Confirm,
        Some(p) => policy(p).unwrap_or_else(|| {
            problems.push(problem("bot.default_policy", format!("`{p}` is not one of: {POLICIES}")));
            ConfirmPolicy::Confirm
        }),
    };
    let mut policies = Vec::new();
    for (i, rule) in b.policies.iter().enumerate() {
        let key = format!("bot.policies[{i}]");
        let Some(p) = policy(&rule.policy) else {
            problems.push(problem(&format!("{key}.policy"), format!("`{}` is not one of: {POLICIES}", rule.policy)));
            continue;
        };
        let instance = match rule.instance.as_deref() {
            None => None,
            Some(given) => match InstanceId::parse(given).ok().filter(|id| names.contains(&id.as_str())) {
                Some(id) => Some(id),
                None => {
                    let hint = chatrixcd_domain::grammar::suggest(given, names.iter().copied())
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    problems.push(problem(
                        &format!("{key}.instance"),
                        format!("no instance is called `{given}` (there are: {}){hint}", names.join(", ")),
                    ));
                    continue;
                }
            },
        };
        let mut name = |field: &str, v: &Option<Value>| match v {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Some(Some(n.to_string())),
            Some(other) => {
                problems.push(problem(&format!("{key}.{field}"), format!("must be an id or a name, not {other}")));
                None
            }
        };
        let (Some(project), Some(template)) = (name("project", &rule.project), name("template", &rule.template)) else {
            continue;
        };
        policies.push(PolicyRule { instance, project, template, policy: p });
    }
    let messages_file = match b.messages_file.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) if !Path::new(f).exists() => {
            problems.push(problem("bot.messages_file", format!("file `{f}` does not exist")));
            None
        }
        Some(f) => Some(PathBuf::from(f)),
        // ChatrixCD reads `messages.json` from the working directory when it is there.
        None => Some(PathBuf::from("messages.json")).filter(|p| p.exists()),
    };
    if let Some(f) = b.secrets_key_file.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        let path = Path::new(f);
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if path.exists() {
            // Read, never made here: a key that would not open stops the start later anyway.
            if let Err(e) = chatrixcd_sealer::KeySealer::from_key_file(path) {
                problems.push(problem("bot.secrets_key_file", e.to_string()));
            }
        } else if parent.is_some_and(|p| !p.is_dir()) {
            let dir = parent.map(|p| p.display().to_string()).unwrap_or_default();
            problems.push(problem("bot.secrets_key_file", format!("its directory `{dir}` does not exist")));
        }
    }
    let chatrixcd_aliases = top
        .get("plugins")
        .and_then(|p| p.get("aliases"))
        .and_then(|a| a.get("aliases_file"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let aliases_file = match b.aliases_file.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) if !Path::new(f).exists() => {
            problems.push(problem("bot.aliases_file", format!("file `{f}` does not exist")));
            None
        }
        Some(f) => Some(PathBuf::from(f)),
        None => Some(PathBuf::from(chatrixcd_aliases.unwrap_or_else(|| "aliases.json".into()))).filter(|p| p.exists()),
    };
    match (problems.is_empty(), user_id, default_instance) {
        (true, Some(user_id), Some(default_instance)) => Ok((
            Config {
                raw,
                user_id,
                admins: access.admins,
                viewers: access.viewers,
                roles: access.roles,
                grants: access.grants,
                protected_instances: access.protected,
                follows,
                schedule_zone,
                ignored_users,
                allowed_rooms,
                instances,
                default_instance,
                default_policy,
                policies,
                messages_file,
                aliases_file,
                webhooks,
            },
            warnings,
        )),
        _ => Err(problems),
    }
}

/// The Matrix section: required keys, and its secrets read from the environment or files.
fn check_matrix(
    m: &mut MatrixSection,
    env: Env<'_>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<UserId> {
    if m.homeserver.trim().is_empty() {
        problems.push(problem("matrix.homeserver", "is required, e.g. \"https://matrix.example.org\""));
    } else if !is_http_url(m.homeserver.trim()) {
        problems.push(problem("matrix.homeserver", format!("`{}` is not an http(s) URL", m.homeserver)));
    } else if plain_http_off_host(&m.homeserver) {
        warnings.push(problem(
            "matrix.homeserver",
            "is plain http to another machine: the bot's password or token and every unencrypted room's messages cross the network in the clear; use https",
        ));
    }
    let user_id = match UserId::parse(m.user_id.trim()) {
        Ok(u) => Some(u),
        Err(_) if m.user_id.trim().is_empty() => {
            problems.push(problem("matrix.user_id", "is required, e.g. \"@chatrixcd:example.org\""));
            None
        }
        Err(e) => {
            problems.push(problem("matrix.user_id", e.to_string()));
            None
        }
    };
    let mut read = |variable: &str, inline: &Option<String>, file: &Option<String>, key: &str| {
        secret(env, variable, inline.as_ref(), file.as_ref(), key, problems, warnings)
    };
    m.password = read("CHATRIXCD_MATRIX_PASSWORD", &m.password, &m.password_file, "matrix.password_file");
    m.access_token =
        read("CHATRIXCD_MATRIX_ACCESS_TOKEN", &m.access_token, &m.access_token_file, "matrix.access_token_file");
    m.store_passphrase = read(
        "CHATRIXCD_STORE_PASSPHRASE",
        &m.store_passphrase,
        &m.store_passphrase_file,
        "matrix.store_passphrase_file",
    );
    match m.auth_type.as_deref().unwrap_or("password") {
        "password" if m.password.is_none() && m.access_token.is_none() => problems.push(problem(
            "matrix.password",
            "is required for password login (or give matrix.password_file, CHATRIXCD_MATRIX_PASSWORD or an access token)",
        )),
        "password" | "oidc" => {}
        other => problems.push(problem("matrix.auth_type", format!("`{other}` is not one of: password, oidc"))),
    }
    user_id
}

/// The Semaphore instances: ChatrixCD's one `semaphore` section (named `default`), or the named
/// `semaphore_instances`; each validated under its own key, the default first.
fn check_instances(
    raw: &RawConfig,
    env: Env<'_>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> (Vec<InstanceConfig>, Option<InstanceId>) {
    let mut given: Vec<(Option<InstanceId>, String, SemaphoreSection)> = Vec::new();
    match (&raw.semaphore, raw.semaphore_instances.is_empty()) {
        (Some(_), false) => {
            problems.push(problem(
                "semaphore",
                "give either `semaphore` (one server) or `semaphore_instances` (named servers), not both; \
                 `chatrixcd config migrate` moves `semaphore` into `semaphore_instances` as `default`",
            ));
            return (Vec::new(), None);
        }
        (single, true) => given.push((None, "semaphore".to_owned(), single.clone().unwrap_or_default())),
        (None, false) => {
            for (name, section) in &raw.semaphore_instances {
                let key = format!("semaphore_instances.{name}");
                match InstanceId::parse(name) {
                    Ok(id) => given.push((Some(id), key, section.clone())),
                    Err(e) => problems.push(problem(
                        &key,
                        format!("{e} (an instance name is typed in commands, as in `run production:1:5`)"),
                    )),
                }
            }
        }
    }
    let mut instances: Vec<InstanceConfig> = Vec::new();
    for (name, key, section) in given {
        let url = section.url.trim();
        if url.is_empty() {
            problems.push(problem(&format!("{key}.url"), "is required, e.g. \"https://semaphore.example.org\""));
        } else if SemaphoreConfig::new(url, "").base_url().is_none() {
            problems.push(problem(&format!("{key}.url"), format!("`{url}` is not an http(s) URL")));
        } else if let Some(twin) = instances.iter().find(|i| same_server(&i.section.url) == same_server(url)) {
            problems.push(problem(
                &format!("{key}.url"),
                format!("is the same server as {}.url: one server is one instance", twin.key),
            ));
        }
        let variable = token_variable(name.as_ref());
        let token = secret(
            env,
            &variable,
            section.api_token.as_ref(),
            section.api_token_file.as_ref(),
            &format!("{key}.api_token_file"),
            problems,
            warnings,
        );
        if token.is_none() && section.api_token_file.is_none() {
            problems.push(problem(
                &format!("{key}.api_token"),
                format!(
                    "is required (or give {key}.api_token_file or {variable}; see docs/semaphore.md for a least-privilege token)"
                ),
            ));
        }
        for (field, file) in [
            ("ssl_ca_cert", &section.ssl_ca_cert),
            ("ssl_client_cert", &section.ssl_client_cert),
            ("ssl_client_key", &section.ssl_client_key),
        ] {
            if let Some(f) = file.as_deref().filter(|f| !f.is_empty())
                && !Path::new(f).exists()
            {
                problems.push(problem(&format!("{key}.{field}"), format!("file `{f}` does not exist")));
            }
        }
        if section.timeout_secs == Some(0) {
            problems.push(problem(&format!("{key}.timeout_secs"), "must be at least 1 second"));
        }
        if let Some(web) = section.web_url.as_deref().filter(|w| !w.is_empty() && !is_http_url(w)) {
            problems.push(problem(&format!("{key}.web_url"), format!("`{web}` is not an http(s) URL")));
        }
        if !section.ssl_verify {
            warnings.push(problem(
                &format!("{key}.ssl_verify"),
                "is false: the server's certificate is not checked, so anyone on the way can read the API token and answer in the server's name (prefer ssl_ca_cert)",
            ));
        }
        if plain_http_off_host(url) {
            warnings.push(problem(
                &format!("{key}.url"),
                "is plain http to another machine: the API token and every task's secret values cross the network in the clear; use https",
            ));
        }
        let alert_variable = variable.replace("_API_TOKEN", "_ALERT_SECRET");
        let alert_secret = secret(
            env,
            &alert_variable,
            section.alert_secret.as_ref(),
            section.alert_secret_file.as_ref(),
            &format!("{key}.alert_secret_file"),
            problems,
            warnings,
        );
        if let Some(short) = alert_secret.as_ref().filter(|s| s.chars().count() < chatrixcd_webhook::MIN_SECRET_CHARS) {
            problems.push(problem(
                &format!("{key}.alert_secret"),
                format!(
                    "is {} characters; it is all that guards the alert URL, so it must hold at least 128 bits: {} hex characters or more (e.g. `openssl rand -hex 16`)",
                    short.chars().count(),
                    chatrixcd_webhook::MIN_SECRET_CHARS
                ),
            ));
        }
        if alert_secret.as_ref().is_some_and(|s| !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            problems.push(problem(
                &format!("{key}.alert_secret"),
                "may hold only letters, digits, `-` and `_` (it is part of a URL)",
            ));
        }
        instances.push(InstanceConfig {
            id: name.unwrap_or_default(),
            key,
            section,
            token: token.unwrap_or_default(),
            alert_secret,
        });
    }
    let names: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    let default = match raw.default_instance.as_deref().map(str::trim) {
        Some(given) => match InstanceId::parse(given).ok().filter(|id| names.contains(&id.as_str())) {
            Some(id) => Some(id),
            None if instances.is_empty() => None,
            None => {
                let hint = chatrixcd_domain::grammar::suggest(given, names.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                problems.push(problem(
                    "default_instance",
                    format!("no instance is called `{given}` (there are: {}){hint}", names.join(", ")),
                ));
                None
            }
        },
        None => {
            let fallback =
                instances.iter().find(|i| i.id == InstanceId::default()).or_else(|| instances.first()).map(|i| i.id);
            if instances.len() > 1
                && let Some(id) = fallback
            {
                warnings.push(problem(
                    "default_instance",
                    format!("is not set: commands without an instance go to `{id}`"),
                ));
            }
            fallback
        }
    };
    // The default first: `instances` lists it first and its name is the one left out.
    if let Some(d) = default
        && let Some(at) = instances.iter().position(|i| i.id == d)
    {
        let first = instances.remove(at);
        instances.insert(0, first);
    }
    if instances.is_empty() && problems.is_empty() {
        problems.push(problem("semaphore_instances", "names no instance"));
    }
    (instances, default)
}

/// `bot.notify`: each entry's room, scope (naming a configured instance) and kind.
fn check_notify(
    list: &[NotifySection],
    instances: &[&str],
    problems: &mut Vec<Problem>,
) -> Vec<chatrixcd_domain::notify::Follow> {
    use chatrixcd_domain::notify::{Follow, On};
    use chatrixcd_domain::permissions::Scope;
    let mut out = Vec::new();
    for (i, n) in list.iter().enumerate() {
        let key = format!("bot.notify[{i}]");
        let room = RoomId::parse(n.room.trim())
            .map_err(|e| problems.push(problem(&format!("{key}.room"), format!("{e} (use the room id, `!…`)"))))
            .ok();
        let scope = match Scope::parse(&n.scope) {
            Ok(scope) if !instances.iter().any(|i| scope.instance.matches(i)) => {
                problems.push(problem(
                    &format!("{key}.scope"),
                    format!("`{}` names no configured instance ({})", n.scope, instances.join(", ")),
                ));
                None
            }
            Ok(scope) => Some(scope),
            Err(e) => {
                problems.push(problem(&format!("{key}.scope"), format!("the scope {e}")));
                None
            }
        };
        let on = match n.on.as_deref() {
            None => Some(On::Failures),
            Some(word) => On::parse(word).or_else(|| {
                problems
                    .push(problem(&format!("{key}.on"), format!("`{word}` is not one of: {}", On::NAMES.join(", "))));
                None
            }),
        };
        if let (Some(room), Some(scope), Some(on)) = (room, scope, on) {
            out.push(Follow::new(room, scope, on));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
        // ChatrixCD writes comments like this one
        "_config_version": 5,
        matrix: { homeserver: "https://matrix.example.org", user_id: "@bot:example.org", password: "pw", store_path: "./store" },
        semaphore: { url: "https://semaphore.example.org", api_token: "tok", ssl_verify: true },
        bot: { command_prefix: "!cd", admin_users: ["@alice:example.org"], allowed_rooms: ["!ops:example.org"], mouse_enabled: false, },
        plugins: { semaphore_poll: { enabled: true } }
    }"#;

    /// Found by the `config` fuzz target: the HJSON reader panicked on it.
    #[test]
    fn a_file_the_reader_trips_over_is_not_valid_hjson() {
        let problems = parse("{i\r\u{605}").unwrap_err();
        assert!(problems[0].message.starts_with("not valid HJSON/JSON"), "{problems:?}");
    }

    #[test]
    fn a_chatrixcd_file_is_read_as_it_is() {
        let (config, warnings) = parse(GOOD).unwrap();
        assert_eq!(config.user_id.as_str(), "@bot:example.org");
        assert_eq!(config.admins.len(), 1);
        assert_eq!(config.allowed_rooms.len(), 1);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let text = r##"{ matrix: { homeserver: "matrix.example.org", user_id: "bot", auth_type: "saml" },
                        semaphore: { url: "" },
                        bot: { command_prefix: "", admin_users: ["alice"], allowed_rooms: ["#ops:x"], admins: [] } }"##;
        let problems = parse(text).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "matrix.homeserver",
                "matrix.user_id",
                "matrix.auth_type",
                "semaphore.url",
                "semaphore.api_token",
                "bot.command_prefix",
                "bot.admin_users[0]",
                "bot.allowed_rooms[0]"
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn the_privacy_section_is_read_and_checked() {
        let with = |privacy: &str, keep: &str| {
            GOOD.replace("plugins:", &format!("privacy: {privacy}, plugins:")).replace("mouse_enabled: false,", keep)
        };
        let (config, warnings) = parse(&with("{ retention_days: 90, anonymise_after_days: 30 }", "")).unwrap();
        assert_eq!((config.raw.privacy.retention_days, config.raw.privacy.anonymise_after_days), (Some(90), Some(30)));
        assert!(warnings.is_empty(), "{warnings:?}");
        let problems = parse(&with("{ retention_days: 90 }", "keep_history_days: 30,")).unwrap_err();
        assert!(
            problems.iter().any(|p| p.key == "privacy.retention_days" && p.message.contains("keep one")),
            "{problems:?}"
        );
        let (_, warnings) = parse(&with("{ retention_days: 30, anonymise_after_days: 60 }", "")).unwrap();
        assert!(warnings.iter().any(|w| w.key == "privacy.anonymise_after_days"), "{warnings:?}");
        let problems = parse(&with("{ retention: 30 }", "")).unwrap_err();
        assert!(problems.iter().any(|p| p.key == "privacy" && p.message.contains("retention")), "{problems:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_secrets_key_file_that_would_not_open_is_a_problem() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open.key");
        std::fs::write(&open, [7u8; 32]).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let short = dir.path().join("short.key");
        std::fs::write(&short, [7u8; 5]).unwrap();
        std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
        let fine = dir.path().join("new.key");
        let nowhere = dir.path().join("missing/dir/new.key");
        for (path, wanted) in
            [(&open, Some("chmod 600")), (&short, Some("5")), (&fine, None), (&nowhere, Some("does not exist"))]
        {
            let text =
                GOOD.replace("mouse_enabled: false,", &format!("secrets_key_file: {:?},", path.display().to_string()));
            match (parse(&text), wanted) {
                (Ok(_), None) => {}
                (Err(problems), Some(wanted)) => {
                    assert!(
                        problems.iter().any(|p| p.key == "bot.secrets_key_file" && p.message.contains(wanted)),
                        "{path:?}: {problems:?}"
                    );
                }
                (other, _) => panic!("{path:?}: {:?}", other.map(|_| ())),
            }
        }
        assert!(!fine.exists(), "checking never makes the key");
    }

    #[test]
    fn typos_and_wrong_types_are_reported() {
        let text = GOOD.replace("admin_users", "admin_user");
        let (_, warnings) = parse(&text).unwrap();
        assert!(
            warnings.iter().any(|w| w.key == "bot.admin_user" && w.message.contains("did you mean `admin_users`")),
            "{warnings:?}"
        );
        let problems = parse(r#"{ semaphore: { ssl_verify: "yes" } }"#).unwrap_err();
        assert!(problems.iter().any(|p| p.key == "semaphore" && p.message.contains("wrong type")), "{problems:?}");
        assert_eq!(parse("{ not hjson").unwrap_err()[0].key, "(file)");
    }

    const TWO: &str = r#"{
        matrix: { homeserver: "https://matrix.example.org", user_id: "@bot:example.org", password: "pw" },
        semaphore_instances: {
            production: { url: "https://semaphore.example.org", api_token: "prod-token", timeout_secs: 5 },
            staging: { url: "https://staging.example.org/api/", api_token: "staging-token" },
        },
        default_instance: "production",
        bot: {
            admin_users: ["@alice:example.org"], viewer_users: ["@viewer:example.org"],
            ignored_users: ["@otherbot:example.org"], keep_history_days: 30, default_policy: "confirm",
            policies: [
                { instance: "production", policy: "two-person" },
                { instance: "staging", project: "ops", template: 5, policy: "none" },
            ],
        },
    }"#;

    #[test]
    fn named_instances_policies_and_users_are_read() {
        let (config, warnings) = parse(TWO).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<&str> = config.instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(names, ["production", "staging"]);
        assert_eq!(config.default_instance.as_str(), "production");
        let prod = config.instances[0].semaphore_config();
        assert_eq!(prod.request_timeout, std::time::Duration::from_secs(5));
        assert_eq!(config.viewers[0].as_str(), "@viewer:example.org");
        assert_eq!(config.ignored_users[0].as_str(), "@otherbot:example.org");
        assert_eq!(config.raw.bot.keep_history_days, Some(30));
        assert_eq!(config.policies.len(), 2);
        assert_eq!(config.policies[0].policy, ConfirmPolicy::TwoPerson);
        assert_eq!(config.policies[1].template.as_deref(), Some("5"));
        let secrets = config.secrets();
        assert!(secrets.contains(&"prod-token".to_owned()) && secrets.contains(&"pw".to_owned()), "{secrets:?}");
    }

    #[test]
    fn the_default_instance_goes_first_and_chatrixcd_files_get_one_named_default() {
        let (config, _) =
            parse(&TWO.replace(r#"default_instance: "production""#, r#"default_instance: "staging""#)).unwrap();
        assert_eq!(config.instances[0].id.as_str(), "staging");
        let (config, _) = parse(GOOD).unwrap();
        assert_eq!(config.instances.len(), 1);
        assert_eq!(config.instances[0].id, InstanceId::default());
        assert_eq!(config.instances[0].key, "semaphore");
        assert_eq!(config.default_instance, InstanceId::default());
    }

    #[test]
    fn bad_instances_are_named_by_their_key() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                r#"default_instance: "production""#,
                r#"default_instance: "prodution""#,
                "default_instance",
                "did you mean `production`",
            ),
            ("staging: {", "Staging!: {", "semaphore_instances.Staging!", "instance"),
            (
                "https://staging.example.org/api/",
                "https://SEMAPHORE.example.org/",
                "semaphore_instances.staging.url",
                "same server as semaphore_instances.production.url",
            ),
            (
                "https://staging.example.org/api/",
                "staging.example.org",
                "semaphore_instances.staging.url",
                "not an http(s) URL",
            ),
            (
                r#"api_token: "staging-token""#,
                "",
                "semaphore_instances.staging.api_token",
                "CHATRIXCD_SEMAPHORE_STAGING_API_TOKEN",
            ),
            ("timeout_secs: 5", "timeout_secs: 0", "semaphore_instances.production.timeout_secs", "at least 1"),
            (r#"policy: "two-person""#, r#"policy: "two-man""#, "bot.policies[0].policy", "none, confirm, two-person"),
            (
                r#"instance: "staging", project"#,
                r#"instance: "stagin", project"#,
                "bot.policies[1].instance",
                "did you mean `staging`",
            ),
            ("keep_history_days: 30", "keep_history_days: 0", "bot.keep_history_days", "at least 1"),
            (r#"viewer_users: ["@viewer:example.org"]"#, r#"viewer_users: ["viewer"]"#, "bot.viewer_users[0]", ""),
            (
                "semaphore_instances: {",
                r#"semaphore: { url: "https://x.example", api_token: "t" }, semaphore_instances: {"#,
                "semaphore",
                "not both",
            ),
        ];
        for (from, to, key, says) in cases {
            assert!(TWO.contains(from), "{from}");
            let problems = parse(&TWO.replacen(from, to, 1)).unwrap_err();
            assert!(
                problems.iter().any(|p| p.key == *key && p.message.contains(says)),
                "{from} -> {to}: want {key} saying {says:?}, got {problems:?}"
            );
        }
    }

    #[test]
    fn secrets_come_from_the_environment_or_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let text =
            TWO.replace(r#"api_token: "staging-token""#, &format!("api_token_file: {:?}", file.display().to_string()));
        let env = |name: &str| match name {
            "CHATRIXCD_SEMAPHORE_PRODUCTION_API_TOKEN" => Some("from-env".to_owned()),
            "CHATRIXCD_MATRIX_PASSWORD" => Some("env-password".to_owned()),
            _ => None,
        };
        let (config, warnings) = parse_with(&text, &env).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.instances[0].token, "from-env");
        assert_eq!(config.instances[1].token, "from-file", "the trailing newline is not part of it");
        assert_eq!(config.raw.matrix.password.as_deref(), Some("env-password"));
        let missing = TWO.replace(r#"api_token: "staging-token""#, r#"api_token_file: "/nonexistent/token""#);
        let problems = parse(&missing).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.key == "semaphore_instances.staging.api_token_file" && p.message.contains("cannot read")),
            "{problems:?}"
        );
        // ChatrixCD's single section takes CHATRIXCD_SEMAPHORE_API_TOKEN.
        let single = GOOD.replace(r#"api_token: "tok", "#, "");
        let env = |name: &str| (name == "CHATRIXCD_SEMAPHORE_API_TOKEN").then(|| "single".to_owned());
        assert_eq!(parse_with(&single, &env).unwrap().0.instances[0].token, "single");
    }

    #[test]
    fn a_chatrixcd_file_keeps_its_problems_under_the_old_keys() {
        let problems =
            parse(r#"{ matrix: { homeserver: "https://m.example", user_id: "@b:m.example", password: "p" } }"#)
                .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["semaphore.url", "semaphore.api_token"], "{problems:?}");
    }

    #[test]
    fn webhooks_and_alert_secrets_are_checked() {
        let secret = "3f1c0a9e5b7d24681357924680abcdef";
        let good = TWO
            .replace(r#"api_token: "prod-token", "#, &format!(r#"api_token: "prod-token", alert_secret: "{secret}", "#))
            .replace(
                r#"default_instance: "production","#,
                r#"default_instance: "production", webhooks: { listen: "127.0.0.1:8088" },"#,
            );
        let (config, warnings) = parse(&good).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.webhooks.as_ref().map(|w| w.listen), Some("127.0.0.1:8088".parse().unwrap()));
        assert_eq!(
            config.instances.iter().find(|i| i.id.as_str() == "production").unwrap().alert_secret.as_deref(),
            Some(secret)
        );
        assert!(config.secrets().iter().any(|s| s == secret), "the alert secret is redacted");
        let problems = parse(&good.replace(secret, "short").replace("127.0.0.1:8088", "localhost")).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["semaphore_instances.production.alert_secret", "webhooks.listen"], "{problems:?}");
        assert!(problems[0].message.contains("at least 128 bits"), "{problems:?}");
        let (_, warnings) = parse(&good.replace(r#"webhooks: { listen: "127.0.0.1:8088" },"#, "")).unwrap();
        assert!(warnings.iter().any(|w| w.key == "semaphore_instances.production.alert_secret"), "{warnings:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_config_file_with_inline_secrets_that_others_may_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, GOOD).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_, warnings) = load(&path).unwrap();
        assert!(
            warnings.iter().any(|w| w.message.starts_with("holds secrets inline but others may read it: `chmod 600")),
            "{warnings:?}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).unwrap().1.is_empty());
    }

    #[test]
    fn plain_http_and_unchecked_certificates_are_warned_about_by_key() {
        let text = r#"{
            matrix: { homeserver: "http://matrix.example.org", user_id: "@bot:example.org", password: "pw" },
            semaphore: { url: "http://semaphore.example.org", api_token: "tok", ssl_verify: false },
            bot: { admin_users: ["@alice:example.org"] },
        }"#;
        let (config, warnings) = parse(text).unwrap();
        let keys: Vec<&str> = warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(keys, ["matrix.homeserver", "semaphore.ssl_verify", "semaphore.url"], "{warnings:?}");
        assert!(warnings.iter().all(|w| w.message.contains("in the clear") || w.message.contains("not checked")));
        assert!(!config.instances[0].semaphore_config().verify_tls, "the setting is honoured, warned about");
        // Loopback is the operator's own: no warning; https never.
        for url in ["http://127.0.0.1:3000", "http://localhost:3000/api", "http://[::1]:3000", "https://s.example"] {
            assert!(!plain_http_off_host(url), "{url}");
        }
        for url in ["http://10.0.0.5", "http://user:pw@s.example", "http://localhost.evil.example"] {
            assert!(plain_http_off_host(url), "{url}");
        }
        let (_, warnings) = parse(GOOD).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn debug_output_of_the_configuration_holds_no_secret() {
        let secrets = [
            "matrix-password-4a7c1e",
            "matrix-token-9b2d4f",
            "store-passphrase-6e8a0c",
            "semaphore-token-1f3b5d",
            "0123456789abcdef0123456789abcdef-alert",
            "fedcba9876543210fedcba9876543210-hook",
        ];
        let text = format!(
            r#"{{
                matrix: {{ homeserver: "https://m.example", user_id: "@bot:m.example", password: "{}",
                          access_token: "{}", store_passphrase: "{}", device_id: "DEV" }},
                semaphore: {{ url: "https://s.example", api_token: "{}", alert_secret: "{}" }},
                webhooks: {{ listen: "127.0.0.1:8088",
                            hooks: {{ ci: {{ secret: "{}", verify: "github", rooms: ["!r:m.example"] }} }} }},
                bot: {{ admin_users: ["@alice:m.example"] }},
            }}"#,
            secrets[0], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5]
        );
        let (config, _) = parse(&text).unwrap();
        let bot = crate::serve::bot_config(&config, PathBuf::from("/tmp/data"));
        let matrix = crate::serve::matrix_config(&config, Path::new("/tmp/data"));
        let shown = [
            format!("{config:?}"),
            format!("{:?}", config.raw),
            format!("{bot:?}"),
            format!("{matrix:?}"),
            format!("{:?}", config.instances[0].semaphore_config()),
        ];
        for (shown, secret) in shown.iter().flat_map(|s| secrets.iter().map(move |secret| (s, secret))) {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown[1].contains(r#"password: Some("<redacted>")"#), "{}", shown[1]);
        // Every one of them is known to the redactor.
        let all = config.secrets();
        assert!(secrets.iter().all(|s| all.iter().any(|a| a == s)), "{all:?}");
    }
}
