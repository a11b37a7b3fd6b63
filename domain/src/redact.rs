//! Keeping secrets out of everything the bot posts and logs.
//!
//! Two nets: the secrets the bot knows (its own tokens and passwords) are replaced wherever they
//! appear, and well-known secret shapes (bearer headers, `password=…`, private keys, cloud and
//! forge tokens, JWTs) are masked. Ordinary text is left alone: no blanket rule on long words or
//! numbers, which made ChatrixCD's logs unreadable.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a redacted secret is replaced with.
pub const MARK: &str = "[REDACTED]";

/// What part of a match is the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The whole match is the secret.
    Nothing,
    /// Capture 1 (e.g. `Bearer `) stays, the rest is the secret; capture 2, if any, stays too.
    Prefix,
    /// `key=value`: capture 1 is `key=`; the value is capture 2 ("…"), 3 ('…') or 4 (bare).
    KeyValue,
    /// One boundary character before the token (capture 1) stays.
    Boundary,
}

struct Rule {
    pattern: Regex,
    keep: Keep,
}

fn rule(pattern: &str, keep: Keep) -> Rule {
    // Every pattern is a literal below; a test compiles them all, so this cannot fail at run time.
    #[allow(clippy::expect_used)]
    let pattern = Regex::new(pattern).expect("redaction patterns are valid");
    Rule { pattern, keep }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // PEM private keys, whole blocks.
        rule(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", Keep::Nothing),
        // Authorization headers and bare bearer tokens.
        rule(r"(?i)(\bauthorization\s*[:=]\s*(?:bearer|token|basic)\s+)[A-Za-z0-9._~+/=-]{6,}", Keep::Prefix),
        rule(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{6,}", Keep::Prefix),
        // key = value, key: value, "key": "value" for secret-looking keys; quoted values whole.
        rule(
            r#"(?i)(\b[a-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)[a-z0-9_.-]*["']?\s*[:=]\s*)(?:"([^"\n]{3,})"|'([^'\n]{3,})'|([^\s"',;&]{3,}))"#,
            Keep::KeyValue,
        ),
        // Credentials inside URLs: scheme://user:password@host
        rule(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)", Keep::Prefix),
        // Well-known token shapes.
        rule(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}\b", Keep::Nothing),
        rule(r"\bgithub_pat_[A-Za-z0-9_]{20,}", Keep::Nothing),
        rule(r"\bglpat-[A-Za-z0-9_-]{20,}", Keep::Nothing),
        rule(r"\bxox[abprs]-[A-Za-z0-9-]{10,}", Keep::Nothing),
        rule(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", Keep::Nothing),
        rule(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", Keep::Nothing),
        rule(r"\bsyt_[A-Za-z0-9_]{10,}", Keep::Nothing),
        // Semaphore API tokens: URL-safe base64 of 32 bytes, lower-cased, 44 characters with '='.
        rule(r"(^|[^A-Za-z0-9_=-])[a-z0-9_-]{43}=", Keep::Boundary),
    ]
});

/// Masks secrets in text. Cheap to clone behind an `Arc`; build once.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    known: Vec<String>,
}

impl Redactor {
    /// `known_secrets`: values to mask wherever they appear. Values shorter than 6 characters are
    /// ignored: masking "abc" everywhere would destroy ordinary text and hide nothing.
    pub fn new(known_secrets: impl IntoIterator<Item = String>) -> Self {
        // A value inside the mark itself would reappear with every replacement.
        let mut known: Vec<String> =
            known_secrets.into_iter().filter(|s| s.chars().count() >= 6 && !MARK.contains(s.as_str())).collect();
        // Longest first, so a secret containing another is masked whole.
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        known.dedup();
        Self { known }
    }

    pub fn redact<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(input);
        for secret in &self.known {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), MARK));
            }
            let encoded = percent_encode(secret);
            if encoded != *secret && text.contains(encoded.as_str()) {
                text = Cow::Owned(text.replace(encoded.as_str(), MARK));
            }
        }
        for rule in RULES.iter() {
            if !rule.pattern.is_match(&text) {
                continue;
            }
            let replaced = rule.pattern.replace_all(&text, |c: &Captures<'_>| mask(c, rule.keep));
            if let Cow::Owned(s) = replaced {
                text = Cow::Owned(s);
            }
        }
        text
    }
}

