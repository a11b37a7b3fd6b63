//! How a generic hook's deliveries prove they come from its sender. Every comparison of a secret
//! or a signature is in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// A hook's verification scheme (`verify` in config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// `X-Signature-256: sha256=<hex>` of `<X-Timestamp>.<body>`, the timestamp (Unix seconds)
    /// within the replay window, each signature accepted once.
    HmacSha256,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` of the body.
    Github,
    /// Gitea and Forgejo: `X-Gitea-Signature` (or `X-Forgejo-Signature`): `<hex>` of the body.
    Gitea,
    /// GitLab: `X-Gitlab-Token: <secret>`.
    GitlabToken,
    /// `Authorization: Bearer <secret>`.
    Bearer,
}

impl Verify {
    pub const NAMES: [&'static str; 5] = ["hmac-sha256", "github", "gitea", "gitlab-token", "bearer"];

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Self::HmacSha256),
            "github" => Some(Self::Github),
            "gitea" | "forgejo" => Some(Self::Gitea),
            "gitlab-token" | "gitlab" => Some(Self::GitlabToken),
            "bearer" => Some(Self::Bearer),
            _ => None,
        }
    }

    /// The header naming the event kind, for the default templates.
    pub fn event_header(self) -> &'static [&'static str] {
        match self {
            Self::Github => &["x-github-event"],
            Self::Gitea => &["x-gitea-event", "x-forgejo-event"],
            Self::GitlabToken => &["x-gitlab-event"],
            Self::HmacSha256 | Self::Bearer => &["x-event"],
        }
    }
}

/// Why a delivery was refused (all answer 401; the reason is for the log and the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unsigned,
    BadSignature,
    Stale,
    Replayed,
    /// The replay cache is full of signatures still in their window: nothing new is taken
    /// until some leave it (answered 503, not 401).
    Busy,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad signature",
            Self::Stale => "timestamp outside the window",
            Self::Replayed => "replayed",
            Self::Busy => "too many recent signatures",
        }
    }
}

/// HMAC-SHA256 of `parts` with `secret`, compared in constant time with `hex_signature`.
pub fn hmac_matches(secret: &[u8], parts: &[&[u8]], hex_signature: &str) -> bool {
    let Ok(given) = hex::decode(hex_signature.trim()) else { return false };
    // Any key length is valid for HMAC; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&given).is_ok()
}

/// A shared token compared in constant time.
pub fn token_matches(secret: &[u8], given: &str) -> bool {
    bool::from(given.trim().as_bytes().ct_eq(secret))
}

/// The hex signature of `parts`, as a sender computes it (`chatrixcd webhook test`, tests).
pub fn sign(secret: &[u8], parts: &[&[u8]]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Signatures seen within the replay window, oldest first: each delivery is accepted once.
#[derive(Debug, Default)]
pub struct Replays {
    seen: std::sync::Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    order: std::collections::VecDeque<(i64, String)>,
    set: std::collections::HashSet<String>,
}

/// The most signatures remembered at once (about 40 MB at most). A signature is kept while its
/// timestamp is within the window, up to twice the window; at the cap, new deliveries are
/// refused as busy rather than a remembered one forgotten early (which would let it be
/// replayed). Two hooks at the default limit (100/s) stay below it.
const SEEN_MAX: usize = 250_000;

/// Whether a signature was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Novelty {
    New,
    Replayed,
    Full,
}

impl Replays {
    /// Remembers `signature` (seen at `at`, now `now`), unless it was already seen within
    /// `window` seconds or the cache is full of signatures still in their window.
    fn first_time(&self, signature: &str, at: i64, now: i64, window: i64) -> Novelty {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let oldest = now.saturating_sub(window);
        while seen.order.front().is_some_and(|(t, _)| *t < oldest) {
            if let Some((_, old)) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
        let key = signature.trim().to_ascii_lowercase();
        if seen.set.contains(&key) {
            return Novelty::Replayed;
        }
        if seen.order.len() >= SEEN_MAX {
            return Novelty::Full;
        }
        seen.set.insert(key.clone());
        // Kept until its timestamp leaves the window: a delivery dated ahead is kept longer.
        seen.order.push_back((at.max(oldest), key));
        Novelty::New
    }

    /// Forgets a signature accepted by `check` whose delivery was then refused for another
    /// reason (the hook's limit, a full queue, a body that is not JSON), so that the sender's
    /// retry of the same request is not taken for a replay.
    pub fn forget(&self, signature: &str) {
        let key = signature.trim().to_ascii_lowercase();
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.set.remove(&key) {
            seen.order.retain(|(_, k)| *k != key);
        }
    }
}

/// What checking a delivery needs besides its headers and body.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub secret: &'a [u8],
    /// Unix seconds, from the clock port.
    pub now: i64,
    /// How far a timestamped delivery may be from `now`, in seconds.
    pub window: i64,
    pub replays: &'a Replays,
}

/// Checks a delivery's proof by `scheme`; `header` looks a request header up by its lower-case
/// name. Nothing here allocates for a refused delivery except the replay cache's key.
pub fn check<'h>(
    scheme: Verify,
    context: Context<'_>,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Result<(), Refusal> {
    let secret = context.secret;
    let ok = match scheme {
        Verify::Github => {
            let given = header("x-hub-signature-256").ok_or(Refusal::Unsigned)?;
            given.strip_prefix("sha256=").is_some_and(|hex| hmac_matches(secret, &[body], hex))
        }
        Verify::Gitea => {
            let given =
                header("x-gitea-signature").or_else(|| header("x-forgejo-signature")).ok_or(Refusal::Unsigned)?;
            hmac_matches(secret, &[body], given)
        }
        Verify::GitlabToken => token_matches(secret, header("x-gitlab-token").ok_or(Refusal::Unsigned)?),
        Verify::Bearer => {
            let given = header("authorization").ok_or(Refusal::Unsigned)?;
            // The scheme's name is case-insensitive (RFC 9110 §11.1).
            let token = given.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
            token.is_some_and(|(_, token)| token_matches(secret, token))
        }
        Verify::HmacSha256 => return check_timestamped(context, &header, body),
    };
    if ok { Ok(()) } else { Err(Refusal::BadSignature) }
}

/// The generic scheme: a signature of `<timestamp>.<body>`, fresh, and new.
fn check_timestamped<'h>(
    context: Context<'_>,
    header: &impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Result<(), Refusal> {
    let stamp = header("x-timestamp").ok_or(Refusal::Unsigned)?.trim();
    let signature = header("x-signature-256").ok_or(Refusal::Unsigned)?;
    let hex = signature.strip_prefix("sha256=").ok_or(Refusal::BadSignature)?;
    let at: i64 = stamp.parse().map_err(|_| Refusal::BadSignature)?;
    if context.now.saturating_sub(at).saturating_abs() > context.window {
        return Err(Refusal::Stale);
    }
    if !hmac_matches(context.secret, &[stamp.as_bytes(), b".", body], hex) {
        return Err(Refusal::BadSignature);
    }
    match context.replays.first_time(hex, at, context.now, context.window) {
        Novelty::New => Ok(()),
        Novelty::Replayed => Err(Refusal::Replayed),
        Novelty::Full => Err(Refusal::Busy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_only_their_secret_and_body() {
        let sig = sign(b"s3cret", &[b"1700000000", b".", b"{}"]);
        assert!(hmac_matches(b"s3cret", &[b"1700000000", b".", b"{}"], &sig));
        assert!(!hmac_matches(b"s3cret", &[b"1700000001", b".", b"{}"], &sig));
        assert!(!hmac_matches(b"other", &[b"1700000000", b".", b"{}"], &sig));
        assert!(!hmac_matches(b"s3cret", &[b"1700000000", b".", b"{}"], "not hex"));
        assert!(!hmac_matches(b"s3cret", &[b"1700000000", b".", b"{}"], &sig[..10]));
        assert!(token_matches(b"tok", " tok "));
        assert!(!token_matches(b"tok", "to"));
        for name in Verify::NAMES {
            assert!(Verify::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn a_timestamped_delivery_is_taken_once_and_only_while_fresh() {
        let replays = Replays::default();
        let context = Context { secret: b"s3cret", now: 1_700_000_000, window: 300, replays: &replays };
        let signed = |at: i64| format!("sha256={}", sign(b"s3cret", &[at.to_string().as_bytes(), b".", b"{}"]));
        let deliver = |at: i64, signature: &str, context: Context<'_>| {
            let stamp = at.to_string();
            check(
                Verify::HmacSha256,
                context,
                |name| match name {
                    "x-timestamp" => Some(stamp.as_str()),
                    "x-signature-256" => Some(signature),
                    _ => None,
                },
                b"{}",
            )
            .map_err(|r| r.as_str())
        };
        let now = context.now;
        assert_eq!(deliver(now - 10, &signed(now - 10), context), Ok(()));
        assert_eq!(deliver(now - 10, &signed(now - 10), context), Err("replayed"));
        assert_eq!(deliver(now - 301, &signed(now - 301), context), Err("timestamp outside the window"));
        assert_eq!(deliver(now + 301, &signed(now + 301), context), Err("timestamp outside the window"));
        assert_eq!(deliver(now, &signed(now - 1), context), Err("bad signature"));
        assert_eq!(deliver(i64::MIN, "sha256=00", context), Err("timestamp outside the window"));
        // Long after, the remembered signature is forgotten with its window; by then its
        // timestamp is stale anyway.
        let later = Context { now: now + 10_000, ..context };
        assert_eq!(deliver(now - 10, &signed(now - 10), later), Err("timestamp outside the window"));
        let fresh = later.now - 1;
        assert_eq!(deliver(fresh, &signed(fresh), later), Ok(()));
        assert_eq!(replays.seen.lock().unwrap().order.len(), 1, "the old signature was forgotten");
        let unsigned = check(Verify::Github, context, |_| None, b"{}");
        assert_eq!(unsigned, Err(Refusal::Unsigned));
    }
}
