//! Time windows for grants: when a grant is in force, as operators write it in config and chat.
//!
//! ```text
//! [DAYS] [HH:MM-HH:MM] [ZONE]        at least one of DAYS and hours
//!
//! Mon-Fri 08:00-18:00 Europe/Berlin  office hours in Berlin
//! Sat,Sun                            the whole weekend, UTC
//! Fri 22:00-06:00 America/New_York   Friday night into Saturday morning
//! Fri-Mon                            a long weekend (ranges may wrap past Sunday)
//! 22:00-06:00                        every night, UTC
//! ```
//!
//! - DAYS is a comma-separated list of days (`Mon`, `monday`, any case) and ranges (`Mon-Fri`,
//!   `Fri-Mon`). Without DAYS the window is open every day; without hours, on the whole day.
//! - Hours are half-open: `08:00-18:00` includes 17:59:59 and not 18:00. The end may be `24:00`.
//!   An end at or before the start crosses midnight, and DAYS then name the day the window
//!   *opens*: `Fri 22:00-06:00` includes Saturday 03:00 and not Friday 03:00.
//! - ZONE is an IANA name (`Europe/Berlin`, any case) or `UTC`, the default.
//!
//! # Daylight saving time
//!
//! A window is read on the zone's local wall clock: the instant is turned into local time, and
//! the local date's weekday and the local time of day are compared with the window. Operators
//! mean office hours, and office hours follow the clock on the wall, not a fixed UTC offset. So:
//!
//! - in the spring gap the skipped times never appear on the clock: `Sun 02:00-03:00
//!   Europe/Berlin` is never open on 2026-03-29, when the clock jumps from 02:00 to 03:00;
//! - in the autumn overlap the repeated times appear twice, and both count: `Sun 02:00-03:00
//!   Europe/Berlin` is open for two real hours on 2026-10-25, because 02:30 happens twice.
//!
//! Nothing here reads a clock: callers pass the instant to test.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::{TZ_VARIANTS, Tz};

use crate::grammar::suggest;

/// The days, Monday first (bit `n` of `Window::days` is `DAYS[n]`): the short name prints, both read.
const DAYS: [(&str, &str); 7] = [
    ("Mon", "monday"),
    ("Tue", "tuesday"),
    ("Wed", "wednesday"),
    ("Thu", "thursday"),
    ("Fri", "friday"),
    ("Sat", "saturday"),
    ("Sun", "sunday"),
];

/// Every day of the week.
const EVERY_DAY: u8 = 0b111_1111;

const DAY_MINUTES: u16 = 24 * 60;

/// Longer words than any day or zone name get no suggestion: comparing them against ~600 zone
/// names would only cost time (a fuzzer or a paste accident can send kilobytes).
const SUGGEST_MAX_LEN: usize = 64;

/// When a grant is in force; see the module doc for the grammar and the DST rule.
///
/// Equal windows are open at the same local times: `Mon-Fri` and `Mon,Tue,Wed,Thu,Fri` are one
/// window, and so are `Mon 00:00-24:00` and `Mon`, because both are kept in one normal form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Bit `n` set: the window opens on `DAYS[n]`. Never 0.
    days: u8,
    /// `None`: the whole day. Never `00:00-24:00` (that is `None`), so equality is meaning.
    hours: Option<Hours>,
    zone: Tz,
}

/// Minutes since local midnight: `start` in `0..1440`, `end` in `1..=1440`, `start != end`. An
/// end before the start crosses midnight. An end of `00:00` is kept as 1440: `22:00-00:00`
/// and `22:00-24:00` are the same two hours, and one form keeps equality honest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hours {
    start: u16,
    end: u16,
}

/// What is wrong with a window, naming the word at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("a window needs days, hours or both, as in `Mon-Fri 08:00-18:00 Europe/Berlin`")]
    Empty,
    #[error("`{word}` is not a day of the week (`Mon` … `Sun`, or `monday` … `sunday`){}", hint(.suggestion))]
    UnknownDay { word: String, suggestion: Option<&'static str> },
    #[error("`{list}` is not a list of days: separate days and ranges with single commas, as in `Mon-Fri,Sun`")]
    BadDayList { list: String },
    #[error("`{range}` starts and ends on the same day: write `{day}` for that day, or `Mon-Sun` for every day")]
    SameDayRange { range: String, day: &'static str },
    #[error("`{word}` is not an hours range: write `HH:MM-HH:MM`, as in `08:00-18:00`")]
    BadHours { word: String },
    #[error("`{time}` is not a time of day: write `HH:MM` from `00:00` to `23:59` (`24:00` may end a range)")]
    BadTime { time: String },
    #[error("`{hours}` makes no sense: it ends when it starts, so it is empty (leave the hours out for the whole day)")]
    EmptyHours { hours: String },
    #[error("`{word}` is not a time zone: use an IANA name such as `Europe/Berlin`, or `UTC`{}", hint(.suggestion))]
    UnknownZone { word: String, suggestion: Option<&'static str> },
    #[error(
        "`{word}` does not belong here: a window is `[days] [HH:MM-HH:MM] [zone]`, in that order, as in `Mon-Fri 08:00-18:00 Europe/Berlin`"
    )]
    Extra { word: String },
}

