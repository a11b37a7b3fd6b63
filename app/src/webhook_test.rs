//! `chatrixcd webhook test <hook>`: sends a signed sample delivery to the running endpoint, the
//! way the hook's sender would sign it, and says what the endpoint answered. `semaphore:<instance>`
//! sends a Slack-format alert instead (for a task that does not exist: the bot reads it, finds
//! nothing, and posts nothing).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use chatrixcd_webhook::Verify;
use chatrixcd_webhook::verify::sign;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WebhookTestArgs {
    /// The hook's name in `webhooks.hooks`, or `semaphore:<instance>` for an alert.
    hook: String,
    #[arg(long, short, default_value = "config.json")]
    config: PathBuf,
    /// The endpoint's base URL, when it is not reached at `webhooks.listen` (behind a proxy, or
    /// TLS with a certificate for a host name).
    #[arg(long)]
    url: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum WebhookCommand {
    /// Send a signed sample delivery to the running endpoint.
    Test(WebhookTestArgs),
}

/// A push as forges send it, small.
const SAMPLE_PUSH: &str = r#"{"ref":"refs/heads/main","before":"0000000","after":"1234567","pusher":{"login":"chatrixcd","username":"chatrixcd","name":"chatrixcd"},"user_name":"chatrixcd","repository":{"full_name":"chatrixcd/webhook-test"},"project":{"path_with_namespace":"chatrixcd/webhook-test"},"commits":[{"message":"A test delivery from chatrixcd webhook test"}]}"#;

// The outcome is for the person at the terminal.
#[allow(clippy::print_stdout)]
pub(crate) async fn run(command: WebhookCommand) -> anyhow::Result<()> {
    let WebhookCommand::Test(args) = command;
    let config = crate::serve::load_config(&args.config)?;
    let webhooks =
        config.webhooks.as_ref().with_context(|| format!("{} has no `webhooks` section", args.config.display()))?;
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let scheme = if webhooks.tls.is_some() { "https" } else { "http" };
            let mut address = webhooks.listen;
            if address.ip().is_unspecified() {
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("{scheme}://{address}")
        }
    };
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(cert) = &webhooks.tls_cert_file {
        // A self-signed certificate is trusted for this request only.
        let pem = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem).context("the TLS certificate")? {
            client = client.add_root_certificate(certificate);
        }
    }
    let client = client.build().context("an HTTP client")?;
    let request = match args.hook.strip_prefix("semaphore:") {
        Some(instance) => {
            let secret = config
                .instances
                .iter()
                .find(|i| i.id.as_str() == instance)
                .with_context(|| format!("no Semaphore instance `{instance}`"))?
                .alert_secret
                .clone()
                .with_context(|| format!("the instance `{instance}` has no alert_secret"))?;
            let body = r#"{"attachments":[{"title":"Task: chatrixcd webhook test","title_link":"/project/1/templates/1?t=1","text":"execution #1, status: ✅SUCCESS!"}]}"#;
            client.post(format!("{base}/hooks/semaphore/{instance}/slack/{secret}")).body(body)
        }
        None => {
            let hook = webhooks.hooks.iter().find(|h| h.name == args.hook).with_context(|| {
                let names: Vec<&str> = webhooks.hooks.iter().map(|h| h.name.as_str()).collect();
                format!(
                    "no hook `{}` (configured: {})",
                    args.hook,
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                )
            })?;
            signed(&client, &format!("{base}/hooks/{}", hook.name), hook.verify, hook.secret.as_bytes())
        }
    };
    let answer = request
        .header("content-type", "application/json")
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = answer.status();
    println!("{} answered {status}", args.hook);
    let meaning = match status.as_u16() {
        200 | 202 => "accepted: the delivery is on its way to the hook's rooms",
        401 => {
            "refused: the signature or token does not match what the running bot has (restart it after changing the secret?)"
        }
        403 => "refused: this address is outside the hook's allow list",
        404 => "not found: the running bot does not know this hook or instance (restart it after changing the config?)",
        429 => "rate limited: try again in a second",
        _ => "see docs/webhooks.md, \"Answers\"",
    };
    println!("{meaning}");
    if status.is_success() { Ok(()) } else { anyhow::bail!("the endpoint refused the test delivery") }
}

