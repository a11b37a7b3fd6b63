//! How a line outside Ansible's structure is highlighted: errors and warnings where tools print
//! them, and Terraform's summaries.
//!
//! The two patterns below are the definition. Trying them on every line was the largest single
//! cost of reading a big log, and nearly every line is an `ok:` or `changed:` that cannot match,
//! so each pattern is guarded by a byte check that answers "cannot match" only when that is
//! certain. A line the check lets through still meets the pattern itself: the guards change how
//! fast a line is classified, never how. The test `the_guards_never_hide_a_match` holds them to
//! that, and the facts about Unicode they rest on are tested too.

use std::sync::LazyLock;

use regex::Regex;

use crate::render::terraform::{self, Outcome, Severity};

/// How a line is highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emphasis {
    Plain,
    Error,
    Warning,
    /// A summary worth seeing at a glance (Terraform's `Plan:` line).
    Strong,
}

impl Emphasis {
    pub(super) fn tags(self) -> (&'static str, &'static str) {
        match self {
            Emphasis::Plain => ("", ""),
            Emphasis::Error => ("<span data-mx-color=\"#cc0000\"><b>", "</b></span>"),
            Emphasis::Warning => ("<span data-mx-color=\"#c4a000\">", "</span>"),
            Emphasis::Strong => ("<b>", "</b>"),
        }
    }

    /// `json_len` of both tags: the pager adds it for every line it lays out. The two quotes of
    /// a colour attribute take a byte more each (a test holds this to `tags`).
    pub(super) fn tags_cost(self) -> usize {
        match self {
            Emphasis::Plain => 0,
            Emphasis::Error => "<span data-mx-color=\"#cc0000\"><b></b></span>".len() + 2,
            Emphasis::Warning => "<span data-mx-color=\"#c4a000\"></span>".len() + 2,
            Emphasis::Strong => "<b></b>".len(),
        }
    }
}

/// Errors from shells, compilers, package managers and Ansible, anchored where tools put them
/// so that a task merely *named* "error pages" stays plain.
static ERROR: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail.
    #[allow(clippy::expect_used)]
    Regex::new(
        r"^\s*(?:fatal:|failed:|ERROR!|\[ERROR\]|FATAL\b|E: |npm ERR!|Traceback \(most recent call last\)|panic:|An exception occurred|(?:[\w.-]+: )?(?i:error)(?:\[[^\]]*\])?:|[\w.]*(?:Error|Exception): )|^\s*curl: \(\d+\) |\b(?:FAILED|UNREACHABLE)! |\bfailed: exit (?:status|code)|: (?:Permission denied|No such file or directory|command not found)$",
    )
    .expect("literal regex")
});

static WARNING: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail.
    #[allow(clippy::expect_used)]
    Regex::new(
        r"^\s*(?:\[(?:DEPRECATION )?WARNING\]|(?:[\w.-]+: )?(?i:warning)(?:\[[^\]]*\])?:|WARN(?:ING)?\b|W: |\[WARN\])",
    )
    .expect("literal regex")
});

/// How a line outside any structure is highlighted.
pub fn classify(text: &str) -> Emphasis {
    emphasis(text, text.trim_start(), Outcome::parse(text).is_some())
}

/// [`classify`], for a caller that has already trimmed the line's start and parsed it as a
/// Terraform outcome.
pub(super) fn emphasis(text: &str, trimmed: &str, outcome: bool) -> Emphasis {
    if outcome {
        return Emphasis::Strong;
    }
    match terraform::severity(trimmed) {
        Some(Severity::Error) => return Emphasis::Error,
        Some(Severity::Warning) => return Emphasis::Warning,
        None => {}
    }
    let (may_be_error, may_be_warning) = may_match(text.as_bytes());
    if may_be_error && ERROR.is_match(text) {
        Emphasis::Error
    } else if may_be_warning && WARNING.is_match(text) {
        Emphasis::Warning
    } else {
        Emphasis::Plain
    }
}

/// What `ERROR`'s anchored alternatives can start with (after the whitespace `^\s*` skips); the
/// literal alternatives are cut to a prefix where the rest needs the pattern (`FATAL\b`,
/// `curl: \(\d+\) `).
const ERROR_STARTS: [&[u8]; 11] = [
    b"fatal:",
    b"failed:",
    b"ERROR!",
    b"[ERROR]",
    b"FATAL",
    b"E: ",
    b"npm ERR!",
    b"Traceback (most recent call last)",
    b"panic:",
    b"An exception occurred",
    b"curl: (",
];

const WARNING_STARTS: [&[u8]; 5] = [b"[WARNING]", b"[DEPRECATION WARNING]", b"WARN", b"W: ", b"[WARN]"];