fn hint(suggestion: &Option<&'static str>) -> String {
    suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
}

impl Window {
    /// Reads `[DAYS] [HH:MM-HH:MM] [ZONE]` (see the module doc). Total: any text gives a window
    /// or an error, never a panic.
    pub fn parse(text: &str) -> Result<Self, WindowError> {
        let words = words(text);
        let mut words = words.iter().map(String::as_str).peekable();
        // The position decides what a word is, so an error names what that position expected:
        // a first word that is no time and no zone can only be days.
        let days = match words.next_if(|w| !is_hours_like(w) && !is_zone_like(w)) {
            Some(word) => Some(parse_days(word)?),
            None => None,
        };
        let hours = match words.next_if(|w| is_hours_like(w)) {
            Some(word) => Some(parse_hours(word)?),
            None => None,
        };
        let zone = match words.next() {
            None => Tz::UTC,
            // Days or hours out of place would otherwise read as "unknown zone `Fri`".
            Some(word) if is_hours_like(word) || parse_days(word).is_ok() => {
                return Err(WindowError::Extra { word: word.to_owned() });
            }
            Some(word) => parse_zone(word)?,
        };
        if let Some(word) = words.next() {
            return Err(WindowError::Extra { word: word.to_owned() });
        }
        if days.is_none() && hours.is_none() {
            return Err(WindowError::Empty);
        }
        Ok(Self { days: days.unwrap_or(EVERY_DAY), hours: hours.flatten(), zone })
    }

    /// Whether the window is open at `at`, read on the zone's wall clock (see the module doc).
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone);
        let today = local.weekday();
        let Some(Hours { start, end }) = self.hours else { return self.opens_on(today.num_days_from_monday()) };
        let second = local.num_seconds_from_midnight();
        let (start, end) = (u32::from(start) * 60, u32::from(end) * 60);
        if start < end {
            self.opens_on(today.num_days_from_monday()) && (start..end).contains(&second)
        } else {
            // Across midnight: the evening belongs to today's opening, the morning to yesterday's.
            (self.opens_on(today.num_days_from_monday()) && second >= start)
                || (self.opens_on(today.pred().num_days_from_monday()) && second < end)
        }
    }

    fn opens_on(&self, day: u32) -> bool {
        self.days & (1 << (day % 7)) != 0
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The canonical form: days as the shortest list of runs (`Mon-Fri,Sun`; left out when every
/// day is open and hours are given), hours as `HH:MM-HH:MM`, and always the zone, so a reader
/// never has to know the default.
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hours {
            Some(Hours { start, end }) if self.days == EVERY_DAY => write!(f, "{}-{}", Clock(start), Clock(end))?,
            Some(Hours { start, end }) => write!(f, "{} {}-{}", days_text(self.days), Clock(start), Clock(end))?,
            None => f.write_str(&days_text(self.days))?,
        }
        write!(f, " {}", self.zone.name())
    }
}

/// Minutes since midnight as `HH:MM` (1440 prints `24:00`).
struct Clock(u16);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// The days as runs, each from a day whose eve is closed: `Mon-Fri`, `Sat,Sun` (two days read
/// better as a pair), `Wed,Fri-Mon` (a run may wrap past Sunday).
fn days_text(days: u8) -> String {
    if days == EVERY_DAY {
        return "Mon-Sun".to_owned();
    }
    let open = |day: usize| days & (1 << (day % 7)) != 0;
    let name = |day: usize| DAYS[day % 7].0;
    let mut runs = Vec::new();
    for first in (0..7).filter(|&d| open(d) && !open(d + 6)) {
        // Ends: some day is closed, since not every day is open.
        let len = (1..7).find(|&n| !open(first + n)).unwrap_or(7);
        runs.push(match len {
            1 => name(first).to_owned(),
            2 => format!("{},{}", name(first), name(first + 1)),
            _ => format!("{}-{}", name(first), name(first + len - 1)),
        });
    }
    runs.join(",")
}

