//! Keeping secrets out of everything the bot posts and logs.
//!
//! Two nets: the secrets the bot knows (its own tokens and passwords) are replaced wherever they
//! appear, also percent- or JSON-encoded; and well-known secret shapes (bearer headers,
//! `password=…`, credentials in URLs, private keys, forge, cloud and chat tokens, JWTs, Semaphore
//! tokens) are masked. Ordinary text is left alone: no blanket rule on long words, numbers or ids,
//! which made ChatrixCD's logs unreadable.
//!
//! Task output is coloured, so the patterns tolerate SGR sequences glued to a secret
//! (`ESC[0;33mghp_…`), where a plain word boundary would not match.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};

use crate::render::ansi;

/// What a redacted secret is replaced with.
pub const MARK: &str = "[REDACTED]";

/// Known secrets shorter than this are ignored: masking "abc" everywhere would destroy ordinary
/// text and hide nothing.
pub const MIN_SECRET_LEN: usize = 6;

/// One pattern. The first capture group that took part in a match is the secret and the rest of
/// the match stays (a key, a scheme, quotes); without groups the whole match is the secret.
struct Rule {
    pattern: Regex,
    /// Last word on a candidate secret, for shapes a regex cannot express.
    accept: fn(&str) -> bool,
}

fn rule(pattern: &str, accept: fn(&str) -> bool) -> Rule {
    // Every pattern is a literal below and a test compiles them all, so this cannot fail at run
    // time; a panic here would be a bug caught by that test.
    #[allow(clippy::expect_used)]
    let pattern = Regex::new(pattern).expect("redaction patterns are valid");
    Rule { pattern, accept }
}

fn any(_: &str) -> bool {
    true
}

/// A bearer credential, not the English word ("bearer authentication").
fn credential_like(value: &str) -> bool {
    value.len() >= 16 || value.bytes().any(|b| b.is_ascii_digit() || b".~+/=-_".contains(&b))
}

/// Not a scheme name left behind by an already masked header (`Authorization: Bearer [REDACTED]`).
fn not_a_scheme(value: &str) -> bool {
    !["bearer", "token", "basic", "digest", "apikey"].iter().any(|s| value.eq_ignore_ascii_case(s))
}

/// A bare `key=value` value that is a secret rather than a stand-in for one: Terraform's
/// `(sensitive value)`, a Jinja expression, a `$VARIABLE` reference, a row of stars.
fn not_a_placeholder(value: &str) -> bool {
    let variable =
        value.strip_prefix("${").and_then(|v| v.strip_suffix('}')).or_else(|| value.strip_prefix('$')).is_some_and(
            |name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
        );
    !(variable
        || value.starts_with("(sensitive")
        || value.starts_with("(known")
        || value.starts_with("<sensitive")
        || value.starts_with("{{")
        || value.bytes().all(|b| b == b'*'))
}

/// Random base64, as in the lines of a PEM body, rather than a long word or a hex digest.
fn mixed_base64(value: &str) -> bool {
    value.bytes().any(|b| b.is_ascii_uppercase())
        && value.bytes().any(|b| b.is_ascii_lowercase())
        && value.bytes().any(|b| b.is_ascii_digit())
}

/// An SGR sequence that may sit between a key and its value, or right in front of a token.
const SGR: &str = r"\x1b\[[0-9;]*m";

const PEM_BEGIN: &str = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----";
const PEM_END: &str = r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    // Keys whose value is a secret: password, passwd, passphrase, secret, client_secret, token,
    // api_token, access_token, api_key, apikey, access_key, private_key, with any decoration
    // (`DB_PASSWORD`, `x-api-key`, `vault.token`).
    let key = format!(
        r"(?i)(?:(?-u:\b)|{SGR})[a-z0-9_.-]*(?:passw(?:or)?d|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[a-z0-9_.-]*"
    );
    let separator = format!(r#"["']?[ \t]*(?:{SGR})*(?::=|=>|[:=])[ \t]*(?:{SGR})*"#);
    vec![
        // PEM private keys, whole blocks; a block cut short is masked to the end of the text.
        rule(&format!(r"{PEM_BEGIN}(?s:.)*?(?:{PEM_END}|\z)"), any),
        // Authorization headers, with or without a scheme, and bare bearer tokens.
        rule(
            &format!(
                r#"(?i)(?:(?-u:\b)|{SGR})(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?(?:(?:bearer|token|basic|digest|apikey)[ \t]+)?([A-Za-z0-9_.~+/=-]{{6,}})"#
            ),
            not_a_scheme,
        ),
        rule(&format!(r"(?i)(?:(?-u:\b)|{SGR})bearer[ \t]+([A-Za-z0-9_.~+/=-]{{6,}})"), credential_like),
        // key = value, key: value, "key": "value", key => 'value'. The key and quotes stay. A
        // bare value never starts with a separator character, so `=>` cannot be split into `=`
        // and a value `>` when the value after it is quoted.
        rule(
            &format!(r#"{key}{separator}(?:"((?:[^"\\\n]|\\.)+)"|'([^'\n]+)'|([^\s"'&,;\x1b=>][^\s"'&,;\x1b]*))"#),
            not_a_placeholder,
        ),
        // Credentials inside URLs: scheme://user:password@host. The last `@` of the authority
        // ends the password, so an unencoded `@` in it does not leak the rest.
        rule(r"(?i)[a-z][a-z0-9+.-]*://[^\s:/?#@]*:([^\s/?#]+)@", any),
        // Well-known token shapes. Their prefixes are distinctive enough to need no boundary in
        // front, which would fail after an SGR sequence (`ESC[32mghp_…`).
        rule(r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}", any),
        rule(r"github_pat_[A-Za-z0-9_]{20,}", any),
        rule(r"gl(?:pat|ptt|dt|rt|cbt|oas|soat|ft|imt)-[A-Za-z0-9_-]{20,}", any),
        rule(r"xox[abeprs]-[A-Za-z0-9-]{10,}", any),
        rule(r"(?:AKIA|ASIA)[0-9A-Z]{16}", any),
        rule(r"AIza[0-9A-Za-z_-]{35}", any),
        rule(r"npm_[A-Za-z0-9]{36}", any),
        rule(r"pypi-AgE[A-Za-z0-9_-]{50,}", any),
        // JWTs: header and payload are base64 JSON objects, so both start with `eyJ`.
        rule(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?", any),
        // Matrix: Synapse access, refresh and SSO login tokens, MAS tokens.
        rule(r"sy[tlr]_[A-Za-z0-9_]{10,}", any),
        rule(r"(?:mat|mar|mct|mcr)_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}", any),
    ]
});

/// All rules in one automaton: one pass over the text tells which rules need their own pass.
static RULE_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    // The same patterns, each already compiled on its own above, so this cannot fail.
    #[allow(clippy::expect_used)]
    RegexSet::new(RULES.iter().map(|r| r.pattern.as_str())).expect("redaction patterns are valid")
});