/// Bytes a line can start with for a literal of `ERROR_STARTS` (bit 0) or of `WARNING_STARTS`
/// (bit 1) to be there: one look-up settles the literals for nearly every line.
static FIRST: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < ERROR_STARTS.len() {
        table[ERROR_STARTS[i][0] as usize] |= 1;
        i += 1;
    }
    let mut i = 0;
    while i < WARNING_STARTS.len() {
        table[WARNING_STARTS[i][0] as usize] |= 2;
        i += 1;
    }
    table
};

/// Whether `ERROR` and `WARNING` may match: `false` only when the pattern certainly does not.
///
/// Why a `false` is certain, for the alternatives anchored by `^\s*`: every alternative starts
/// with a character `\s` does not match, so `\s*` must take all the leading whitespace. ASCII
/// whitespace is skipped here exactly; at a non-ASCII character (which may be Unicode
/// whitespace, or a letter `\w` takes) the answer is `true`. After the whitespace come the
/// literals, `(?i:error)` or `(?i:warning)`, or `[\w.-]+: ` or `[\w.]*(?:Error|Exception): `,
/// which can only match the longest run of word characters, dots and dashes followed by `: `
/// (`:` ends the run); when that run is ASCII it is `word` below. The words are compared
/// without ASCII case, which is all `(?i)` means for the letters of "error" and "warning"
/// (none has a Unicode case variant). `ERROR`'s unanchored alternatives each need a literal
/// that [`unanchored_error`] looks for.
pub(super) fn may_match(text: &[u8]) -> (bool, bool) {
    let error = unanchored_error(text);
    let Some(skip) = text.iter().position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')) else {
        // Empty or all whitespace: every anchored alternative needs more.
        return (error, false);
    };
    let head = &text[skip..];
    let first = FIRST[usize::from(head[0])];
    let error = error
        || (first & 1 != 0 && ERROR_STARTS.iter().any(|s| begins(head, s)))
        || starts_without_case(head, b"error");
    let warning =
        (first & 2 != 0 && WARNING_STARTS.iter().any(|s| begins(head, s))) || starts_without_case(head, b"warning");
    if error && warning {
        return (true, true);
    }
    let run = head.iter().position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')));
    let Some(run) = run else {
        return (error, warning);
    };
    if head[run] >= 0x80 {
        return (true, true);
    }
    let (word, rest) = head.split_at(run);
    match rest.strip_prefix(b": ") {
        Some(after) => (
            error || starts_without_case(after, b"error") || ends(word, b"Error") || ends(word, b"Exception"),
            warning || starts_without_case(after, b"warning"),
        ),
        None => (error, warning),
    }
}

fn starts_without_case(text: &[u8], word: &[u8]) -> bool {
    text.first().zip(word.first()).is_some_and(|(t, w)| t.eq_ignore_ascii_case(w))
        && text.get(..word.len()).is_some_and(|start| start.eq_ignore_ascii_case(word))
}

/// `text.starts_with(literal)`, settled by the first byte for nearly every line: a full
/// comparison calls `memcmp`, which costs more than the rest of the guard.
fn begins(text: &[u8], literal: &[u8]) -> bool {
    text.first() == literal.first() && text.starts_with(literal)
}

/// `text.ends_with(literal)`, settled by the last byte for nearly every line.
fn ends(text: &[u8], literal: &[u8]) -> bool {
    text.last() == literal.last() && text.ends_with(literal)
}

/// `text.starts_with(literal)` for a literal whose length the compiler knows, so that the
/// comparison is a few loads rather than a call to `memcmp` (a colon is in nearly every line).
fn starts_with<const N: usize>(text: &[u8], literal: &[u8; N]) -> bool {
    text.get(..N).is_some_and(|start| start == literal)
}

/// `text.ends_with(literal)`, as [`starts_with`].
fn ends_with<const N: usize>(text: &[u8], literal: &[u8; N]) -> bool {
    text.len().checked_sub(N).is_some_and(|start| &text[start..] == literal)
}