fn mask(c: &Captures<'_>, keep: Keep) -> String {
    let group = |i| c.get(i).map_or("", |m| m.as_str());
    match keep {
        Keep::Nothing => MARK.to_owned(),
        Keep::Boundary => format!("{}{MARK}", group(1)),
        Keep::Prefix => {
            // An already-masked value stays as it is, so redaction is idempotent.
            if group(0)[group(1).len()..].starts_with(MARK) {
                return group(0).to_owned();
            }
            format!("{}{MARK}{}", group(1), group(2))
        }
        Keep::KeyValue => {
            let prefix = group(1);
            if c.get(2).is_some() {
                format!("{prefix}\"{MARK}\"")
            } else if c.get(3).is_some() {
                format!("{prefix}'{MARK}'")
            } else if group(4).starts_with(MARK) {
                group(0).to_owned()
            } else {
                format!("{prefix}{MARK}")
            }
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn all_patterns_compile() {
        assert!(RULES.len() > 10);
    }

    #[test]
    fn secret_shapes_are_masked() {
        let r = Redactor::default();
        let cases: &[(&str, &str)] = &[
            ("Authorization: Bearer abcdef123456", "Authorization: Bearer [REDACTED]"),
            ("curl -H 'authorization: token ghx12345678'", "curl -H 'authorization: token [REDACTED]'"),
            ("password=hunter2", "password=[REDACTED]"),
            ("db_password: 'p4ss w0rd'", "db_password: '[REDACTED]'"),
            (r#"{"api_token": "abc123xyz"}"#, r#"{"api_token": "[REDACTED]"}"#),
            ("SECRET_KEY=supersecretvalue", "SECRET_KEY=[REDACTED]"),
            (
                "clone https://deploy:s3cr3tpass@git.example.org/x.git",
                "clone https://deploy:[REDACTED]@git.example.org/x.git",
            ),
            ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED]"),
            ("glpat-abcdefghijklmnopqrstu", "[REDACTED]"),
            ("xoxb-1234567890-abcdefghij", "[REDACTED]"),
            ("key AKIAIOSFODNN7EXAMPLE here", "key [REDACTED] here"),
            ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "jwt [REDACTED]"),
            ("syt_Ym90_abcdefghijklmnop_123456", "[REDACTED]"),
            ("token kwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu= ok", "token [REDACTED] ok"),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----\nafter",
                "[REDACTED]\nafter",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(r.redact(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = Redactor::default();
        for text in [
            "TASK [Gathering Facts] *********************************************************",
            "ok: [web1] => (item=nginx)",
            "localhost : ok=3 changed=1 unreachable=0 failed=0 skipped=0",
            "Task 2147483645 added to queue",
            "commit 3f9c2a1b4d5e6f708192a3b4c5d6e7f8091a2b3c",
            "@alice:example.org joined !room:example.org",
            "Plan: 1 to add, 0 to change, 0 to destroy.",
            "the token was rotated yesterday",
            "password policy updated",
        ] {
            assert_eq!(r.redact(text), text);
            assert!(matches!(r.redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn known_secrets_are_masked_anywhere_even_url_encoded() {
        let r = Redactor::new(["p@ss/word!".to_owned(), "abc".to_owned()]);
        assert_eq!(r.redact("login with p@ss/word! now"), "login with [REDACTED] now");
        assert_eq!(r.redact("?pw=p%40ss%2Fword%21"), "?pw=[REDACTED]");
        assert_eq!(r.redact("abc stays"), "abc stays", "short values are not treated as secrets");
    }

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            "ghp_[A-Za-z0-9]{36}",
            "github_pat_[A-Za-z0-9_]{40}",
            "glpat-[A-Za-z0-9_-]{20}",
            "xoxb-[0-9]{10}-[A-Za-z0-9]{16}",
            "AKIA[0-9A-Z]{16}",
            "eyJ[A-Za-z0-9_-]{10}\\.eyJ[A-Za-z0-9_-]{10}\\.[A-Za-z0-9_-]{12}",
            "syt_[A-Za-z0-9]{10}_[A-Za-z0-9]{20}",
            "[a-z0-9_-]{43}=",
        ]
    }

    proptest! {
        #[test]
        fn token_shaped_secrets_never_survive(
            before in "[ a-zA-Z.,:;()\\[\\]\"'\n]{0,20}",
            secret in token(),
            after in "[ a-zA-Z.,:;()\\[\\]\"'\n]{0,20}",
        ) {
            let r = Redactor::default();
            let text = format!("{before} {secret} {after}");
            let out = r.redact(&text);
            prop_assert!(!out.contains(&secret), "{out:?}");
        }

        #[test]
        fn known_secrets_never_survive(prefix in "\\PC{0,20}", secret in "[!-~]{6,30}", suffix in "\\PC{0,20}") {
            let r = Redactor::new([secret.clone()]);
            let text = format!("{prefix}{secret}{suffix}");
            let out = r.redact(&text);
            prop_assert!(!out.contains(&secret), "{out:?}");
        }

        #[test]
        fn redaction_is_idempotent(text in "\\PC{0,120}", secret in token()) {
            let r = Redactor::default();
            let input = format!("{text} password={secret} {secret}");
            let once = r.redact(&input).into_owned();
            let twice = r.redact(&once).into_owned();
            prop_assert_eq!(once, twice);
        }
    }
}
