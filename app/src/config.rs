//! ChatrixCD's `config.json` (HJSON: comments, trailing commas, unquoted keys), read as it is:
//! existing users point chatrixcd at the file they have. Every problem is reported with the key it
//! concerns, all at once, so a broken file is fixed in one go.

use std::path::Path;

use chatrixcd_ports::{RoomId, UserId};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MatrixSection {
    pub homeserver: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub auth_type: Option<String>,
    pub password: Option<String>,
    pub access_token: Option<String>,
    pub oidc_redirect_url: Option<String>,
    pub store_path: Option<String>,
    /// Encrypts the Matrix state and crypto stores (new in chatrixcd).
    pub store_passphrase: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct SemaphoreSection {
    pub url: String,
    pub api_token: String,
    pub ssl_verify: bool,
    pub ssl_ca_cert: Option<String>,
    pub ssl_client_cert: Option<String>,
    pub ssl_client_key: Option<String>,
}

impl Default for SemaphoreSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            api_token: String::new(),
            ssl_verify: true,
            ssl_ca_cert: None,
            ssl_client_cert: None,
            ssl_client_key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct BotSection {
    pub command_prefix: String,
    pub allowed_rooms: Vec<String>,
    pub admin_users: Vec<String>,
    pub greetings_enabled: bool,
    pub greeting_rooms: Vec<String>,
    pub startup_message: Option<String>,
    pub shutdown_message: Option<String>,
    /// Commands older than this many seconds when they arrive (sent while the bot was down) are
    /// not run; their sender is told. New in chatrixcd (ChatrixCD dropped them silently).
    pub offline_command_window: u32,
}

impl Default for BotSection {
    fn default() -> Self {
        Self {
            command_prefix: "!cd".into(),
            allowed_rooms: Vec::new(),
            admin_users: Vec::new(),
            greetings_enabled: true,
            greeting_rooms: Vec::new(),
            startup_message: None,
            shutdown_message: None,
            offline_command_window: 600,
        }
    }
}

/// The configuration as written, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawConfig {
    pub matrix: MatrixSection,
    pub semaphore: SemaphoreSection,
    pub bot: BotSection,
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

fn problem(key: &str, message: impl Into<String>) -> Problem {
    Problem { key: key.to_owned(), message: message.into() }
}

/// A configuration that passed validation.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub raw: RawConfig,
    pub user_id: UserId,
    pub admins: Vec<UserId>,
    pub allowed_rooms: Vec<RoomId>,
}

/// Keys chatrixcd knows, per section; others are reported as likely typos (not errors: old
/// ChatrixCD files carry keys of its TUI and plugins).
const KNOWN: &[(&str, &[&str])] = &[
    (
        "matrix",
        &[
            "homeserver",
            "user_id",
            "device_id",
            "device_name",
            "auth_type",
            "password",
            "access_token",
            "oidc_redirect_url",
            "store_path",
            "store_passphrase",
        ],
    ),
    ("semaphore", &["url", "api_token", "ssl_verify", "ssl_ca_cert", "ssl_client_cert", "ssl_client_key"]),
    (
        "bot",
        &[
            "command_prefix",
            "allowed_rooms",
            "admin_users",
            "greetings_enabled",
            "greeting_rooms",
            "startup_message",
            "shutdown_message",
            "offline_command_window",
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

/// Reads and validates a config file. `Err` holds every problem found.
pub(crate) fn load(path: &Path) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![problem(&path.display().to_string(), format!("cannot read it: {e}"))])?;
    parse(&text)
}

pub(crate) fn parse(text: &str) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    let value: Value =
        deser_hjson::from_str(text).map_err(|e| vec![problem("(file)", format!("not valid HJSON/JSON: {e}"))])?;
    let Value::Object(top) = &value else {
        return Err(vec![problem("(file)", "must be an object with matrix, semaphore and bot sections")]);
    };
    let mut warnings = Vec::new();
    for (section, keys) in KNOWN {
        if let Some(Value::Object(map)) = top.get(*section) {
            for key in map.keys().filter(|k| !keys.contains(&k.as_str())) {
                let hint = chatrixcd_domain::grammar::suggest(key, keys.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                warnings.push(problem(&format!("{section}.{key}"), format!("unknown key, ignored{hint}")));
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
    section!("bot", bot);

    let m = &raw.matrix;
    if m.homeserver.trim().is_empty() {
        problems.push(problem("matrix.homeserver", "is required, e.g. \"https://matrix.example.org\""));
    } else if !(m.homeserver.starts_with("https://") || m.homeserver.starts_with("http://")) {
        problems.push(problem("matrix.homeserver", format!("`{}` is not an http(s) URL", m.homeserver)));
    }
    let user_id = match UserId::parse(m.user_id.trim()) {
        Ok(u) => Some(u),
        Err(e) if m.user_id.trim().is_empty() => {
            let _ = e;
            problems.push(problem("matrix.user_id", "is required, e.g. \"@chatrixcd:example.org\""));
            None
        }
        Err(e) => {
            problems.push(problem("matrix.user_id", e.to_string()));
            None
        }
    };
    let has = |s: &Option<String>| s.as_deref().is_some_and(|v| !v.trim().is_empty());
    match m.auth_type.as_deref().unwrap_or("password") {
        "password" if !has(&m.password) && !has(&m.access_token) => {
            problems.push(problem("matrix.password", "is required for password login (or give matrix.access_token)"));
        }
        "password" | "oidc" => {}
        other => problems.push(problem("matrix.auth_type", format!("`{other}` is not one of: password, oidc"))),
    }
    let s = &raw.semaphore;
    if s.url.trim().is_empty() {
        problems.push(problem("semaphore.url", "is required, e.g. \"https://semaphore.example.org\""));
    } else if !(s.url.starts_with("https://") || s.url.starts_with("http://")) {
        problems.push(problem("semaphore.url", format!("`{}` is not an http(s) URL", s.url)));
    }
    if s.api_token.trim().is_empty() {
        problems
            .push(problem("semaphore.api_token", "is required (see docs/semaphore.md for a least-privilege token)"));
    }
    for (key, file) in [
        ("semaphore.ssl_ca_cert", &s.ssl_ca_cert),
        ("semaphore.ssl_client_cert", &s.ssl_client_cert),
        ("semaphore.ssl_client_key", &s.ssl_client_key),
    ] {
        if let Some(f) = file.as_deref().filter(|f| !f.is_empty())
            && !Path::new(f).exists()
        {
            problems.push(problem(key, format!("file `{f}` does not exist")));
        }
    }
    let b = &raw.bot;
    if b.command_prefix.trim().is_empty() || b.command_prefix.contains(char::is_whitespace) {
        problems.push(problem("bot.command_prefix", "must be one non-empty word, e.g. \"!cd\""));
    }
    let mut admins = Vec::new();
    for (i, a) in b.admin_users.iter().enumerate() {
        match UserId::parse(a.trim()) {
            Ok(u) => admins.push(u),
            Err(e) => problems.push(problem(&format!("bot.admin_users[{i}]"), e.to_string())),
        }
    }
    if b.admin_users.is_empty() {
        warnings.push(problem(
            "bot.admin_users",
            "is empty: nobody may use the bot (ChatrixCD let everybody in; chatrixcd denies by default)",
        ));
    }
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
    match (problems.is_empty(), user_id) {
        (true, Some(user_id)) => Ok((Config { raw, user_id, admins, allowed_rooms }, warnings)),
        _ => Err(problems),
    }
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
}
