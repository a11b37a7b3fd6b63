//! A named hook's delivery proof, as it arrives from the network: any header values and any body,
//! through every verification scheme, never panic; and a delivery signed as its sender signs it
//! passes (once, for the timestamped scheme, whose replays are refused), while the same proof over
//! another body does not.
#![no_main]

use std::sync::LazyLock;

use chatrixcd_webhook::Verify;
use chatrixcd_webhook::verify::{self, Context, Refusal, Replays};
use libfuzzer_sys::fuzz_target;

const SCHEMES: [Verify; 5] = [Verify::HmacSha256, Verify::Github, Verify::Gitea, Verify::GitlabToken, Verify::Bearer];

/// Every header a scheme reads.
const HEADERS: [&str; 7] = [
    "x-timestamp",
    "x-signature-256",
    "x-hub-signature-256",
    "x-gitea-signature",
    "x-forgejo-signature",
    "x-gitlab-token",
    "authorization",
];

/// One cache across inputs, as the endpoint has one across requests (it fills and evicts).
static SHARED: LazyLock<Replays> = LazyLock::new(Replays::default);

/// A request's headers, looked up by lower-case name.
fn headers<'h>(pairs: &'h [(&'static str, &'h str)]) -> impl Fn(&str) -> Option<&'h str> + 'h {
    move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// What a delivery is checked with unless the input says otherwise (`@secret`, `@now`, `@window`).
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const NOW: i64 = 1_767_225_600;
const WINDOW: i64 = 300;

// Input: a request's head, `name: value` lines (and `@secret`, `@now`, `@window` lines for the
// context), a blank line, then the body; without a blank line, all of it is the body.
fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (&b""[..], data),
    };
    let head = String::from_utf8_lossy(head);
    let (mut secret, mut now, mut window) = (SECRET.to_owned(), NOW, WINDOW);
    let mut arrived: Vec<(&'static str, &str)> = Vec::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once([':', ' ']) else { continue };
        let value = value.trim_start();
        match name.trim().to_ascii_lowercase().as_str() {
            "@secret" => secret = value.to_owned(),
            "@now" => now = value.parse().unwrap_or(now),
            "@window" => window = value.parse().unwrap_or(window),
            name => {
                if let Some(known) = HEADERS.iter().find(|h| **h == name) {
                    arrived.push((known, value));
                }
            }
        }
    }

    // Whatever arrives: an answer, never a panic, with any clock and window.
    for scheme in SCHEMES {
        let context = Context { secret: secret.as_bytes(), now, window, replays: &SHARED };
        let _ = verify::check(scheme, context, headers(&arrived), body);
    }

    // Signed as the sender signs it, at a time within the window (a negative window takes
    // nothing, so the property needs one of at least zero).
    let window = window.max(0);
    let skew = (i64::try_from(body.len() % 7).unwrap_or(0) - 3).clamp(-window, window);
    let Some(at) = now.checked_add(skew) else { return };
    let stamp = at.to_string();
    let generic = format!("sha256={}", verify::sign(secret.as_bytes(), &[stamp.as_bytes(), b".", body]));
    let replays = Replays::default();
    let context = Context { secret: secret.as_bytes(), now, window, replays: &replays };
    let signed = [("x-timestamp", stamp.as_str()), ("x-signature-256", generic.as_str())];
    assert_eq!(verify::check(Verify::HmacSha256, context, headers(&signed), body), Ok(()), "a signed delivery");
    let replayed = verify::check(Verify::HmacSha256, context, headers(&signed), body);
    assert_eq!(replayed, Err(Refusal::Replayed), "its replay");
    let mut other = body.to_vec();
    other.push(b'x');
    let forged = verify::check(Verify::HmacSha256, context, headers(&signed), &other);
    assert_eq!(forged, Err(Refusal::BadSignature), "the proof of another body");

    let hub = format!("sha256={}", verify::sign(secret.as_bytes(), &[body]));
    let gitea = verify::sign(secret.as_bytes(), &[body]);
    let forges = [
        (Verify::Github, [("x-hub-signature-256", hub.as_str())]),
        (Verify::Gitea, [("x-gitea-signature", gitea.as_str())]),
        (Verify::Gitea, [("x-forgejo-signature", gitea.as_str())]),
    ];
    for (scheme, signed) in &forges {
        assert_eq!(verify::check(*scheme, context, headers(signed), body), Ok(()), "{scheme:?}");
        let forged = verify::check(*scheme, context, headers(signed), &other);
        assert_eq!(forged, Err(Refusal::BadSignature), "{scheme:?}, another body");
    }

    // A shared token can travel in a header only as visible ASCII (what the config takes).
    if !secret.is_empty() && secret.bytes().all(|b| b.is_ascii_graphic()) {
        let bearer = format!("{} {secret}", if body.len() % 2 == 0 { "Bearer" } else { "bearer" });
        let token = [("x-gitlab-token", secret.as_str()), ("authorization", bearer.as_str())];
        for scheme in [Verify::GitlabToken, Verify::Bearer] {
            assert_eq!(verify::check(scheme, context, headers(&token), body), Ok(()), "{scheme:?}");
        }
        let wrong = format!("{secret}x");
        let wrong_bearer = format!("Bearer {wrong}");
        let wrong_token = [("x-gitlab-token", wrong.as_str()), ("authorization", wrong_bearer.as_str())];
        for scheme in [Verify::GitlabToken, Verify::Bearer] {
            let refused = verify::check(scheme, context, headers(&wrong_token), body);
            assert_eq!(refused, Err(Refusal::BadSignature), "{scheme:?}");
        }
    }
});