/// Splits on whitespace, but glues words around `,` and `-` back together: people type
/// `Sat, Sun` and `08:00 - 18:00` in chat, and no zone name starts or ends with either.
fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut glue = false;
    for word in text.split_whitespace() {
        match out.last_mut() {
            Some(last) if glue || word.starts_with([',', '-']) => last.push_str(word),
            _ => out.push(word.to_owned()),
        }
        glue = word.ends_with([',', '-']);
    }
    out
}

fn is_hours_like(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
}

/// A zone in the first position (`UTC` alone) is read as a zone, to say the window is empty
/// rather than that `UTC` is no day.
fn is_zone_like(word: &str) -> bool {
    word.contains('/') || find_zone(word).is_some()
}

fn parse_days(list: &str) -> Result<u8, WindowError> {
    let bad_list = || WindowError::BadDayList { list: list.to_owned() };
    let mut days = 0u8;
    for item in list.split(',') {
        let (from, to) = match item.split_once('-') {
            Some((from, to)) => (from, Some(to)),
            None => (item, None),
        };
        if from.is_empty() || to.is_some_and(|to| to.is_empty() || to.contains('-')) {
            return Err(bad_list());
        }
        let from = parse_day(from)?;
        let Some(to) = to else {
            days |= 1 << from;
            continue;
        };
        let to = parse_day(to)?;
        if from == to {
            // One day or the whole week? Either reading would surprise someone.
            return Err(WindowError::SameDayRange { range: item.to_owned(), day: DAYS[usize::from(from)].0 });
        }
        let len = (to + 7 - from) % 7;
        for n in 0..=len {
            days |= 1 << ((from + n) % 7);
        }
    }
    Ok(days)
}

/// A day's index, Monday = 0.
fn parse_day(word: &str) -> Result<u8, WindowError> {
    (0u8..)
        .zip(DAYS)
        .find(|(_, (short, long))| word.eq_ignore_ascii_case(short) || word.eq_ignore_ascii_case(long))
        .map(|(index, _)| index)
        .ok_or_else(|| WindowError::UnknownDay { word: word.to_owned(), suggestion: suggest_day(word) })
}

/// Edit distance catches `Mo` and `Thurs`; short mangled names like `Mnd` are too far from
/// every name for it, so a word whose letters all appear, in order, in exactly one day's full
/// name (and that starts like it) names that day.
fn suggest_day(word: &str) -> Option<&'static str> {
    if word.len() > SUGGEST_MAX_LEN {
        return None;
    }
    let short_of = |name: &str| DAYS.iter().find(|(s, l)| *s == name || *l == name).map(|(s, _)| *s);
    if let Some(hit) = suggest(word, DAYS.iter().flat_map(|(short, long)| [*short, *long])) {
        return short_of(hit);
    }
    let word = word.to_lowercase();
    let mut letters = word.chars();
    let (Some(first), Some(_)) = (letters.next(), letters.next()) else { return None };
    let mut hits = DAYS.iter().filter(|(_, long)| long.starts_with(first) && is_subsequence(&word, long));
    match (hits.next(), hits.next()) {
        (Some((short, _)), None) => Some(*short),
        _ => None,
    }
}

fn is_subsequence(needle: &str, haystack: &str) -> bool {
    let mut rest = haystack.chars();
    needle.chars().all(|c| rest.any(|h| h == c))
}

/// `Ok(None)`: the whole day (`00:00-24:00`), which is the same as no hours.
fn parse_hours(word: &str) -> Result<Option<Hours>, WindowError> {
    let bad = || WindowError::BadHours { word: word.to_owned() };
    let mut parts = word.split('-');
    let (Some(start_text), Some(end_text), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if start_text.is_empty() || end_text.is_empty() {
        return Err(bad());
    }
    let bad_time = |time: &str| WindowError::BadTime { time: time.to_owned() };
    let start = parse_clock(start_text).filter(|&s| s < DAY_MINUTES).ok_or_else(|| bad_time(start_text))?;
    let end = parse_clock(end_text).ok_or_else(|| bad_time(end_text))?;
    // Compared as written: `00:00-24:00` is the whole day, `00:00-00:00` nothing.
    if start == end {
        return Err(WindowError::EmptyHours { hours: word.to_owned() });
    }
    let end = if end == 0 { DAY_MINUTES } else { end };
    Ok(((start, end) != (0, DAY_MINUTES)).then_some(Hours { start, end }))
}

/// `H:MM` or `HH:MM`, `00:00` to `24:00`, in minutes.
fn parse_clock(text: &str) -> Option<u16> {
    let (hour, minute) = text.split_once(':')?;
    let digits =
        |s: &str, len: std::ops::RangeInclusive<usize>| len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hour, 1..=2) || !digits(minute, 2..=2) {
        return None;
    }
    let (hour, minute) = (hour.parse::<u16>().ok()?, minute.parse::<u16>().ok()?);
    match (hour, minute) {
        (0..=23, 0..=59) => Some(hour * 60 + minute),
        (24, 0) => Some(DAY_MINUTES),
        _ => None,
    }
}

