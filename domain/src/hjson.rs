//! Reading HJSON (config.json, messages.json) without panicking. deser-hjson 2.2.6, the newest,
//! slices its text at byte positions that can fall inside a multi-byte character (`{""…`,
//! `\u{FFFD}\n\u{FFFD}`, a key ending in `\r` before one), and panics there instead of answering.
//! Such a text is refused as unreadable instead, like any other text it cannot read.

use serde::de::{DeserializeOwned, Error as _};

/// `deser_hjson::from_str`, with its panics turned into an error.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, deser_hjson::Error> {
    // The reader holds nothing but the text and its position, so nothing is left half-changed
    // by a panic inside it. (With `panic = "abort"` this would not catch; no profile sets it.)
    std::panic::catch_unwind(|| deser_hjson::from_str::<T>(text)).unwrap_or_else(|_| {
        Err(deser_hjson::Error::custom(
            "the HJSON reader stopped at a character it cannot handle there (near a quote, a line end or a non-ASCII character)",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs the fuzz targets found (personality, config, config_migrate): each made the
    /// reader panic.
    #[test]
    fn what_makes_the_reader_panic_is_an_error() {
        for text in ["\u{FFFD}\n\u{FFFD}", "{i\r\u{605}", "{\"\"\u{2026}"] {
            let read = from_str::<serde_json::Value>(text);
            assert!(read.is_err(), "{text:?} read as {read:?}");
        }
    }

    #[test]
    fn readable_text_reads_as_before() {
        let text = "{\n  // a comment\n  a: 1\n  b: '''\n    two\n    '''\n  c: quoteless é\n}";
        let value: serde_json::Value = from_str(text).unwrap();
        assert_eq!(value, serde_json::json!({"a": 1, "b": "two", "c": "quoteless é"}));
        assert!(from_str::<serde_json::Value>("{a: ").is_err());
    }
}