static PEM_BEGIN_RE: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern, compiled by the tests: cannot fail.
    #[allow(clippy::expect_used)]
    Regex::new(PEM_BEGIN).expect("PEM pattern is valid")
});
static PEM_END_RE: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern, compiled by the tests: cannot fail.
    #[allow(clippy::expect_used)]
    Regex::new(PEM_END).expect("PEM pattern is valid")
});

/// Words without one of which no rule can match (compared ignoring ASCII case). Finding none of
/// them in a whole batch of lines is a fast way to know the rules need not run on it.
const RULE_WORDS: &[&str] = &[
    "-----begin",
    "authorization",
    "bearer",
    "passw",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "private-key",
    "://",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "glptt-",
    "gldt-",
    "glrt-",
    "glcbt-",
    "gloas-",
    "glsoat-",
    "glft-",
    "glimt-",
    "xox",
    "akia",
    "asia",
    "aiza",
    "npm_",
    "pypi-",
    "eyj",
    "syt_",
    "syl_",
    "syr_",
    "mat_",
    "mar_",
    "mct_",
    "mcr_",
    // The two characters that Unicode case folding makes equal to ASCII letters, which the
    // case-insensitive rules accept in a key: LONG S (`ſ` = s) and KELVIN SIGN (`K` = k).
    "\u{17f}",
    "\u{212a}",
];

static RULE_WORDS_FINDER: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    // Fixed ASCII and two fixed characters: building cannot fail.
    #[allow(clippy::expect_used)]
    aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(RULE_WORDS).expect("literal words")
});

/// Masks secrets in text. Build once (it holds the known secrets and their encodings) and share.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The known secrets and their encoded forms, longest first.
    needles: Vec<String>,
}

/// Never prints the secrets, so a `{:?}` of anything holding a redactor is safe to log.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").field("known_secret_forms", &self.needles.len()).finish()
    }
}

impl Redactor {
    /// `known_secrets`: values to mask wherever they appear (API tokens, passwords). Values
    /// shorter than [`MIN_SECRET_LEN`] characters are ignored.
    pub fn new(known_secrets: impl IntoIterator<Item = String>) -> Self {
        let mut needles = Vec::new();
        for secret in known_secrets {
            // A value inside the mark itself would reappear with every replacement.
            if secret.chars().count() < MIN_SECRET_LEN || MARK.contains(secret.as_str()) {
                continue;
            }
            needles.push(percent_encode(&secret));
            if let Some(json) = json_escape(&secret) {
                needles.push(json);
            }
            // A message's HTML carries outside text escaped (`&` as `&amp;`), where the secret
            // itself would not be found; the log renderer leaves `'` as it is.
            let html = crate::render::html::escape(&secret);
            if html != secret {
                needles.push(html.replace("&#39;", "'"));
                needles.push(html.into_owned());
            }
            needles.push(secret);
        }
        // Longest first, so a secret containing another is masked whole.
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Self { needles }
    }

