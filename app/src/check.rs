//! `chatrixcd check --config config.json`: validates the file and reaches Matrix and every
//! Semaphore instance (at once, each with its own timeout),
//! reporting each problem by the key to fix.

// A report for a person at a terminal.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Duration;

use chatrixcd_ports::semaphore::{SemaphoreError, SemaphorePort as _};
use chatrixcd_semaphore::HttpSemaphore;
use serde_json::Value;

use crate::config::{self, Config, InstanceConfig};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CheckArgs {
    /// The configuration file (ChatrixCD's config.json works as it is).
    #[arg(long, short, default_value = "config.json")]
    config: PathBuf,
}

/// Runs every check; returns whether all passed.
pub(crate) async fn run(args: CheckArgs) -> anyhow::Result<bool> {
    let (config, warnings) = match config::load(&args.config) {
        Ok(loaded) => loaded,
        Err(problems) => {
            println!("✗ {} has {} problem(s):", args.config.display(), problems.len());
            for p in problems {
                println!("  ✗ {p}");
            }
            return Ok(false);
        }
    };
    println!("✓ {} is valid", args.config.display());
    let rooms = if config.allowed_rooms.is_empty() {
        "every room it is in".to_owned()
    } else {
        config.allowed_rooms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    let admins: Vec<String> = config.admins.iter().map(ToString::to_string).collect();
    println!(
        "  admins: {}; answers in: {rooms}",
        if admins.is_empty() { "nobody".to_owned() } else { admins.join(", ") }
    );
    if !config.grants.is_empty() || !config.roles.is_empty() || !config.viewers.is_empty() {
        let roles: Vec<&str> = config.roles.iter().map(|r| r.name.as_str()).collect();
        println!(
            "  grants: {} from bot.grants, {} viewers; custom roles: {}; protected instances: {}",
            config.grants.len(),
            config.viewers.len(),
            if roles.is_empty() { "none".to_owned() } else { roles.join(", ") },
            if config.protected_instances.is_empty() {
                "none".to_owned()
            } else {
                config.protected_instances.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            }
        );
    }
    if config.instances.len() > 1 {
        let instances: Vec<String> = config.instances.iter().map(|i| i.id.to_string()).collect();
        println!("  Semaphore instances: {} (default: {})", instances.join(", "), config.default_instance);
    }
    if let Some(w) = &config.webhooks {
        let alerting: Vec<String> =
            config.instances.iter().filter(|i| i.alert_secret.is_some()).map(|i| i.id.to_string()).collect();
        let hooks: Vec<String> = w
            .hooks
            .iter()
            .map(|h| {
                if h.run.is_some() {
                    format!("{} (runs {})", h.name, h.run.as_ref().map_or("", |r| r.target.as_str()))
                } else {
                    h.name.clone()
                }
            })
            .collect();
        println!(
            "  webhooks: {}://{}; alerts from: {}; hooks: {}",
            if w.tls.is_some() { "https" } else { "http" },
            w.listen,
            if alerting.is_empty() { "none".to_owned() } else { alerting.join(", ") },
            if hooks.is_empty() { "none".to_owned() } else { hooks.join(", ") }
        );
    }
    if !config.follows.is_empty() {
        println!("  follows: {} from bot.notify", config.follows.len());
    }
    for w in &warnings {
        println!("  ⚠ {w}");
    }
    let (semaphore_ok, matrix_ok) = tokio::join!(check_semaphores(&config), check_matrix(&config));
    Ok(semaphore_ok && matrix_ok)
}

/// Reaches every instance at once (each with its own timeout) and reports each under its key.
async fn check_semaphores(config: &Config) -> bool {
    let checks = config.instances.iter().map(|instance| async move { (instance, check_instance(instance).await) });
    let mut ok = true;
    for (_, result) in futures::future::join_all(checks).await {
        match result {
            Ok(line) => println!("✓ {}", line),
            Err(line) => {
                ok = false;
                println!("✗ {line}");
            }
        }
    }
    ok
}

/// One line about one instance: what answered, or the key to fix.
async fn check_instance(instance: &InstanceConfig) -> Result<String, String> {
    let mut semaphore = instance.semaphore_config();
    // `check` says at once what is wrong; retries would only make it slower to say.
    semaphore.read_retries = 0;
    let key = &instance.key;
    let client = HttpSemaphore::new(&semaphore).map_err(|e| format!("{key}: {e}"))?;
    client.ping().await.map_err(|e| format!("{key}.url: {e}"))?;
    match client.info().await {
        Ok(info) => Ok(format!(
            "Semaphore {} answers at {} and accepts the token (instance {})",
            info.version, instance.section.url, instance.id
        )),
        Err(SemaphoreError::Unauthorised) => Err(format!(
            "{key}.api_token: the server rejected it (401 from {}); create a new token (docs/semaphore.md)",
            instance.section.url
        )),
        Err(e) => Err(format!("{key}: {e}")),
    }
}

async fn check_matrix(config: &Config) -> bool {
    let m = &config.raw.matrix;
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(h) => h,
        Err(e) => {
            println!("✗ matrix: cannot build an HTTP client: {e}");
            return false;
        }
    };
    let base = m.homeserver.trim_end_matches('/');
    let get = |path: &str| http.get(format!("{base}{path}"));
    let versions = match get("/_matrix/client/versions").send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap_or_default(),
        Ok(r) => {
            println!(
                "✗ matrix.homeserver: {base} answered {} to /_matrix/client/versions: is it a Matrix homeserver?",
                r.status()
            );
            return false;
        }
        Err(e) => {
            println!("✗ matrix.homeserver: {base} is unreachable: {}", e.without_url());
            return false;
        }
    };
    let latest =
        versions["versions"].as_array().and_then(|v| v.last()).and_then(Value::as_str).unwrap_or("?").to_owned();
    if let Some(token) = m.access_token.as_deref().filter(|t| !t.is_empty()) {
        let whoami = get("/_matrix/client/v3/account/whoami").bearer_auth(token).send().await;
        match whoami {
            Ok(r) if r.status().is_success() => {
                let who =
                    r.json::<Value>().await.unwrap_or_default()["user_id"].as_str().unwrap_or_default().to_owned();
                if who != config.user_id.as_str() {
                    println!("✗ matrix.access_token: it belongs to {who}, not to matrix.user_id {}", config.user_id);
                    return false;
                }
            }
            Ok(r) => {
                println!("✗ matrix.access_token: the homeserver refused it ({})", r.status());
                return false;
            }
            Err(e) => {
                println!("✗ matrix.homeserver: {}", e.without_url());
                return false;
            }
        }
    } else {
        let flows = get("/_matrix/client/v3/login").send().await;
        let offered = match flows {
            Ok(r) => r.json::<Value>().await.unwrap_or_default(),
            Err(e) => {
                println!("✗ matrix.homeserver: {}", e.without_url());
                return false;
            }
        };
        let password = offered["flows"].as_array().into_iter().flatten().any(|f| f["type"] == "m.login.password");
        if m.auth_type.as_deref().unwrap_or("password") == "password" && !password {
            println!("✗ matrix.auth_type: {base} does not offer password login; use \"oidc\" (SSO) or an access_token");
            return false;
        }
    }
    println!("✓ Matrix homeserver {base} answers (client API {latest}) for {}", config.user_id);
    true
}
