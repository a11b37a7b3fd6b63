//! What a signed delivery's JSON becomes in chat: any JSON through the default templates of
//! every event the forges name, and through small custom templates, never panics, and the text
//! is never empty nor longer than the endpoint's cap (2,000 characters, then an ellipsis).
//!
//! Input: an optional first line naming one more event (up to 64 bytes), then the body.
#![no_main]

use std::sync::LazyLock;

use chatrixcd_webhook::{Renderer, Verify};
use libfuzzer_sys::fuzz_target;

/// `render::MAX_TEXT` (private): the longest text before the ellipsis, in bytes and so at most
/// that many characters.
const MAX_TEXT: usize = 2_000;

const SCHEMES: [Verify; 5] = [Verify::HmacSha256, Verify::Github, Verify::Gitea, Verify::GitlabToken, Verify::Bearer];

/// The event names the forges send (`X-Gitea-Event`, `X-GitHub-Event`, `X-Gitlab-Event`), and
/// some no default knows.
const EVENTS: [Option<&str>; 14] = [
    None,
    Some("push"),
    Some("Push Hook"),
    Some("pull_request"),
    Some("Merge Request Hook"),
    Some("release"),
    Some("Release Hook"),
    Some("Pipeline Hook"),
    Some("Tag Push Hook"),
    Some("create"),
    Some("issues"),
    Some("PUSH"),
    Some(""),
    Some("deploy"),
];

/// Small templates as an operator writes them: fields, a loop, the filter, arithmetic that can
/// fail on the wrong type.
const CUSTOM: [&str; 4] = [
    "{{ body }}",
    "{{ hook }} {{ event }} {{ verify }}: {% for k in body %}{{ k }}, {% endfor %}",
    "{{ body.commits[0].message | firstline }} ({{ (body.commits or []) | length }}) by {{ body.sender.login }}",
    "{% if body.n > 1 %}{{ body.n * 2 }}{% else %}{{ body.a.b.c }}{{ body[0] }}{% endif %}",
];

static DEFAULTS: LazyLock<Renderer> = LazyLock::new(|| Renderer::new(None).expect("the default templates compile"));
static CUSTOMS: LazyLock<Vec<Renderer>> =
    LazyLock::new(|| CUSTOM.iter().map(|t| Renderer::new(Some(t)).expect("the custom templates compile")).collect());

fn checked(text: &str) {
    assert!(!text.is_empty(), "an empty text");
    let chars = text.chars().count();
    assert!(chars <= MAX_TEXT + 1, "{chars} characters");
    assert!(text.len() <= MAX_TEXT + '…'.len_utf8(), "{} bytes", text.len());
}

fuzz_target!(|data: &[u8]| {
    let (extra, json) = match data.iter().take(65).position(|b| *b == b'\n') {
        Some(at) => (std::str::from_utf8(&data[..at]).ok(), &data[at + 1..]),
        None => (None, data),
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let extra = extra.map(Some);
    for (i, event) in EVENTS.iter().copied().chain(extra).enumerate() {
        let scheme = SCHEMES[i % SCHEMES.len()];
        checked(&DEFAULTS.render("fuzz", scheme, event, &body));
    }
    for (i, renderer) in CUSTOMS.iter().enumerate() {
        checked(&renderer.render("fuzz", SCHEMES[i % SCHEMES.len()], EVENTS[i + 1], &body));
    }
});