/// Whether one of `ERROR`'s unanchored alternatives may match: each holds a literal that must
/// be in the text (`FAILED! `, `UNREACHABLE! `, `failed: exit `) or end it. The word boundaries
/// and the words after the literals are left to the pattern.
fn unanchored_error(text: &[u8]) -> bool {
    if ends_with(text, b": Permission denied")
        || ends_with(text, b": No such file or directory")
        || ends_with(text, b": command not found")
    {
        return true;
    }
    let mut from = 0;
    while let Some(at) = bang_or_colon(text, from) {
        let (before, after) = (&text[..at], &text[at + 1..]);
        let found = if text[at] == b'!' {
            after.first() == Some(&b' ') && (ends_with(before, b"FAILED") || ends_with(before, b"UNREACHABLE"))
        } else {
            starts_with(after, b" exit ") && ends_with(before, b"failed")
        };
        if found {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The first `!` or `:` at or after `from`. Sixteen bytes at a time with branch-free compares the
/// compiler vectorises: for a line of a few dozen bytes with a colon or two, this costs less
/// than calls into a SIMD search library.
fn bang_or_colon(text: &[u8], from: usize) -> Option<usize> {
    let hit = |b: u8| (b == b'!') | (b == b':');
    let mut i = from;
    while let Some(Ok(chunk)) = text.get(i..i + 16).map(<&[u8; 16]>::try_from) {
        if chunk.iter().fold(0u8, |any, &b| any | u8::from(hit(b))) != 0 {
            return chunk.iter().position(|&b| hit(b)).map(|n| i + n);
        }
        i += 16;
    }
    text.get(i..)?.iter().position(|&b| hit(b)).map(|n| i + n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The classification without the guards: the definition the guards must agree with.
    fn by_patterns_alone(text: &str) -> Emphasis {
        if Outcome::parse(text).is_some() {
            return Emphasis::Strong;
        }
        match terraform::severity(text.trim_start()) {
            Some(Severity::Error) => Emphasis::Error,
            Some(Severity::Warning) => Emphasis::Warning,
            None if ERROR.is_match(text) => Emphasis::Error,
            None if WARNING.is_match(text) => Emphasis::Warning,
            None => Emphasis::Plain,
        }
    }

    #[test]
    fn the_unicode_facts_the_guards_rest_on() {
        let whitespace = Regex::new(r"^\s$").unwrap();
        let word = Regex::new(r"^\w$").unwrap();
        let letters = Regex::new(r"^(?i:[erowaning])$").unwrap();
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            let text = c.to_string();
            if c.is_ascii() {
                // ASCII whitespace is exactly what `anchored` skips, ASCII word characters what
                // it runs over.
                assert_eq!(
                    whitespace.is_match(&text),
                    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'),
                    "{c:?}"
                );
                assert_eq!(word.is_match(&text), c.is_ascii_alphanumeric() || c == '_', "{c:?}");
            }
            // No letter of "error" or "warning" matches a non-ASCII character without case.
            assert!(c.is_ascii() || !letters.is_match(&text), "{c:?}");
        }
    }

    #[test]
    fn tag_costs_are_what_the_tags_cost() {
        for emphasis in [Emphasis::Plain, Emphasis::Error, Emphasis::Warning, Emphasis::Strong] {
            let (open, close) = emphasis.tags();
            assert_eq!(emphasis.tags_cost(), super::super::json_len(open) + super::super::json_len(close));
        }
    }

    #[test]
    fn typical_lines_never_reach_the_patterns() {
        for line in [
            "ok: [web-01.prod.example.com] => (item=nginx)",
            "changed: [web-01]",
            "skipping: [web-01] => {\"changed\": false, \"skip_reason\": \"Conditional result was False\"}",
            "Task 4242 added to queue",
            "PLAY [Converge web tier, wave 1] ***",
        ] {
            assert_eq!(may_match(line.as_bytes()), (false, false), "{line:?}");
        }
    }

    /// Lines built from the pieces the patterns look for, in places where they do and do not
    /// count, with Unicode whitespace and letters next to them.
    fn tricky_line() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(" "),
            Just("\t"),
            Just("\u{a0}"),
            Just("\u{2003}"),
            Just("\u{85}"),
            Just("\x0b"),
            Just("\x1c"),
            Just("é"),
            Just("ſ"),
            Just("K"),
            Just("٣"),
            Just("x"),
            Just("_"),
            Just("."),
            Just("-"),
            Just(": "),
            Just(":"),
            Just("!"),
            Just(" "),
            Just("["),
            Just("]"),
            Just("(1) "),
            Just("error"),
            Just("ERROR"),
            Just("eRRor"),
            Just("Error"),
            Just("Exception"),
            Just("warning"),
            Just("WARNING"),
            Just("WaRnInG"),
            Just("WARN"),
            Just("[E0425]"),
            Just("fatal"),
            Just("FATAL"),
            Just("failed"),
            Just("FAILED"),
            Just("UNREACHABLE"),
            Just(" exit status"),
            Just(" exit code"),
            Just("E"),
            Just("W"),
            Just("npm ERR!"),
            Just("Traceback (most recent call last)"),
            Just("panic"),
            Just("An exception occurred"),
            Just("curl"),
            Just("[WARNING]"),
            Just("[DEPRECATION WARNING]"),
            Just("[WARN]"),
            Just("[ERROR]"),
            Just("Permission denied"),
            Just("No such file or directory"),
            Just("command not found"),
            Just("ok"),
            Just("Plan: 1 to add"),
            Just("Warning: "),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn the_guards_never_hide_a_match(line in tricky_line()) {
            prop_assert_eq!(classify(&line), by_patterns_alone(&line), "{:?}", line);
            let (error, warning) = may_match(line.as_bytes());
            prop_assert!(!ERROR.is_match(&line) || error, "{:?}", line);
            prop_assert!(!WARNING.is_match(&line) || warning, "{:?}", line);
        }

        #[test]
        fn the_guards_agree_on_any_text(line in any::<String>()) {
            prop_assert_eq!(classify(&line), by_patterns_alone(&line));
        }
    }
}
