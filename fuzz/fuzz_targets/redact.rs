//! The redactor, over text from anywhere (task output, Semaphore's messages, chat, errors) with
//! secrets it was told of. Whatever the text: no panic; a known secret (of at least
//! `MIN_SECRET_LEN` characters, and not a piece of the mark itself) never survives redaction,
//! whole text or line by line; redacting is idempotent; and redacting a log a batch of lines at
//! a time changes exactly the lines, in exactly the way, that redacting it line by line does.
//!
//! Input: a first line of known secrets separated by tabs (up to four), then the text.
#![no_main]

use std::borrow::Cow;

use chatrixcd_domain::redact::{MARK, MIN_SECRET_LEN, Redactor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (head, text) = input.split_once('\n').unwrap_or(("", &input));
    let secrets: Vec<String> = head.split('\t').filter(|s| !s.is_empty()).take(4).map(str::to_owned).collect();
    let redactor = Redactor::new(secrets.clone());
    let guarded: Vec<&String> =
        secrets.iter().filter(|s| s.chars().count() >= MIN_SECRET_LEN && !MARK.contains(s.as_str())).collect();

    let once = redactor.redact(text).into_owned();
    for secret in &guarded {
        assert!(!once.contains(secret.as_str()), "{secret:?} survives in {once:?}");
    }
    assert_eq!(redactor.redact(&once), once, "redacting twice changes the text");

    let lines: Vec<&str> = text.split('\n').collect();
    let mut one_by_one = redactor.lines();
    let mut expected: Vec<(usize, String)> = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let redacted = one_by_one.redact_line(line);
        for secret in &guarded {
            assert!(!redacted.contains(secret.as_str()), "{secret:?} survives on line {n}: {redacted:?}");
        }
        match redacted {
            Cow::Borrowed(same) if std::ptr::eq(same, *line) => {}
            other => expected.push((n, other.into_owned())),
        }
    }
    let mut batched = redactor.lines();
    assert_eq!(batched.redact_all(lines.iter().copied()), expected, "batches redact otherwise");
    assert_eq!(batched.state(), one_by_one.state());
    let mut each = redactor.lines();
    let mut batches = each.redact_each();
    lines.iter().for_each(|line| batches.push(line));
    assert_eq!(batches.finish(), expected, "lines pushed one at a time redact otherwise");
});