pub(crate) fn find_zone(word: &str) -> Option<Tz> {
    word.parse::<Tz>().ok().or_else(|| TZ_VARIANTS.iter().copied().find(|tz| tz.name().eq_ignore_ascii_case(word)))
}

fn parse_zone(word: &str) -> Result<Tz, WindowError> {
    find_zone(word).ok_or_else(|| WindowError::UnknownZone { word: word.to_owned(), suggestion: suggest_zone(word) })
}

/// Near a full name (`Europe/Berln`), else, for a word with no `/`, near a city (`Berlin`,
/// `new_yrok`): people remember zones by their city. (A word with a `/` that is near no full
/// name is too mangled to guess from one part.)
pub(crate) fn suggest_zone(word: &str) -> Option<&'static str> {
    if word.len() > SUGGEST_MAX_LEN {
        return None;
    }
    fn city(name: &str) -> &str {
        name.rsplit('/').next().unwrap_or(name)
    }
    suggest(word, TZ_VARIANTS.iter().map(|tz| tz.name())).or_else(|| {
        if word.contains('/') {
            return None;
        }
        let hit = suggest(word, TZ_VARIANTS.iter().map(|tz| city(tz.name())))?;
        TZ_VARIANTS.iter().map(|tz| tz.name()).find(|name| city(name) == hit)
    })
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Weekday};
    use proptest::prelude::*;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn window(text: &str) -> Window {
        Window::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Every minute of one UTC span, `from` included, `to` not.
    fn minutes(from: &str, to: &str) -> impl Iterator<Item = DateTime<Utc>> {
        let (from, to) = (at(from), at(to));
        (0..).map(move |n| from + TimeDelta::minutes(n)).take_while(move |t| *t < to)
    }

    #[test]
    fn good_windows_read_and_print_canonically() {
        for (text, printed) in [
            ("Mon-Fri 08:00-18:00 Europe/Berlin", "Mon-Fri 08:00-18:00 Europe/Berlin"),
            ("mon-fri 8:00-18:00 europe/berlin", "Mon-Fri 08:00-18:00 Europe/Berlin"),
            ("Monday-FRIDAY 08:00-18:00", "Mon-Fri 08:00-18:00 UTC"),
            ("Mon,Tue,Wed,Thu,Fri", "Mon-Fri UTC"),
            ("Sat,Sun", "Sat,Sun UTC"),
            ("Sat-Sun", "Sat,Sun UTC"),
            ("Sat, Sun", "Sat,Sun UTC"),
            ("  Mon - Fri   08:00 - 18:00  UTC ", "Mon-Fri 08:00-18:00 UTC"),
            ("Fri-Mon", "Fri-Mon UTC"),
            ("Sun,Fri-Sat,Mon", "Fri-Mon UTC"),
            ("Wed,Fri-Mon", "Wed,Fri-Mon UTC"),
            ("Mon-Fri,Wed", "Mon-Fri UTC"),
            ("Mon-Sun", "Mon-Sun UTC"),
            ("Tue-Mon", "Mon-Sun UTC"),
            ("Mon-Sun 08:00-18:00", "08:00-18:00 UTC"),
            ("08:00-18:00", "08:00-18:00 UTC"),
            ("22:00-06:00 America/New_York", "22:00-06:00 America/New_York"),
            ("Fri 22:00-06:00", "Fri 22:00-06:00 UTC"),
            ("Fri 22:00-00:00", "Fri 22:00-24:00 UTC"),
            ("Fri 22:00-24:00", "Fri 22:00-24:00 UTC"),
            ("Fri 00:00-24:00", "Fri UTC"),
            ("00:00-24:00", "Mon-Sun UTC"),
            ("Fri 23:59-00:00", "Fri 23:59-24:00 UTC"),
            ("Mon utc", "Mon UTC"),
            ("Mon Etc/UTC", "Mon Etc/UTC"),
            ("Mon US/Eastern", "Mon US/Eastern"),
        ] {
            let parsed = window(text);
            assert_eq!(parsed.to_string(), printed, "{text}");
            assert_eq!(window(printed), parsed, "{text}");
            assert_eq!(text.parse::<Window>(), Ok(parsed), "{text}");
        }
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        let day = |word: &str, suggestion| WindowError::UnknownDay { word: word.into(), suggestion };
        let zone = |word: &str, suggestion| WindowError::UnknownZone { word: word.into(), suggestion };
        let time = |time: &str| WindowError::BadTime { time: time.into() };
        let hours = |word: &str| WindowError::BadHours { word: word.into() };
        let list = |list: &str| WindowError::BadDayList { list: list.into() };
        let extra = |word: &str| WindowError::Extra { word: word.into() };
        for (text, error) in [
            ("", WindowError::Empty),
            ("   ", WindowError::Empty),
            ("UTC", WindowError::Empty),
            ("Europe/Berlin", WindowError::Empty),
            ("Mnd 08:00-18:00", day("Mnd", Some("Mon"))),
            ("Mo", day("Mo", Some("Mon"))),
            ("Thurs", day("Thurs", Some("Thu"))),
            ("wensday", day("wensday", Some("Wed"))),
            ("Mon-Fir", day("Fir", Some("Fri"))),
            ("Xyz", day("Xyz", None)),
            ("T", day("T", None)),
            ("Mon,,Fri", list("Mon,,Fri")),
            ("Mon,", list("Mon,")),
            (",Mon", list(",Mon")),
            ("Mon-", list("Mon-")),
            ("Mon-Wed-Fri", list("Mon-Wed-Fri")),
            ("Mon-Mon", WindowError::SameDayRange { range: "Mon-Mon".into(), day: "Mon" }),
            ("Tue,monday-Mon", WindowError::SameDayRange { range: "monday-Mon".into(), day: "Mon" }),
            ("Mon 25:00-26:00", time("25:00")),
            ("Mon 08:00-25:00", time("25:00")),
            ("Mon 24:00-06:00", time("24:00")),
            ("Mon 08:60-09:00", time("08:60")),
            ("Mon 8:0-9:00", time("8:0")),
            ("Mon 008:00-9:00", time("008:00")),
            ("Mon 08:00-+9:00", time("+9:00")),
            ("Mon 8-18", time("8")),
            ("Mon 08:00", hours("08:00")),
            ("Mon 08:00-", hours("08:00-")),
            ("Mon 08:00-12:00-18:00", hours("08:00-12:00-18:00")),
            ("2026-01-01", hours("2026-01-01")),
            ("Mon 08:00-08:00", WindowError::EmptyHours { hours: "08:00-08:00".into() }),
            ("00:00-00:00", WindowError::EmptyHours { hours: "00:00-00:00".into() }),
            ("24:00-24:00", time("24:00")),
            ("Mon Europe/Berln", zone("Europe/Berln", Some("Europe/Berlin"))),
            ("Mon berlin", zone("berlin", Some("Europe/Berlin"))),
            ("Mon New_Yrok", zone("New_Yrok", Some("America/New_York"))),
            ("Mon Mars/Olympus_Mons", zone("Mars/Olympus_Mons", None)),
            ("Berln/Europe", zone("Berln/Europe", None)),
            ("Mon +02:00", zone("+02:00", None)),
            ("08:00-18:00 Mon-Fri", extra("Mon-Fri")),
            ("Mon Tue", extra("Tue")),
            ("Mon 08:00-12:00 13:00-18:00", extra("13:00-18:00")),
            ("Mon 08:00-18:00 UTC now", extra("now")),
            ("Europe/Berlin Mon", extra("Mon")),
        ] {
            assert_eq!(Window::parse(text), Err(error), "{text}");
        }
    }

    #[test]
    fn errors_read_well() {
        let message = |text: &str| Window::parse(text).unwrap_err().to_string();
        assert_eq!(
            message("Mnd"),
            "`Mnd` is not a day of the week (`Mon` … `Sun`, or `monday` … `sunday`); did you mean `Mon`?"
        );
        assert_eq!(
            message("Mon Europe/Berln"),
            "`Europe/Berln` is not a time zone: use an IANA name such as `Europe/Berlin`, or `UTC`; did you mean \
             `Europe/Berlin`?"
        );
        assert_eq!(
            message("Mon 10:00-10:00"),
            "`10:00-10:00` makes no sense: it ends when it starts, so it is empty (leave the hours out for the whole \
             day)"
        );
        assert!(message("Mon 25:00-26:00").starts_with("`25:00` is not a time of day"));
    }

    #[test]
    fn zone_names_differ_in_more_than_case() {
        // Case-insensitive lookup would otherwise pick one of two zones.
        for (i, a) in TZ_VARIANTS.iter().enumerate() {
            assert!(!TZ_VARIANTS[i + 1..].iter().any(|b| a.name().eq_ignore_ascii_case(b.name())), "{a}");
        }
    }

    #[test]
    fn office_hours() {
        let office = window("Mon-Fri 08:00-18:00 UTC");
        for (instant, open) in [
            ("2026-06-01T07:59:59Z", false), // Monday
            ("2026-06-01T08:00:00Z", true),
            ("2026-06-01T17:59:59Z", true),
            ("2026-06-01T18:00:00Z", false),
            ("2026-06-05T12:00:00Z", true),  // Friday
            ("2026-06-06T12:00:00Z", false), // Saturday
            ("2026-06-07T12:00:00Z", false),
        ] {
            assert_eq!(office.contains(at(instant)), open, "{instant}");
        }
    }

    #[test]
    fn whole_days_and_every_day() {
        let weekend = window("Sat,Sun");
        assert!(!weekend.contains(at("2026-06-05T23:59:59Z")));
        assert!(weekend.contains(at("2026-06-06T00:00:00Z")));
        assert!(weekend.contains(at("2026-06-07T23:59:59Z")));
        assert!(!weekend.contains(at("2026-06-08T00:00:00Z")));
        let lunch = window("12:00-13:00");
        assert!((1..=7).all(|d| lunch.contains(at(&format!("2026-06-0{d}T12:30:00Z")))));
        assert!(!lunch.contains(at("2026-06-03T13:00:00Z")));
        let always = window("Mon-Sun");
        assert!(minutes("2026-06-01T00:00:00Z", "2026-06-01T01:00:00Z").all(|t| always.contains(t)));
    }

    #[test]
    fn across_midnight_belongs_to_the_opening_day() {
        let friday_night = window("Fri 22:00-06:00");
        for (instant, open) in [
            ("2026-06-04T23:00:00Z", false), // Thursday night
            ("2026-06-05T03:00:00Z", false), // Friday morning: Thursday's night
            ("2026-06-05T21:59:59Z", false),
            ("2026-06-05T22:00:00Z", true),
            ("2026-06-05T23:59:59Z", true),
            ("2026-06-06T00:00:00Z", true), // Saturday
            ("2026-06-06T03:00:00Z", true),
            ("2026-06-06T05:59:59Z", true),
            ("2026-06-06T06:00:00Z", false),
            ("2026-06-06T23:00:00Z", false), // Saturday night
        ] {
            assert_eq!(friday_night.contains(at(instant)), open, "{instant}");
        }
        // Sunday's night runs into Monday, past the end of the week.
        let sunday_night = window("Sun 22:00-02:00");
        assert!(sunday_night.contains(at("2026-06-08T01:00:00Z")));
        assert!(!sunday_night.contains(at("2026-06-01T23:00:00Z")));
        // To the end of the day only.
        let late = window("Fri 22:00-00:00");
        assert!(late.contains(at("2026-06-05T23:59:59Z")));
        assert!(!late.contains(at("2026-06-06T00:00:00Z")));
    }

    #[test]
    fn wrapping_day_ranges() {
        let long_weekend = window("Fri-Mon 09:00-17:00");
        let noon = |day: u32| at(&format!("2026-06-{day:02}T12:00:00Z")); // 2026-06-01 is a Monday
        assert_eq!(
            (1..=7).map(|d| long_weekend.contains(noon(d))).collect::<Vec<_>>(),
            [true, false, false, false, true, true, true]
        );
    }

    #[test]
    fn local_wall_clock_of_the_zone() {
        let berlin = window("Mon-Fri 08:00-18:00 Europe/Berlin");
        assert!(berlin.contains(at("2026-06-01T06:00:00Z"))); // 08:00 CEST
        assert!(!berlin.contains(at("2026-06-01T16:00:00Z"))); // 18:00 CEST
        assert!(berlin.contains(at("2026-01-05T07:00:00Z"))); // 08:00 CET
        assert!(!berlin.contains(at("2026-01-05T06:59:59Z")));
        // The local date decides the day: Friday 23:30 UTC is Saturday in Tokyo.
        let tokyo = window("Sat Asia/Tokyo");
        assert!(tokyo.contains(at("2026-06-05T23:30:00Z")));
        assert!(!tokyo.contains(at("2026-06-06T15:00:00Z"))); // Sunday 00:00 JST
    }

    #[test]
    fn berlin_spring_gap_never_happens() {
        let tz = chrono_tz::Europe::Berlin;
        assert_eq!(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap().weekday(), Weekday::Sun);
        let gap = window("Sun 02:00-03:00 Europe/Berlin");
        // The whole local Sunday: 00:00 CET is 23:00 UTC, 24:00 CEST is 22:00 UTC.
        assert!(minutes("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z").all(|t| !gap.contains(t)));
        // 01:59 CET is followed by 03:00 CEST.
        assert_eq!(at("2026-03-29T00:59:00Z").with_timezone(&tz).to_string(), "2026-03-29 01:59:00 CET");
        assert_eq!(at("2026-03-29T01:00:00Z").with_timezone(&tz).to_string(), "2026-03-29 03:00:00 CEST");
        // The Sunday before has its hour.
        assert!(gap.contains(at("2026-03-22T01:30:00Z")));
        // A window over the gap is an hour short that day.
        let night = window("Sun 01:00-04:00 Europe/Berlin");
        assert_eq!(minutes("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z").filter(|t| night.contains(*t)).count(), 120);
    }

    #[test]
    fn berlin_autumn_overlap_counts_twice() {
        let overlap = window("Sun 02:00-03:00 Europe/Berlin");
        // Local 02:30 happens at 00:30 UTC (CEST, +2) and again at 01:30 UTC (CET, +1).
        assert!(overlap.contains(at("2026-10-25T00:30:00Z")));
        assert!(overlap.contains(at("2026-10-25T01:30:00Z")));
        assert!(!overlap.contains(at("2026-10-24T23:59:59Z"))); // 01:59:59 CEST
        assert!(!overlap.contains(at("2026-10-25T02:00:00Z"))); // 03:00 CET
        // The whole local Sunday, 00:00 CEST (22:00 UTC) to 24:00 CET (23:00 UTC): two hours open.
        assert_eq!(
            minutes("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z").filter(|t| overlap.contains(*t)).count(),
            120
        );
        // A whole-day window lasts 25 hours that day.
        let sunday = window("Sun Europe/Berlin");
        assert_eq!(
            minutes("2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z").filter(|t| sunday.contains(*t)).count(),
            25 * 60
        );
    }

    #[test]
    fn new_york_both_changes() {
        assert_eq!(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap().weekday(), Weekday::Sun);
        assert_eq!(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().weekday(), Weekday::Sun);
        // Spring: 02:00 EST (07:00 UTC) becomes 03:00 EDT; the local Sunday is 05:00 to 04:00 UTC.
        let gap = window("Sun 02:00-03:00 America/New_York");
        assert!(minutes("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z").all(|t| !gap.contains(t)));
        assert!(gap.contains(at("2026-03-01T07:30:00Z")));
        // Autumn: 02:00 EDT (06:00 UTC) becomes 01:00 EST; 01:30 happens at 05:30 and 06:30 UTC.
        let overlap = window("Sun 01:00-02:00 America/New_York");
        assert!(overlap.contains(at("2026-11-01T05:30:00Z")));
        assert!(overlap.contains(at("2026-11-01T06:30:00Z")));
        assert!(!overlap.contains(at("2026-11-01T07:00:00Z"))); // 02:00 EST
        // Office hours follow the clock, not the offset.
        let office = window("Mon-Fri 08:00-18:00 America/New_York");
        assert!(office.contains(at("2026-10-30T12:30:00Z"))); // Friday 08:30 EDT
        assert!(office.contains(at("2026-11-02T13:30:00Z"))); // Monday 08:30 EST
        assert!(!office.contains(at("2026-11-02T12:30:00Z"))); // Monday 07:30 EST
        assert!(office.contains(at("2026-11-02T22:59:59Z"))); // 17:59:59 EST
        assert!(!office.contains(at("2026-11-02T23:00:00Z")));
    }

    #[test]
    fn night_across_midnight_and_a_clock_change() {
        // Saturday night into the spring-forward Sunday: ends at 06:00 CEST, 04:00 UTC.
        let night = window("Sat 22:00-06:00 Europe/Berlin");
        assert!(!night.contains(at("2026-03-28T20:59:59Z")));
        assert!(night.contains(at("2026-03-28T21:00:00Z"))); // 22:00 CET
        assert!(night.contains(at("2026-03-29T03:59:59Z"))); // 05:59:59 CEST
        assert!(!night.contains(at("2026-03-29T04:00:00Z")));
    }

    // --- properties ---------------------------------------------------------------------------

    /// One item of a day list: a day, or a range of two different days; each spelled short or
    /// long, in some case.
    fn day_item() -> impl Strategy<Value = (u8, Option<u8>, bool, u8)> {
        (0u8..7, proptest::option::of(1u8..7), any::<bool>(), 0u8..3)
            .prop_map(|(from, offset, long, case)| (from, offset.map(|o| (from + o) % 7), long, case))
    }

    fn cased(text: &str, case: u8) -> String {
        match case {
            0 => text.to_lowercase(),
            1 => text.to_uppercase(),
            _ => text.to_owned(),
        }
    }

    /// Whether `at` falls in a window given by its parts, worked out from the openings: each
    /// open day, at `start` local, for `len` minutes of wall clock.
    fn model_contains(days: u8, hours: Option<(u16, u16)>, zone: Tz, at: DateTime<Utc>) -> bool {
        let local: NaiveDateTime = at.with_timezone(&zone).naive_local();
        let (start, len) = match hours {
            None => (0, 1440),
            Some((start, end)) => {
                let end = if end == 0 { 1440 } else { end };
                (start, if end > start { end - start } else { end + 1440 - start })
            }
        };
        [local.date(), local.date() - TimeDelta::days(1)].into_iter().any(|date| {
            let open = days & (1 << date.weekday().num_days_from_monday()) != 0;
            let from = date.and_hms_opt(0, 0, 0).unwrap() + TimeDelta::minutes(i64::from(start));
            open && from <= local && local < from + TimeDelta::minutes(i64::from(len))
        })
    }

    proptest! {
        /// Any text: no panic, and what reads prints to text that reads back the same.
        #[test]
        fn any_text_is_total_and_round_trips(text in any::<String>()) {
            if let Ok(parsed) = Window::parse(&text) {
                prop_assert_eq!(Window::parse(&parsed.to_string()), Ok(parsed));
            }
        }

        /// Text made of the window's own characters reaches deeper into the parser.
        #[test]
        fn near_miss_text_is_total_and_round_trips(text in "[MonTuedWhFriSaSun0-9:, /_-]{0,40}|[a-zA-Z0-9:,/ +-]{0,30}") {
            if let Ok(parsed) = Window::parse(&text) {
                prop_assert_eq!(Window::parse(&parsed.to_string()), Ok(parsed));
            }
        }

        /// Windows written any valid way read, mean what was written, and round-trip.
        #[test]
        fn valid_windows_read_and_round_trip(
            (items, hours) in (
                proptest::option::of(prop::collection::vec(day_item(), 1..4)),
                proptest::option::of((0u16..1440, 0u16..=1440).prop_filter("not empty", |(s, e)| s != e)),
            ).prop_filter("days or hours", |(items, hours)| items.is_some() || hours.is_some()),
            zone in proptest::option::of((0..TZ_VARIANTS.len(), 0u8..3)),
            spaced in any::<bool>(),
            instant in 1_700_000_000i64..1_900_000_000,
        ) {
            let mut words = Vec::new();
            let mut days = EVERY_DAY;
            if let Some(items) = &items {
                days = 0;
                let name = |d: u8, long: bool, case: u8| {
                    let (short, full) = DAYS[usize::from(d)];
                    cased(if long { full } else { short }, case)
                };
                let list: Vec<String> = items.iter().map(|&(from, to, long, case)| {
                    // The days from `from` to `to`, going forward and wrapping.
                    let span = to.map_or(0, |to| (to + 7 - from) % 7);
                    for d in 0..7u8 {
                        if (d + 7 - from) % 7 <= span { days |= 1 << d; }
                    }
                    match to {
                        None => name(from, long, case),
                        Some(to) => format!("{}-{}", name(from, long, case), name(to, !long, case)),
                    }
                }).collect();
                words.push(list.join(if spaced { ", " } else { "," }));
            }
            if let Some((start, end)) = hours {
                let dash = if spaced { " - " } else { "-" };
                words.push(format!("{}{dash}{}", Clock(start), Clock(end)));
            }
            let tz = zone.map_or(Tz::UTC, |(i, _)| TZ_VARIANTS[i]);
            if let Some((_, case)) = zone {
                words.push(cased(tz.name(), case));
            }
            let text = words.join(" ");
            let parsed = Window::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(parsed.days, days, "{}", text);
            prop_assert_eq!(parsed.zone, tz, "{}", text);
            prop_assert_eq!(Window::parse(&parsed.to_string()), Ok(parsed.clone()), "{}", text);
            let at = Utc.timestamp_opt(instant, 0).unwrap();
            prop_assert_eq!(parsed.contains(at), model_contains(days, hours, tz, at), "{} at {}", text, at);
        }
    }
}