    /// `input` with every secret replaced by [`MARK`]; borrowed when there was none. Idempotent:
    /// redacting the result again changes nothing.
    pub fn redact<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(input);
        // A mask can, rarely, complete a pattern with its neighbours (a known secret ending in
        // `[`, a key right before a value that was a token); a few passes reach the fixed point.
        for _ in 0..4 {
            let next = self.pass(&text);
            match next {
                Cow::Owned(next) if next != *text => text = Cow::Owned(next),
                _ => break,
            }
        }
        text
    }

    /// A redactor for text that arrives a line at a time (log pages, live tails): it remembers
    /// when a private key block has begun, so the body lines are masked too.
    pub fn lines(&self) -> LineRedactor<'_> {
        self.lines_from(LineState::default())
    }

    /// A line redactor that goes on where an earlier one stopped ([`LineRedactor::state`]): a
    /// live tail posts its lines over many messages, and a private key cut across two of them
    /// must still be masked in the second.
    pub fn lines_from(&self, state: LineState) -> LineRedactor<'_> {
        LineRedactor { redactor: self, key_lines: state.key_lines }
    }

    fn pass<'t>(&self, input: &'t str) -> Cow<'t, str> {
        let mut text = self.mask_known(Cow::Borrowed(input));
        // Which rules match needs a search for every match; whether any does stops at the first
        // and is several times faster, and on most text the answer is no.
        let candidates = RULE_SET.is_match(&text).then(|| RULE_SET.matches(&text));
        for (index, rule) in RULES.iter().enumerate() {
            // A rule whose match only appears after an earlier rule's mask is caught by the
            // next pass of `redact`.
            if !candidates.as_ref().is_some_and(|c| c.matched(index)) {
                continue;
            }
            let replaced = rule.pattern.replace_all(&text, |c: &Captures<'_>| mask(c, rule.accept));
            if let Cow::Owned(s) = replaced {
                text = Cow::Owned(s);
            }
        }
        if let Some(masked) = base64_lines(&text) {
            text = Cow::Owned(masked);
        }
        if let Some(masked) = semaphore_tokens(&text) {
            text = Cow::Owned(masked);
        }
        self.mask_known(text)
    }

    /// Every known secret masked, also where a mask completes one with its neighbours (a secret
    /// `[REDACTED]x` in `abcdefxx` once a secret `abcdef` is masked, again after each mask):
    /// the secrets are looked for again until none is found.
    fn mask_known<'t>(&self, mut text: Cow<'t, str>) -> Cow<'t, str> {
        // Each round that masks something uses up text that was there or marks made before,
        // so a round per byte is more than any text needs; the bound only guarantees an end.
        let mut rounds = text.len() + 1;
        loop {
            let mut masked = false;
            for needle in &self.needles {
                if text.contains(needle.as_str()) {
                    text = Cow::Owned(text.replace(needle.as_str(), MARK));
                    masked = true;
                }
            }
            rounds -= 1;
            if !masked || rounds == 0 {
                return text;
            }
        }
    }
}

/// The replacement for one match: the secret part becomes [`MARK`], the rest stays.
fn mask(c: &Captures<'_>, accept: fn(&str) -> bool) -> String {
    // Group 0 is always present in a match; the fallback only satisfies the types.
    let Some(whole) = c.get(0) else {
        return String::new();
    };
    // The first group that took part is the secret (a pattern may offer alternative forms).
    let secret = c.iter().skip(1).flatten().next().unwrap_or(whole);
    let value = secret.as_str();
    // Already masked (only marks left): leave it, so redaction is idempotent.
    if value.split(MARK).all(str::is_empty) || !accept(value) {
        return whole.as_str().to_owned();
    }
    let start = secret.start() - whole.start();
    let end = secret.end() - whole.start();
    let text = whole.as_str();
    format!("{}{MARK}{}", &text[..start], &text[end..])
}

/// Lines that are nothing but random base64 (60 characters or more, in quotes or indented): the
/// body of a key printed line by line and redacted a line at a time, where the BEGIN line is out
/// of sight. A scan rather than a regex: the counted repetition made the regex the slowest rule.
/// `None` when there is nothing to mask.
fn base64_lines(text: &str) -> Option<String> {
    const MIN: usize = 60;
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut start = 0;
    for line in text.split('\n') {
        let line_start = start;
        start += line.len() + 1;
        if line.len() < MIN {
            continue;
        }
        let core = line.trim_start_matches([' ', '\t', '"', '\'']).trim_end_matches([' ', '\t', '"', '\'', ',', '\r']);
        let body = core.trim_end_matches('=');
        let secret = body.len() >= MIN
            && core.len() - body.len() <= 2
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            && mixed_base64(body);
        if secret {
            // `core` is a subslice of `line`, which is a subslice of `text`.
            let core_start = line_start + (line.len() - line.trim_start_matches([' ', '\t', '"', '\'']).len());
            let masked = out.get_or_insert_with(|| String::with_capacity(text.len()));
            masked.push_str(&text[copied..core_start]);
            masked.push_str(MARK);
            copied = core_start + core.len();
        }
    }
    out.map(|mut masked| {
        masked.push_str(&text[copied..]);
        masked
    })
}

