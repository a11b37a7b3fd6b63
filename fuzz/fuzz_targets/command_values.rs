//! The values commands read themselves after the grammar: `history`'s filter words with its
//! `--since` / `--until` dates, and the names `preset save` takes. Any words, at any of the
//! moments and zones chosen: a query or a usage error, never a panic. A query's period is never
//! empty (`since` before `until`), it is for `me` exactly when a word says so, and reading the
//! same words again gives the same query; a preset name taken is a short plain word.
//!
//! Input: a first byte choosing the moment and the zone, then lines: the filter words, then
//! `--since`'s value, then `--until`'s (an absent line is no flag); the first line is also tried
//! as a preset name.
#![no_main]

use chatrixcd_domain::fuzzing::{history_filters, preset_name};
use chatrixcd_domain::grammar;
use chatrixcd_ports::UserId;
use chrono::DateTime;
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;

const ZONES: [Tz; 4] = [Tz::UTC, Tz::Europe__Berlin, Tz::America__New_York, Tz::Pacific__Chatham];
const NOWS: [i64; 4] = [1_767_225_600, 1_774_746_000, 1_792_890_000, 0];

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, rest)) = data.split_first() else { return };
    let zone = ZONES[usize::from(knobs & 3)];
    let Some(now) = DateTime::from_timestamp(NOWS[usize::from(knobs >> 2 & 3)], 0) else { return };
    let input = String::from_utf8_lossy(rest);
    let mut lines = input.split('\n');
    let first = lines.next().unwrap_or_default();
    let since = lines.next();
    let until = lines.next();
    let Ok(me) = UserId::parse("@me:example.org") else { return };

    let words = grammar::split_words(first);
    let result = history_filters(&words, since, until, &me, now, zone);
    assert_eq!(history_filters(&words, since, until, &me, now, zone), result, "read twice, read otherwise");
    if let Ok(query) = &result {
        if let (Some(s), Some(u)) = (query.since, query.until) {
            assert!(s < u, "an empty period: {s} .. {u}");
        }
        let mine = words.iter().any(|w| matches!(w.to_lowercase().as_str(), "me" | "mine"));
        if mine {
            assert_eq!(query.requester.as_ref(), Some(&me));
        }
        if query.requester.as_ref() == Some(&me) {
            assert!(mine || words.iter().any(|w| w == me.as_str()), "{words:?} read as mine");
        }
    }

    if preset_name(first) {
        assert!(first.len() <= 64 && first.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
});
