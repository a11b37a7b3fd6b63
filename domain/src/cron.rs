//! Cron expressions of schedules: five fields (minute, hour, day of month, month, day of week)
//! or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`, read in a time zone. The maths is
//! croner's; what is ours is the checking (which field is wrong, a zone with "did you mean", an
//! expression that never fires) and the rule for daylight saving time, which is croner's:
//!
//! - a fixed time (`30 2 * * *`) that a spring-forward gap skips runs at the first instant after
//!   the gap (03:00 that day in Europe/Berlin); one that an autumn overlap repeats runs once, at
//!   its first occurrence;
//! - an interval (`*/15 * * * *`, `0 * * * *`) follows real time: nothing in the skipped hour,
//!   and both instances of the repeated hour.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The fields of a five-field expression, in order, for error messages.
const FIELDS: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];

/// How far ahead an expression must fire at least once to be accepted: leap days come back
/// within eight years (2096 → 2104), so `0 0 29 2 *` is fine and `0 0 30 2 *` is not.
const HORIZON_YEARS: i64 = 9;

/// Why an expression or a zone cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error(
        "`{text}` has {count} field(s); a cron expression has five (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\", or is one of @hourly, @daily, @weekly, @monthly, @yearly"
    )]
    FieldCount { text: String, count: usize },
    #[error("`{text}`: field {position} ({field}), `{value}`, cannot be read: {reason}")]
    Field { text: String, position: usize, field: &'static str, value: String, reason: String },
    #[error("`{text}` cannot be read: {reason}")]
    Other { text: String, reason: String },
    #[error("`{text}` never fires (no such date in the next {HORIZON_YEARS} years)")]
    NeverFires { text: String },
    #[error("`{word}` is not a time zone: use an IANA name such as `Europe/Berlin`, or `UTC`{}", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownZone { word: String, suggestion: Option<&'static str> },
}

/// A checked expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    text: String,
    cron: croner::Cron,
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronExpr {}

fn parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
}

impl CronExpr {
    /// Reads `text`; an error names the field that is wrong, by position and name. `now` and
    /// `zone` are for refusing an expression that never fires.
    pub fn parse(text: &str, zone: Tz, now: DateTime<Utc>) -> Result<Self, CronError> {
        Self::parse_with(text, zone, now, false)
    }

    /// The same; with `seconds`, six fields (a seconds field first) are read too: a test mode,
    /// for crash tests that need a slot every second.
    pub fn parse_with(text: &str, zone: Tz, now: DateTime<Utc>, seconds: bool) -> Result<Self, CronError> {
        let expr = Self::stored(text, seconds)?;
        let horizon = now + chrono::Duration::days(366 * HORIZON_YEARS);
        match expr.first_within(zone, now, horizon) {
            Some(next) if next <= horizon => Ok(expr),
            _ => Err(CronError::NeverFires { text: expr.text }),
        }
    }

    /// The first slot after `now`, looked for only up to the local year of `horizon`: the same
    /// slot as `next_after` gives whenever that one is before `horizon`. Looking without the
    /// bound, croner walks on to the year 5000 for an expression that fires rarely or never
    /// (`0 0 31 4 *`: milliseconds the bot's event loop would be stopped for, for each such
    /// `schedule add`). So the check runs on a copy of the expression with a year field.
    fn first_within(&self, zone: Tz, now: DateTime<Utc>, horizon: DateTime<Utc>) -> Option<DateTime<Utc>> {
        use chrono::Datelike as _;
        if self.text.starts_with('@') {
            // The shortcuts fire within a year.
            return self.next_after(zone, now);
        }
        let (from, until) = (now.with_timezone(&zone).year(), horizon.with_timezone(&zone).year());
        match self.with_years(from, until) {
            Some(bounded) => {
                bounded.find_next_occurrence(&now.with_timezone(&zone), false).ok().map(|t| t.with_timezone(&Utc))
            }
            // Years croner cannot take (before 1 or after 5000): the slow way, which is right.
            None => self.next_after(zone, now),
        }
    }

    /// This expression limited to the years `from..=until` (croner takes a year field only
    /// after a seconds field: a five-field expression gets the `0` croner itself would give it).
    fn with_years(&self, from: i32, until: i32) -> Option<croner::Cron> {
        let seconds = if self.text.split(' ').count() == 6 { "" } else { "0 " };
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .year(croner::parser::Year::Required)
            .build()
            .parse(&format!("{seconds}{} {from}-{until}", self.text))
            .ok()
    }

