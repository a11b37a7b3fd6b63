//! Durations the way people read them: "4s", "2m 05s", "1h 03m".

use chrono::Duration;

pub fn human(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::seconds(-3)), "0s");
        assert_eq!(human(Duration::seconds(59)), "59s");
        assert_eq!(human(Duration::seconds(125)), "2m 05s");
        assert_eq!(human(Duration::seconds(3_780)), "1h 03m");
        assert_eq!(human(Duration::seconds(90_000)), "1d 01h");
    }
}
