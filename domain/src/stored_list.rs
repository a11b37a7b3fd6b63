//! Lists the bot keeps as JSON under a store setting (chat's grants, rooms' follows), read entry
//! by entry: an entry this version cannot read is kept aside and written back untouched, never
//! dropped, so a downgrade or a hand edit loses nothing.

use serde_json::Value;

/// What a stored list held.
#[derive(Debug)]
pub(crate) struct Loaded<T> {
    pub entries: Vec<T>,
    /// Entries (or, if the text is not a JSON list, the whole text) to write back as they are.
    pub unreadable: Vec<Value>,
}

/// Reads `text` (the setting, if any) as a list of `what` (for the log), each entry by `read`.
pub(crate) fn read<T>(text: Option<String>, what: &str, read: impl Fn(Value) -> Result<T, String>) -> Loaded<T> {
    let mut loaded = Loaded { entries: Vec::new(), unreadable: Vec::new() };
    let list: Vec<Value> = match text.as_deref().map(serde_json::from_str).transpose() {
        Ok(list) => list.unwrap_or_default(),
        Err(e) => {
            tracing::error!(error = %e, "the stored {what} are not a JSON list; they are kept as they are and not applied");
            loaded.unreadable.extend(text.map(Value::String));
            return loaded;
        }
    };
    for entry in list {
        match read(entry.clone()) {
            Ok(item) => loaded.entries.push(item),
            Err(e) => {
                tracing::error!(error = %e, "one of the stored {what} cannot be read; it is kept and not applied");
                loaded.unreadable.push(entry);
            }
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_entries_and_texts_are_kept_aside() {
        let number = |v: Value| v.as_u64().ok_or_else(|| "not a number".to_owned());
        let loaded = read(Some(r#"[1, "two", 3]"#.into()), "numbers", number);
        assert_eq!(loaded.entries, [1, 3]);
        assert_eq!(loaded.unreadable, [Value::from("two")]);
        let broken = read(Some("[1,".into()), "numbers", number);
        assert!(broken.entries.is_empty());
        assert_eq!(broken.unreadable, [Value::from("[1,")]);
        assert!(read(None, "numbers", number).entries.is_empty());
    }
}