/// Semaphore API tokens: URL-safe base64 of 32 random bytes, lower-cased (43 characters and one
/// `=`). A regex would need look-around to insist on a whole word, so this scans maximal runs of
/// base64 characters itself, stepping over escape sequences so colour codes do not glue onto a
/// token. `None` when there is nothing to mask.
fn semaphore_tokens(text: &str) -> Option<String> {
    fn base64url(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    }
    const BODY: usize = 43;
    let bytes = text.as_bytes();
    // A token is the 43 characters right before an `=`: most text has no `=` so preceded, and
    // looking only there is much faster than scanning every byte.
    let candidate = memchr::memchr_iter(b'=', bytes)
        .any(|at| at >= BODY && bytes[at - BODY..at].iter().rev().all(|&b| base64url(b)));
    if !candidate {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0x1b {
            i = ansi::sequence(bytes, i).0;
            continue;
        }
        if !base64url(b) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && base64url(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        let token = run.len() == BODY
            && bytes.get(i) == Some(&b'=')
            && !bytes.get(i + 1).copied().is_some_and(base64url)
            && !run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_digit)
            && run.iter().any(u8::is_ascii_lowercase);
        if token {
            let masked = out.get_or_insert_with(|| String::with_capacity(text.len()));
            // `start` follows an ASCII byte or a sequence end: a char boundary.
            masked.push_str(&text[copied..start]);
            masked.push_str(MARK);
            i += 1;
            copied = i;
        }
    }
    out.map(|mut masked| {
        masked.push_str(&text[copied..]);
        masked
    })
}

fn percent_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The secret as it appears inside a JSON string, when that differs from the secret itself.
fn json_escape(s: &str) -> Option<String> {
    let quoted = serde_json::to_string(s).ok()?;
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    (inner != s).then(|| inner.to_owned())
}

/// How many lines a private key body may run before the redactor gives up waiting for its END
/// line, so one stray BEGIN line cannot blank out the rest of a log.
const MAX_KEY_LINES: usize = 256;

/// Where a [`LineRedactor`] stands between two lines: inside a private key block or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineState {
    key_lines: Option<usize>,
}

/// Lines checked together by [`LineRedactor::redact_all`]: enough to make the check of a batch
/// cheap per line, few enough that a batch with a secret costs little to redact line by line.
const BATCH_LINES: usize = 256;

/// Redacts text a line at a time; see [`Redactor::lines`].
#[derive(Debug)]
pub struct LineRedactor<'r> {
    redactor: &'r Redactor,
    /// Lines masked so far inside an open private key block.
    key_lines: Option<usize>,
}

impl<'r> LineRedactor<'r> {
    /// Where this redactor stands, to go on later with [`Redactor::lines_from`].
    pub fn state(&self) -> LineState {
        LineState { key_lines: self.key_lines }
    }

    /// Redacts many lines in order; returns only those that change, by position. Same result as
    /// [`Self::redact_line`] on each, much faster on a long log: lines are checked a batch at a
    /// time, and only a batch in which something could match is redacted line by line.
    pub fn redact_all<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) -> Vec<(usize, String)> {
        self.redact_in_batches(lines, BATCH_LINES)
    }

    fn redact_in_batches<'a>(
        &mut self,
        lines: impl IntoIterator<Item = &'a str>,
        batch_lines: usize,
    ) -> Vec<(usize, String)> {
        let mut batches = self.batched(batch_lines);
        for line in lines {
            batches.push(line);
        }
        batches.finish()
    }

    /// [`Self::redact_all`] for lines that are handed over one at a time and may not outlive
    /// the call (a packed log unpacks them a block at a time): each is copied into the batch.
    pub fn redact_each(&mut self) -> Batches<'_, 'r> {
        self.batched(BATCH_LINES)
    }

    fn batched(&mut self, batch_lines: usize) -> Batches<'_, 'r> {
        Batches {
            lines: self,
            batch_lines: batch_lines.max(1),
            joined: String::new(),
            starts: Vec::with_capacity(batch_lines.max(1)),
            first: 0,
            next: 0,
            changed: Vec::new(),
        }
    }

    /// Redacts one line (without its newline); lines inside a private key block become [`MARK`].
    pub fn redact_line<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        if let Some(count) = self.key_lines {
            match PEM_END_RE.find(line) {
                Some(end) => {
                    self.key_lines = None;
                    let rest = &line[end.end()..];
                    let rest = self.redact_line(rest);
                    // The mark and what follows it can together spell a known secret (one
                    // `REDACTED] do` after a key ending `-----END … KEY----- done`), so the
                    // joined line is redacted once more.
                    let joined = format!("{MARK}{rest}");
                    return Cow::Owned(self.redactor.redact(&joined).into_owned());
                }
                None if count < MAX_KEY_LINES => {
                    self.key_lines = Some(count + 1);
                    return Cow::Borrowed(MARK);
                }
                None => self.key_lines = None,
            }
        }
        let begins = PEM_BEGIN_RE.find_iter(line).last();
        if begins.is_some_and(|begin| !PEM_END_RE.is_match(&line[begin.end()..])) {
            self.key_lines = Some(0);
        }
        self.redactor.redact(line)
    }
}

/// Lines redacted a batch at a time as they are pushed; see [`LineRedactor::redact_each`].
#[derive(Debug)]
pub struct Batches<'l, 'r> {
    lines: &'l mut LineRedactor<'r>,
    batch_lines: usize,
    /// The batch's lines, each followed by a newline.
    joined: String,
    /// Where each line of the batch starts in `joined`.
    starts: Vec<usize>,
    /// The position of the batch's first line.
    first: usize,
    /// The position of the next line pushed.
    next: usize,
    changed: Vec<(usize, String)>,
}