/// The sample push, signed by `scheme`.
fn signed(client: &reqwest::Client, url: &str, scheme: Verify, secret: &[u8]) -> reqwest::RequestBuilder {
    let body = SAMPLE_PUSH;
    let request = client.post(url).body(body);
    match scheme {
        Verify::Github => request
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", format!("sha256={}", sign(secret, &[body.as_bytes()]))),
        Verify::Gitea => {
            request.header("X-Gitea-Event", "push").header("X-Gitea-Signature", sign(secret, &[body.as_bytes()]))
        }
        Verify::GitlabToken => request
            .header("X-Gitlab-Event", "Push Hook")
            .header("X-Gitlab-Token", String::from_utf8_lossy(secret).into_owned()),
        Verify::Bearer => request
            .header("X-Event", "push")
            .header("Authorization", format!("Bearer {}", String::from_utf8_lossy(secret))),
        Verify::HmacSha256 => {
            let stamp = chrono::Utc::now().timestamp().to_string();
            let signature = sign(secret, &[stamp.as_bytes(), b".", body.as_bytes()]);
            request
                .header("X-Event", "push")
                .header("X-Timestamp", stamp)
                .header("X-Signature-256", format!("sha256={signature}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chatrixcd_ports::semaphore::TaskEvents as _;
    use chatrixcd_ports::{InstanceId, RoomId};
    use chatrixcd_webhook::{HookConfig, WebhookConfig, Webhooks};

    use super::*;

    const SECRET: &str = "5e2d0c8b7a6f4e3d2c1b0a9f8e7d6c5b";

    fn config_file(dir: &std::path::Path, port: u16, secret: &str) -> PathBuf {
        let text = format!(
            r#"{{
                matrix: {{ homeserver: "https://m.example", user_id: "@bot:m.example", password: "pw" }},
                semaphore: {{ url: "https://s.example", api_token: "t", alert_secret: "{secret}" }},
                bot: {{ admin_users: ["@a:m.example"] }},
                webhooks: {{ listen: "127.0.0.1:{port}", hooks: {{
                    forge: {{ secret: "{secret}", verify: "gitea", rooms: ["!r:m.example"] }},
                    ci: {{ secret: "{secret}", verify: "hmac-sha256", rooms: ["!r:m.example"] }},
                }} }},
            }}"#
        );
        let path = dir.join("config.json");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[tokio::test]
    async fn a_test_delivery_is_signed_as_its_hook_wants_and_refused_with_another_secret() {
        let mut endpoint = WebhookConfig::new("127.0.0.1:0".parse().unwrap(), Arc::new(chatrixcd_clock::SystemClock));
        let hook = |name: &str, verify| HookConfig {
            name: name.into(),
            secret: SECRET.into(),
            verify,
            rooms: vec![RoomId::parse("!r:m.example").unwrap()],
            template: None,
            allow: Vec::new(),
            run: None,
        };
        endpoint.hooks = vec![hook("forge", Verify::Gitea), hook("ci", Verify::HmacSha256)];
        endpoint.alert_secrets = vec![(InstanceId::default(), SECRET.to_owned())];
        let mut bound = Webhooks::bind(endpoint).await.unwrap();
        let port = bound.server.local_addr().unwrap().port();
        tokio::spawn(bound.server.serve());
        let dir = tempfile::tempdir().unwrap();
        let test = |hook: &str, config: PathBuf| {
            run(WebhookCommand::Test(WebhookTestArgs { hook: hook.into(), config, url: None }))
        };
        let good = config_file(dir.path(), port, SECRET);
        test("forge", good.clone()).await.unwrap();
        test("ci", good.clone()).await.unwrap();
        for _ in 0..2 {
            let delivery = bound.deliveries.recv().await.unwrap();
            assert!(delivery.text.contains("chatrixcd pushed 1 commit(s)"), "{}", delivery.text);
        }
        test("semaphore:default", good.clone()).await.unwrap();
        assert!(bound.alerts[0].1.next_event().await.is_some());
        let unknown = test("nope", good).await.unwrap_err().to_string();
        assert!(unknown.contains("no hook `nope` (configured: ci, forge)"), "{unknown}");
        let other = config_file(dir.path(), port, &SECRET.replace('5', "6"));
        assert!(test("forge", other).await.is_err(), "another secret is refused");
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;

    #[tokio::test]
    async fn the_endpoint_serves_tls_from_the_configured_files_and_the_test_trusts_them() {
        let dir = tempfile::tempdir().unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let text = format!(
            r#"{{
                matrix: {{ homeserver: "https://m.example", user_id: "@bot:m.example", password: "pw" }},
                semaphore: {{ url: "https://s.example", api_token: "t" }},
                bot: {{ admin_users: ["@a:m.example"] }},
                webhooks: {{ listen: "127.0.0.1:{port}", tls_cert_file: "{}", tls_key_file: "{}",
                    hooks: {{ forge: {{ secret: "{secret}", verify: "github", rooms: ["!r:m.example"] }} }} }},
            }}"#,
            cert.display(),
            key.display()
        );
        let file = dir.path().join("config.json");
        std::fs::write(&file, &text).unwrap();
        let config = crate::serve::load_config(&file).unwrap();
        let endpoint =
            config.webhooks.as_ref().unwrap().endpoint(Vec::new(), std::sync::Arc::new(chatrixcd_clock::SystemClock));
        let mut bound = chatrixcd_webhook::Webhooks::bind(endpoint).await.unwrap();
        tokio::spawn(bound.server.serve());
        run(WebhookCommand::Test(WebhookTestArgs { hook: "forge".into(), config: file.clone(), url: None }))
            .await
            .unwrap();
        assert!(bound.deliveries.recv().await.unwrap().text.contains("pushed"));
        // Plain HTTP to the TLS port gets no answer.
        let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
        assert!(plain.is_err() || !plain.unwrap().status().is_success());
        // A key that is not the certificate's is refused at load, naming the file.
        let other = rcgen::generate_simple_self_signed(vec!["x".to_owned()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let problems = crate::config::parse(&text).unwrap_err();
        assert!(
            problems.iter().any(|p| p.key == "webhooks.tls_cert_file" && p.message.contains("key.pem")),
            "{problems:?}"
        );
    }
}
