//! Schedules as people give them (`schedule add … "30 2 * * 1-5" --zone Europe/Berlin`) and as
//! Semaphore's own schedules arrive (`cron_format`): a cron expression and a time zone name. Any
//! text: a checked expression or a clear error, never a panic. A zone found by name is found
//! again by its own name; an expression read prints back to itself; one accepted fires, after
//! any moment, strictly later and within the horizon it was checked against, and its next slots
//! come in strictly increasing order.
//!
//! Input: a first byte choosing the moment (DST changes, a leap day, year ends; its top bit: the
//! six-field test mode), then the zone's name on a line, then the expression.
#![no_main]

use chatrixcd_domain::cron::{self, CronError, CronExpr};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;

/// Moments a schedule is checked at: ordinary days, the edges of Europe's and America's DST
/// changes, a leap day, the ends of years, the epoch and 2038.
const NOWS: [i64; 12] = [
    1_767_225_600, // 2026-01-01T00:00:00Z
    1_774_746_000, // 2026-03-29T01:00:00Z, Europe's spring forward
    1_792_890_000, // 2026-10-25T01:00:00Z, Europe's fall back
    1_772_953_200, // 2026-03-08T07:00:00Z, America's spring forward
    1_951_826_400, // 2031-11-09T12:00:00Z
    1_709_164_800, // 2024-02-29T00:00:00Z
    1_798_761_599, // 2026-12-31T23:59:59Z
    0,
    2_147_483_647, // 2038-01-19T03:14:07Z
    1_735_689_599, // 2024-12-31T23:59:59Z
    1_761_436_799, // 2025-10-25T23:59:59Z
    4_102_444_800, // 2100-01-01T00:00:00Z
];

/// How far ahead `parse` looks for a first slot (`cron::HORIZON_YEARS`, private).
const HORIZON: Duration = Duration::days(366 * 9);

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, rest)) = data.split_first() else { return };
    let seconds = knobs & 0x80 != 0;
    let Some(now) = DateTime::<Utc>::from_timestamp(NOWS[usize::from(knobs & 0x7f) % NOWS.len()], 0) else { return };
    let input = String::from_utf8_lossy(rest);
    let (zone_name, text) = input.split_once('\n').unwrap_or(("UTC", &input));

    let zone = match cron::zone(zone_name) {
        Ok(zone) => {
            assert_eq!(cron::zone(zone.name()), Ok(zone), "{zone_name:?} is {}", zone.name());
            zone
        }
        Err(e) => {
            let _ = e.to_string();
            Tz::UTC
        }
    };

    let stored = CronExpr::stored(text, seconds);
    if let Ok(expr) = &stored {
        let again = CronExpr::stored(expr.as_str(), seconds);
        assert_eq!(again.as_ref(), Ok(expr), "{text:?} printed as {:?}", expr.as_str());
    }
    match CronExpr::parse_with(text, zone, now, seconds) {
        Ok(expr) => {
            assert!(stored.is_ok(), "{text:?} checked but not stored");
            let next = expr.next_after(zone, now).expect("an accepted expression fires");
            assert!(next > now && next <= now + HORIZON, "{text:?} next fires at {next} after {now}");
            let slots = expr.upcoming(zone, now, 4);
            assert_eq!(slots.first(), Some(&next));
            assert!(slots.windows(2).all(|w| w[0] < w[1]), "{text:?} in {zone}: slots {slots:?}");
        }
        Err(CronError::NeverFires { .. }) => assert!(stored.is_ok(), "{text:?} never fires, yet does not read"),
        Err(e) => {
            assert!(stored.is_err(), "{text:?}: {e}, yet it reads");
            let _ = e.to_string();
        }
    }
});
