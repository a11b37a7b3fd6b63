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
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad signature",
            Self::Stale => "timestamp outside the window",
            Self::Replayed => "replayed",
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
}
