//! Ways in for the fuzz targets (`fuzz/`) to parsers that are otherwise private to the crate:
//! each calls the parser exactly as the bot does, and nothing else uses them.

use chatrixcd_ports::UserId;
use chatrixcd_ports::semaphore::SurveyVar;
use chatrixcd_ports::store::RunQuery;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::survey::{self, Given};

/// The value a task receives for `text` given for the survey variable `var` (`answer`: typed
/// in a dialog; otherwise given by `--var` or a preset), or why it cannot be.
pub fn survey_check(var: &SurveyVar, text: &str, answer: bool) -> Result<String, String> {
    survey::check(var, text, if answer { Given::Answer } else { Given::Flag })
}

/// What `history`'s filter words and `--since` / `--until` mean for `me` at `now` in `zone`,
/// or the usage error shown instead.
pub fn history_filters(
    words: &[String],
    since: Option<&str>,
    until: Option<&str>,
    me: &UserId,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<RunQuery, String> {
    crate::commands::history::parse_filters(words, since, until, me, now, zone)
        .map(|filters| filters.query)
        .map_err(|e| e.to_string())
}

/// Whether `preset save` takes `name` as a preset's name.
pub fn preset_name(name: &str) -> bool {
    crate::commands::preset::valid_name(name)
}