impl Batches<'_, '_> {
    /// The next line, in order.
    pub fn push(&mut self, line: &str) {
        if self.starts.is_empty() {
            self.first = self.next;
        }
        self.starts.push(self.joined.len());
        self.joined.push_str(line);
        self.joined.push('\n');
        self.next += 1;
        if self.starts.len() == self.batch_lines {
            self.redact_batch();
        }
    }

    /// The lines that changed, by position, in order.
    pub fn finish(mut self) -> Vec<(usize, String)> {
        self.redact_batch();
        self.changed
    }

    fn redact_batch(&mut self) {
        if self.starts.is_empty() {
            return;
        }
        let joined = self.joined.as_str();
        let line = |n: usize| {
            let end = self.starts.get(n + 1).map_or(joined.len(), |&next| next) - 1;
            &joined[self.starts[n]..end]
        };
        // Only lines that could hold something to mask are redacted: those with a word a rule
        // needs (found for the whole batch at once), those a scan would mask, and every line of
        // a private key. Known secrets are looked for in the whole batch; one found means every
        // line is redacted.
        let mut suspect = vec![false; self.starts.len()];
        // The scans stop at line ends, so they find in the batch what they find in its lines.
        let redactor = self.lines.redactor;
        let anywhere = redactor.needles.iter().any(|needle| joined.contains(needle.as_str()))
            || base64_lines(joined).is_some()
            || semaphore_tokens(joined).is_some();
        if anywhere {
            suspect.fill(true);
        } else {
            // No word holds a line end, so each match lies within one line.
            for found in RULE_WORDS_FINDER.find_iter(joined) {
                let n = self.starts.partition_point(|&start| start <= found.start()) - 1;
                suspect[n] = true;
            }
        }
        for (n, suspect) in suspect.into_iter().enumerate() {
            if self.lines.key_lines.is_none() && !suspect {
                continue;
            }
            let text = line(n);
            match self.lines.redact_line(text) {
                Cow::Borrowed(same) if std::ptr::eq(same, text) => {}
                other => self.changed.push((self.first + n, other.into_owned())),
            }
        }
        self.joined.clear();
        self.starts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEMAPHORE_TOKEN: &str = "kwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu=";

    #[test]
    fn all_patterns_compile() {
        assert!(RULES.len() > 10);
        assert_eq!(RULE_SET.len(), RULES.len());
        assert!(PEM_BEGIN_RE.is_match("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(PEM_END_RE.is_match("-----END PGP PRIVATE KEY BLOCK-----"));
    }

    #[test]
    fn secret_shapes_are_masked() {
        let r = Redactor::default();
        let cases: &[(&str, &str)] = &[
            // Headers and bearer tokens.
            ("Authorization: Bearer abcdef123456", "Authorization: Bearer [REDACTED]"),
            ("authorization=Bearer abcdef123456", "authorization=Bearer [REDACTED]"),
            ("curl -H 'authorization: token ghx12345678'", "curl -H 'authorization: token [REDACTED]'"),
            ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic [REDACTED]"),
            ("\"Authorization\": \"a1b2c3d4e5\"", "\"Authorization\": \"[REDACTED]\""),
            ("sent Bearer kwofd61g93yuqvex8 to the API", "sent Bearer [REDACTED] to the API"),
            // Keys with values, kept keys.
            ("password=hunter2", "password=[REDACTED]"),
            ("passwd: x", "passwd: [REDACTED]"),
            ("db_password: 'p4ss w0rd'", "db_password: '[REDACTED]'"),
            ("DB_PASSWORD=\"with \\\"quote\\\" inside\" next", "DB_PASSWORD=\"[REDACTED]\" next"),
            (r#"{"api_token": "abc123xyz"}"#, r#"{"api_token": "[REDACTED]"}"#),
            (r#"{"access_token":"abc123xyz","n":1}"#, r#"{"access_token":"[REDACTED]","n":1}"#),
            ("SECRET_KEY=supersecretvalue", "SECRET_KEY=[REDACTED]"),
            ("client_secret: s3cr3t-v4lue", "client_secret: [REDACTED]"),
            ("x-api-key: 0123456789", "x-api-key: [REDACTED]"),
            ("apikey=abcdef&user=bob", "apikey=[REDACTED]&user=bob"),
            ("private_key => 'abc'", "private_key => '[REDACTED]'"),
            ("token := 'abc'", "token := '[REDACTED]'"),
            ("passphrase := p", "passphrase := [REDACTED]"),
            ("vault.token = s.abcdef", "vault.token = [REDACTED]"),
            ("\x1b[0;33mpassword: hunter2\x1b[0m", "\x1b[0;33mpassword: [REDACTED]\x1b[0m"),
            ("\x1b[1mpassword\x1b[0m: \x1b[32mhunter2", "\x1b[1mpassword\x1b[0m: \x1b[32m[REDACTED]"),
            // Credentials in URLs.
            (
                "clone https://deploy:s3cr3tpass@git.example.org/x.git",
                "clone https://deploy:[REDACTED]@git.example.org/x.git",
            ),
            ("redis://:p@ss@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
            ("\x1b[0mhttps://u:pw12@h/", "\x1b[0mhttps://u:[REDACTED]@h/"),
            // Token shapes.
            ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED]"),
            ("use gho_abcdefghijklmnopqrstuvwxyz0123456789.", "use [REDACTED]."),
            ("ghs_abcdefghijklmnopqrstuvwx", "[REDACTED]"),
            ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[REDACTED]"),
            ("glpat-abcdefghijklmnopqrstu", "[REDACTED]"),
            ("xoxb-1234567890-abcdefghij", "[REDACTED]"),
            ("xoxp-1234567890-abcdefghij", "[REDACTED]"),
            ("key AKIAIOSFODNN7EXAMPLE here", "key [REDACTED] here"),
            ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "[REDACTED]"),
            ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "jwt [REDACTED]"),
            ("syt_Ym90_abcdefghijklmnop_123456", "[REDACTED]"),
            ("syl_Ym90_abcdefghijklmnop_123456", "[REDACTED]"),
            ("mat_abcdefghijklmnopqrstuvwxyz0123_a1b2c3", "[REDACTED]"),
            ("\x1b[0;33mghp_abcdefghijklmnopqrstuvwxyz0123456789\x1b[0m", "\x1b[0;33m[REDACTED]\x1b[0m"),
            // Semaphore tokens, anywhere.
            ("token kwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu= ok", "token [REDACTED] ok"),
            (
                r#"{"id":"kwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu=","expired":false}"#,
                r#"{"id":"[REDACTED]","expired":false}"#,
            ),
            ("\x1b[32mkwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu=\x1b[0m", "\x1b[32m[REDACTED]\x1b[0m"),
            // Private keys.
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----\nafter",
                "[REDACTED]\nafter",
            ),
            (
                r#"{"private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"}"#,
                r#"{"private_key": "[REDACTED]"}"#,
            ),
            ("before\n-----BEGIN PRIVATE KEY-----\nMIIEvQ cut short", "before\n[REDACTED]"),
            ("    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj", "    [REDACTED]"),
        ];
        for (input, expected) in cases {
            assert_eq!(r.redact(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = Redactor::new(["s3cr3t-token-value".to_owned()]);
        for text in [
            "TASK [Gathering Facts] *********************************************************",
            "ok: [web1] => (item=nginx)",
            "\x1b[0;33mchanged: [localhost]\x1b[0m",
            "localhost : ok=3 changed=1 unreachable=0 failed=0 skipped=0",
            "PLAY RECAP *********************************************************************",
            "Task 2147483645 added to queue",
            "task #42 of template 7 in project 3",
            "commit 3f9c2a1b4d5e6f708192a3b4c5d6e7f8091a2b3c",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "@alice:example.org joined !RoomAbCdEf:example.org",
            "$event_id_abcdefghijklmnopqrstuvwxyz0123456789 s123456 t_12345",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp1bmsgamFuayBqdW5r host",
            "Plan: 1 to add, 0 to change, 0 to destroy.",
            "  + password = (sensitive value)",
            "  ~ api_token = (known after apply)",
            "password: {{ vault_db_password }}",
            "password=$DB_PASSWORD and token=${API_TOKEN}",
            "password: ********",
            "the token was rotated yesterday",
            "password policy updated",
            "Bearer authentication is required",
            "web-01.prod.example.org 10.0.12.7 2001:db8::1",
            "averyveryveryveryverylongidentifierwithoutanydigitsinit_and_more=1",
            "/usr/lib/python3/dist-packages/ansible/modules/package.py",
        ] {
            assert_eq!(r.redact(text), text);
            assert!(matches!(r.redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn known_secrets_are_masked_anywhere_even_encoded() {
        let r = Redactor::new(["p@ss/word!\"".to_owned(), "abc".to_owned(), "REDACT".to_owned()]);
        assert_eq!(r.redact("login with p@ss/word!\" now"), "login with [REDACTED] now");
        assert_eq!(r.redact("?pw=p%40ss%2Fword%21%22"), "?pw=[REDACTED]");
        assert_eq!(r.redact(r#"{"pw":"p@ss/word!\""}"#), r#"{"pw":"[REDACTED]"}"#);
        assert_eq!(r.redact("abc stays"), "abc stays", "short values are not treated as secrets");
        assert_eq!(r.redact("REDACT stays"), "REDACT stays", "parts of the mark are not secrets");
    }

    #[test]
    fn known_secrets_are_masked_in_html_too() {
        let r = Redactor::new(["a&b<c>\"d'e".to_owned()]);
        assert_eq!(r.redact("<code>a&amp;b&lt;c&gt;&quot;d&#39;e</code>"), "<code>[REDACTED]</code>");
        assert_eq!(
            r.redact("<pre>a&amp;b&lt;c&gt;&quot;d'e</pre>"),
            "<pre>[REDACTED]</pre>",
            "as the log renderer escapes"
        );
        assert_eq!(r.redact("a&b<c>\"d'e"), "[REDACTED]");
    }

    #[test]
    fn a_known_secret_overlapping_the_mark_does_not_survive() {
        for secret in ["D]abcdef", "abcdef[R", "]]]]]]", "[[[[[["] {
            let r = Redactor::new([secret.to_owned()]);
            for text in [format!("{secret}abcdef"), format!("abcdef{secret}"), secret.repeat(3)] {
                let out = r.redact(&text);
                assert!(!out.contains(secret), "{secret:?} survives in {out:?}");
                assert_eq!(r.redact(&out), out);
            }
        }
    }

    /// Found with the `redact` fuzz target (its property fails on it): each mask of `abcdef` or
    /// of `[REDACTED]x` makes the next `[REDACTED]x`, and one replacement a pass left some.
    #[test]
    fn a_known_secret_a_mask_completes_does_not_survive() {
        let r = Redactor::new(["abcdef".to_owned(), "[REDACTED]x".to_owned()]);
        let out = r.redact("abcdefxxxxxxxxxxxxxx and [REDACTED]xxxx");
        assert_eq!(out, "[REDACTED] and [REDACTED]");
        assert_eq!(r.redact(&out), out);
    }

    #[test]
    fn debug_never_shows_the_secrets() {
        let r = Redactor::new(["hunter2hunter2".to_owned()]);
        let shown = format!("{r:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn line_by_line_private_keys_are_masked_whole() {
        let r = Redactor::default();
        let log = "cat id_rsa\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nshort\n-----END RSA PRIVATE KEY----- done\nok: [host]";
        let mut lines = r.lines();
        let out: Vec<String> = log.lines().map(|l| lines.redact_line(l).into_owned()).collect();
        assert_eq!(out, ["cat id_rsa", "[REDACTED]", "[REDACTED]", "[REDACTED]", "[REDACTED] done", "ok: [host]"]);
    }

    #[test]
    fn a_known_secret_the_mark_of_a_key_end_completes_does_not_survive() {
        // Found by the fuzz campaign of 2026-12-04 (fuzz/corpus/redact/crash-2026-12-04).
        let redactor = Redactor::new(["REDACTED] do".to_owned()]);
        let mut lines = redactor.lines();
        let _ = lines.redact_line("-----BEGIN RSA PRIVATE KEY-----");
        let _ = lines.redact_line("MIIEowIBAAKCAQEA");
        let end = lines.redact_line("-----END RSA PRIVATE KEY----- done");
        assert!(!end.contains("REDACTED] do"), "{end:?}");
        assert_eq!(end, format!("[{MARK}ne"));
        assert_eq!(lines.state(), LineState::default());
    }

    #[test]
    fn a_stray_begin_line_does_not_hide_the_whole_log() {
        let r = Redactor::default();
        let mut lines = r.lines();
        let _ = lines.redact_line("-----BEGIN PRIVATE KEY-----");
        let masked = (0..1000).filter(|_| lines.redact_line("ordinary line") == MARK).count();
        assert_eq!(masked, MAX_KEY_LINES);
    }

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            "gh[pousr]_[A-Za-z0-9]{36}",
            "github_pat_[A-Za-z0-9_]{40}",
            "glpat-[A-Za-z0-9_-]{20}",
            "xox[abprs]-[0-9]{10}-[A-Za-z0-9]{16}",
            "AKIA[0-9A-Z]{16}",
            "eyJ[A-Za-z0-9_-]{10}\\.eyJ[A-Za-z0-9_-]{10}\\.[A-Za-z0-9_-]{12}",
            "syt_[A-Za-z0-9]{10}_[A-Za-z0-9]{20}_[A-Za-z0-9]{6}",
            "[a-z0-9_-]{20}[0-9][a-z][a-z0-9_-]{21}=",
        ]
    }

    fn surroundings() -> impl Strategy<Value = String> {
        "[ a-zA-Z.,:;()\\[\\]\"'\n=/@-]{0,20}"
    }

    fn separator() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(" ".to_owned()),
            Just("\n".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("=".to_owned()),
            Just(": ".to_owned()),
            Just("(".to_owned()),
            Just("\x1b[0;32m".to_owned()),
            Just("\x1b[0m ".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn token_shaped_secrets_never_survive(
            before in surroundings(),
            open in separator(),
            secret in token(),
            close in separator(),
            after in surroundings(),
        ) {
            let r = Redactor::default();
            let text = format!("{before}{open}{secret}{close}{after}");
            let out = r.redact(&text);
            prop_assert!(!out.contains(&secret), "{:?}", out);
        }

        #[test]
        fn known_secrets_never_survive(prefix in "\\PC{0,20}", secret in "[!-~]{6,30}", suffix in "\\PC{0,20}") {
            let r = Redactor::new([secret.clone()]);
            let text = format!("{prefix}{secret}{suffix}");
            let out = r.redact(&text);
            prop_assert!(!out.contains(&secret), "{:?}", out);
            // The same in a message's HTML, where the secret is escaped like all outside text.
            let escaped = crate::render::html::escape(&secret).into_owned();
            let html = format!("{}{escaped}{}", crate::render::html::escape(&prefix), crate::render::html::escape(&suffix));
            let out = r.redact(&html);
            prop_assert!(!out.contains(&escaped), "{:?}", out);
        }

        #[test]
        fn known_secrets_made_of_the_marks_letters_never_survive(
            secret in "[\\[\\]REDACT]{6,12}",
            text in "[\\[\\]REDACTx ]{0,40}",
        ) {
            let r = Redactor::new([secret.clone()]);
            let input = format!("{text}{secret}{text}");
            let once = r.redact(&input).into_owned();
            prop_assert!(MARK.contains(secret.as_str()) || !once.contains(&secret), "{:?}", once);
            prop_assert_eq!(r.redact(&once).into_owned(), once);
        }

        #[test]
        fn redaction_is_idempotent(text in "\\PC{0,120}", secret in token(), key in "(password|token|api_key)[:=] ?") {
            let r = Redactor::new(["hunter2hunter2".to_owned()]);
            let input = format!("{text} {key}{secret} {secret} hunter2hunter2 https://u:{secret}@h/");
            let once = r.redact(&input).into_owned();
            let twice = r.redact(&once).into_owned();
            prop_assert_eq!(&once, &twice);
            prop_assert!(!once.contains(&secret));
        }

        #[test]
        fn batches_redact_exactly_like_single_lines(
            batch in 1usize..24,
            lines in prop::collection::vec(
                prop_oneof![
                    30 => "[ a-z0-9.:=\"'/@-]{0,40}",
                    1 => (surroundings(), separator(), token(), separator()).prop_map(|(a, b, c, d)| format!("{a}{b}{c}{d}")),
                    1 => Just("-----BEGIN RSA PRIVATE KEY-----".to_owned()),
                    1 => Just("-----END RSA PRIVATE KEY-----".to_owned()),
                    1 => "[A-Za-z0-9+/]{60,70}",
                    1 => Just("password: hunter2hunter2".to_owned()),
                    1 => "(token|api_key|secret|db_\u{17f}ecret|x-to\u{212a}en|PASSWORD)[=:] ?[a-zA-Z0-9]{8,20}",
                ].prop_map(|l: String| l.replace('\n', " ")),
                0..120,
            ),
        ) {
            let r = Redactor::new(["hunter2hunter2".to_owned()]);
            let mut one_by_one = r.lines();
            let expected: Vec<(usize, String)> = lines
                .iter()
                .enumerate()
                .filter_map(|(n, l)| match one_by_one.redact_line(l) {
                    Cow::Borrowed(same) if std::ptr::eq(same, l.as_str()) => None,
                    other => Some((n, other.into_owned())),
                })
                .collect();
            let mut batched = r.lines();
            prop_assert_eq!(batched.redact_in_batches(lines.iter().map(String::as_str), batch), expected);
            prop_assert_eq!(batched.state(), one_by_one.state());
        }

        #[test]
        fn arbitrary_text_is_redacted_idempotently(text in "(\\PC|\x1b|\n){0,200}") {
            let r = Redactor::new(["hunter2hunter2".to_owned()]);
            let once = r.redact(&text).into_owned();
            prop_assert_eq!(r.redact(&once).into_owned(), once);
        }
    }

    #[test]
    fn only_two_non_ascii_characters_fold_to_ascii_letters() {
        // The quick check relies on it: a case-insensitive rule matches an ASCII letter in a key
        // only as that letter, its other case, `ſ` or `K`.
        let letter = Regex::new("(?i)^[a-z]$").unwrap();
        let folding: Vec<char> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| !c.is_ascii() && letter.is_match(&c.to_string()))
            .collect();
        assert_eq!(folding, ['\u{17f}', '\u{212a}']);
        let r = Redactor::default();
        assert!(RULE_WORDS_FINDER.is_match("db_\u{17f}ecret") && RULE_WORDS_FINDER.is_match("x-to\u{212a}en"));
        assert_eq!(r.redact("db_\u{17f}ecret=Xk9pQ2mZ7w"), format!("db_\u{17f}ecret={MARK}"));
        let changed = r.lines().redact_all(["ok: [web-01]", "db_\u{17f}ecret=Xk9pQ2mZ7w", "PLAY RECAP"]);
        assert_eq!(changed, [(1, format!("db_\u{17f}ecret={MARK}"))]);
    }

    #[test]
    fn semaphore_scan_respects_word_edges() {
        assert_eq!(semaphore_tokens(&format!("x{SEMAPHORE_TOKEN}")), None);
        assert_eq!(semaphore_tokens(&format!("{SEMAPHORE_TOKEN}x")), None);
        assert_eq!(semaphore_tokens(&format!("{SEMAPHORE_TOKEN}a")), None);
        assert_eq!(semaphore_tokens(&SEMAPHORE_TOKEN.to_uppercase()), None);
        assert_eq!(semaphore_tokens(&format!("é{SEMAPHORE_TOKEN}é")).as_deref(), Some("é[REDACTED]é"));
        assert_eq!(
            semaphore_tokens(&format!("{SEMAPHORE_TOKEN} {SEMAPHORE_TOKEN}")).as_deref(),
            Some("[REDACTED] [REDACTED]")
        );
    }
}