    /// An expression checked when it was made (a stored schedule's): read, without looking
    /// years ahead again for whether it fires.
    pub fn stored(text: &str, seconds: bool) -> Result<Self, CronError> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if seconds && text.split(' ').count() == 6 {
            let parser = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Required)
                .year(croner::parser::Year::Disallowed)
                .build();
            let cron =
                parser.parse(&text).map_err(|e| CronError::Other { text: text.clone(), reason: e.to_string() })?;
            let names = std::iter::once("second").chain(FIELDS);
            check_lists(&text, names)?;
            return Ok(Self { text, cron });
        }
        Self::read(&text)
    }

    fn read(text: &str) -> Result<Self, CronError> {
        if text.starts_with('@') {
            return match text.to_ascii_lowercase().as_str() {
                "@hourly" | "@daily" | "@midnight" | "@weekly" | "@monthly" | "@yearly" | "@annually" => {
                    let cron = parser()
                        .parse(text)
                        .map_err(|e| CronError::Other { text: text.to_owned(), reason: e.to_string() })?;
                    Ok(Self { text: text.to_ascii_lowercase(), cron })
                }
                _ => Err(CronError::Other {
                    text: text.to_owned(),
                    reason: "the shortcuts are @hourly, @daily, @weekly, @monthly and @yearly".into(),
                }),
            };
        }
        let fields: Vec<&str> = text.split(' ').filter(|f| !f.is_empty()).collect();
        if fields.len() != 5 {
            return Err(CronError::FieldCount { text: text.to_owned(), count: fields.len() });
        }
        match parser().parse(text) {
            Ok(cron) => {
                check_lists(text, FIELDS)?;
                Ok(Self { text: text.to_owned(), cron })
            }
            Err(whole) => {
                // Which field: each alone, the others `*`.
                for (i, value) in fields.iter().enumerate() {
                    let mut alone = ["*"; 5];
                    alone[i] = value;
                    if let Err(e) = parser().parse(&alone.join(" ")) {
                        return Err(CronError::Field {
                            text: text.to_owned(),
                            position: i + 1,
                            field: FIELDS[i],
                            value: (*value).to_owned(),
                            reason: e.to_string(),
                        });
                    }
                }
                Err(CronError::Other { text: text.to_owned(), reason: whole.to_string() })
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first slot strictly after `after`, read on `zone`'s wall clock.
    pub fn next_after(&self, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&zone);
        self.cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The next `n` slots after `after`.
    pub fn upcoming(&self, zone: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut at = after;
        while out.len() < n {
            let Some(next) = self.next_after(zone, at) else { break };
            out.push(next);
            at = next;
        }
        out
    }
}

/// What croner reads but no one means: an empty item in a list (`1,,5`, `,`, a bare `+`), which
/// croner takes for no value at all, so that the expression never fires, and croner looks for a
/// slot second by second for a year before it says so (six seconds for `, * * * *`, the bot's
/// event loop stopped meanwhile). `names` are the fields' names in order.
fn check_lists(text: &str, names: impl IntoIterator<Item = &'static str>) -> Result<(), CronError> {
    for (position, (value, field)) in text.split(' ').zip(names).enumerate() {
        // The day of week's `+` (both days must match) stands before the list.
        let list = value.strip_prefix('+').unwrap_or(value);
        if list.split(',').any(str::is_empty) {
            return Err(CronError::Field {
                text: text.to_owned(),
                position: position + 1,
                field,
                value: value.to_owned(),
                reason: "a list item is empty (two commas, a comma at an end, or nothing after `+`)".to_owned(),
            });
        }
    }
    Ok(())
}

/// A time zone by its IANA name (case-insensitive), or a clear error with "did you mean".
pub fn zone(word: &str) -> Result<Tz, CronError> {
    crate::windows::find_zone(word.trim()).ok_or_else(|| CronError::UnknownZone {
        word: word.trim().to_owned(),
        suggestion: crate::windows::suggest_zone(word.trim()),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn now() -> DateTime<Utc> {
        utc(2026, 1, 1, 0, 0)
    }

    #[test]
    fn mistakes_are_named_by_field() {
        let err = |text: &str| CronExpr::parse(text, Tz::UTC, now()).unwrap_err().to_string();
        assert!(err("0 2 * *").contains("has 4 field(s)"), "{}", err("0 2 * *"));
        let hour = err("0 25 * * *");
        assert!(hour.starts_with("`0 25 * * *`: field 2 (hour), `25`, cannot be read"), "{hour}");
        assert!(err("0 0 * 13 *").contains("field 4 (month)"), "{}", err("0 0 * 13 *"));
        assert!(err("x 0 * * *").contains("field 1 (minute)"));
        assert_eq!(err("0 0 30 2 *"), "`0 0 30 2 *` never fires (no such date in the next 9 years)");
        assert!(err("@sometimes").contains("@hourly, @daily"));
        assert!(CronExpr::parse("0 0 29 2 *", Tz::UTC, now()).is_ok(), "leap days come back");
        assert!(CronExpr::parse("@daily", Tz::UTC, now()).is_ok());
        let zone_err = zone("Europe/Berln").unwrap_err().to_string();
        assert!(zone_err.contains("did you mean `Europe/Berlin`"), "{zone_err}");
        assert_eq!(zone("europe/berlin").unwrap(), chrono_tz::Europe::Berlin);
    }

    #[test]
    fn empty_list_items_are_named_by_field() {
        let field = |text: &str, seconds| match CronExpr::parse_with(text, Tz::UTC, now(), seconds) {
            Err(CronError::Field { position, field, reason, .. }) if reason.contains("list item is empty") => {
                (position, field)
            }
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(field(", * * * *", false), (1, "minute"));
        assert_eq!(field("0 20 , 1 *", false), (3, "day of month"));
        assert_eq!(field("0 0 1,,15 * *", false), (3, "day of month"));
        assert_eq!(field("0 0 * 1, *", false), (4, "month"));
        assert_eq!(field("0 0 * * +", false), (5, "day of week"));
        assert_eq!(field(", * * * * *", true), (1, "second"));
        assert_eq!(field("0 ,5 * * * *", true), (2, "minute"));
        assert!(CronExpr::stored(", * * * *", false).is_err(), "nor stored");
        assert!(CronExpr::parse("0 0 * * +1", Tz::UTC, now()).is_ok(), "`+` before a day is croner's AND");
        assert!(CronExpr::parse("0 0 1,15 * *", Tz::UTC, now()).is_ok());
    }

    #[test]
    fn the_bounded_look_ahead_finds_what_the_open_one_finds() {
        let zones = [Tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::Pacific::Kiritimati, chrono_tz::America::Adak];
        let texts = [
            "0 0 29 2 *",
            "0 0 29 2 1",
            "0 0 31 * 5#5",
            "0 0 L 2 *",
            "30 2 * * *",
            "0 0 13 * 5",
            "0 0 1 1 *",
            "59 23 31 12 *",
            "* * * * *",
            "0 0 31W 3 *",
            "0 0 * * 7L",
        ];
        let nows = [now(), utc(2096, 3, 1, 0, 0), utc(2031, 12, 31, 23, 59), utc(1970, 1, 1, 0, 0)];
        for text in texts {
            for zone in zones {
                for now in nows {
                    let expr = CronExpr::stored(text, false).unwrap();
                    let horizon = now + chrono::Duration::days(366 * HORIZON_YEARS);
                    let open = expr.next_after(zone, now).filter(|t| *t <= horizon);
                    let bounded = expr.first_within(zone, now, horizon).filter(|t| *t <= horizon);
                    assert_eq!(bounded, open, "{text} in {zone} after {now}");
                    assert!(expr.with_years(2026, 2035).is_some(), "{text} takes a year field");
                }
            }
        }
        let six = CronExpr::stored("*/5 * * * * *", true).unwrap();
        assert!(six.with_years(2026, 2035).is_some(), "a six-field expression takes one too");
        assert_eq!(six.first_within(Tz::UTC, now(), now() + chrono::Duration::days(1)), six.next_after(Tz::UTC, now()));
    }

    #[test]
    fn slots_follow_the_wall_clock_of_their_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        let nightly = CronExpr::parse("0 2 * * *", berlin, now()).unwrap();
        // 02:00 in Berlin is 01:00 UTC in winter, 00:00 UTC in summer.
        assert_eq!(nightly.next_after(berlin, utc(2026, 1, 10, 12, 0)), Some(utc(2026, 1, 11, 1, 0)));
        assert_eq!(nightly.next_after(berlin, utc(2026, 7, 10, 12, 0)), Some(utc(2026, 7, 11, 0, 0)));
        let five = nightly.upcoming(berlin, utc(2026, 1, 10, 12, 0), 5);
        assert_eq!(five.len(), 5);
        assert!(five.windows(2).all(|w| w[1] - w[0] == chrono::Duration::days(1)));
    }

    #[test]
    fn a_fixed_time_in_a_gap_runs_after_it_and_once_in_an_overlap() {
        let berlin = chrono_tz::Europe::Berlin;
        // Spring forward 2026-03-29: 02:00 → 03:00 local (01:00 UTC). 02:30 does not exist.
        let half_past_two = CronExpr::parse("30 2 * * *", berlin, now()).unwrap();
        assert_eq!(half_past_two.next_after(berlin, utc(2026, 3, 28, 12, 0)), Some(utc(2026, 3, 29, 1, 0)));
        // Fall back 2026-10-25: 02:00–03:00 local happens twice (00:00–01:00 and 01:00–02:00 UTC).
        let first = half_past_two.next_after(berlin, utc(2026, 10, 24, 12, 0)).unwrap();
        assert_eq!(first, utc(2026, 10, 25, 0, 30));
        assert_eq!(half_past_two.next_after(berlin, first), Some(utc(2026, 10, 26, 1, 30)), "not again that night");
        // New York: spring forward 2026-03-08 at 02:00 EST (07:00 UTC), fall back 2026-11-01.
        let new_york = chrono_tz::America::New_York;
        assert_eq!(half_past_two.next_after(new_york, utc(2026, 3, 7, 12, 0)), Some(utc(2026, 3, 8, 7, 0)));
        // There the repeated hour is 01:00–02:00 local (05:00–07:00 UTC); 01:30 runs at the first.
        let half_past_one = CronExpr::parse("30 1 * * *", new_york, now()).unwrap();
        let ny_first = half_past_one.next_after(new_york, utc(2026, 10, 31, 12, 0)).unwrap();
        assert_eq!(ny_first, utc(2026, 11, 1, 5, 30));
        assert_eq!(half_past_one.next_after(new_york, ny_first), Some(utc(2026, 11, 2, 6, 30)), "not again that night");
    }

    #[test]
    fn an_interval_follows_real_time_across_the_overlap() {
        let berlin = chrono_tz::Europe::Berlin;
        let quarter = CronExpr::parse("*/15 * * * *", berlin, now()).unwrap();
        // From 23:50 UTC on 2026-10-24 to 02:05 UTC: every 15 minutes of real time.
        let slots = quarter.upcoming(berlin, utc(2026, 10, 24, 23, 50), 9);
        assert!(slots.windows(2).all(|w| w[1] - w[0] == chrono::Duration::minutes(15)), "{slots:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Against a minute-by-minute reference over a week anywhere in the year, on the wall
        /// clock of a zone: every slot croner gives matches the fields there, and no matching
        /// minute is skipped. The hours around a DST change follow the documented rule, tested
        /// above, so both lists leave them out.
        #[test]
        fn slots_agree_with_a_minute_by_minute_reference(
            minute in prop_oneof![Just("*".to_owned()), (0u32..60).prop_map(|m| m.to_string()), (1u32..30).prop_map(|s| format!("*/{s}"))],
            hour in prop_oneof![Just("*".to_owned()), (0u32..24).prop_map(|h| h.to_string()), Just("9-17".to_owned())],
            dow in prop_oneof![Just("*".to_owned()), (0u32..7).prop_map(|d| d.to_string()), Just("1-5".to_owned())],
            zone in prop_oneof![
                Just(Tz::UTC),
                Just(chrono_tz::Europe::Berlin),
                Just(chrono_tz::America::New_York),
                Just(chrono_tz::Asia::Kolkata),
                Just(chrono_tz::Australia::Lord_Howe),
            ],
            start in 0i64..(365 * 24 * 60),
        ) {
            use chrono::{Datelike as _, Offset as _, Timelike as _};
            let text = format!("{minute} {hour} * * {dow}");
            let expr = CronExpr::parse(&text, zone, now()).unwrap();
            let matches = |t: DateTime<Utc>| {
                let t = t.with_timezone(&zone);
                let field = |f: &str, v: u32| match f {
                    "*" => true,
                    f if f.starts_with("*/") => v.is_multiple_of(f[2..].parse::<u32>().unwrap()),
                    f if f.contains('-') => {
                        let (a, b) = f.split_once('-').unwrap();
                        (a.parse::<u32>().unwrap()..=b.parse().unwrap()).contains(&v)
                    }
                    f => f.parse::<u32>().unwrap() == v,
                };
                field(&minute, t.minute()) && field(&hour, t.hour()) && field(&dow, t.weekday().num_days_from_sunday())
            };
            let offset = |t: DateTime<Utc>| t.with_timezone(&zone).offset().fix();
            let near_a_change = |t: DateTime<Utc>| offset(t - chrono::Duration::hours(3)) != offset(t + chrono::Duration::hours(3));
            let from = now() + chrono::Duration::minutes(start);
            let until = from + chrono::Duration::days(7);
            let mut reference = Vec::new();
            let mut t = from + chrono::Duration::minutes(1);
            while t <= until {
                if matches(t) && !near_a_change(t) {
                    reference.push(t);
                }
                t += chrono::Duration::minutes(1);
            }
            let mut got = Vec::new();
            let mut at = from;
            while let Some(next) = expr.next_after(zone, at) {
                if next > until {
                    break;
                }
                if !near_a_change(next) {
                    got.push(next);
                }
                at = next;
            }
            prop_assert_eq!(got, reference, "{} in {}", text, zone.name());
        }
    }
}
