//! A JSON list read item by item as its bytes arrive.
//!
//! A task's output is one JSON list of every line it printed: hundreds of megabytes for a chatty
//! task. Reading the body whole before decoding it held the log three times over (the bytes,
//! their text, the decoded lines); split as it arrives, only the decoded lines and the one item
//! being received are held.

use serde::de::DeserializeOwned;

/// Why a body is not a list of items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("expected a list, found {0}")]
    NotAList(String),
    #[error("item {index}: {message}")]
    Item { index: usize, message: String },
    #[error("an empty item at position {0}")]
    EmptyItem(usize),
    #[error("the list ends early (after {0} items)")]
    Truncated(usize),
    #[error("unexpected data after the list")]
    TrailingData,
}

/// Splits a JSON list into its items across chunk boundaries. Strings are tracked, so commas
/// and brackets inside them (and escaped quotes) are not mistaken for structure; each item is
/// then decoded by serde_json, which checks it fully.
#[derive(Debug, Default)]
pub struct ListSplitter {
    /// Bytes of the item being received (and what follows it in the last chunk).
    pending: Vec<u8>,
    /// How far `pending` has been scanned.
    scanned: usize,
    /// Where the current item starts in `pending`.
    item_start: usize,
    opened: bool,
    closed: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
    items: usize,
}

/// JSON's whitespace: space, tab, line feed, carriage return. Not the rest of ASCII's (a form
/// feed, say), which `serde_json` refuses too: the list reads the same whole or item by item.
fn is_json_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn trim_json_space(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes
        && is_json_space(*first)
    {
        bytes = rest;
    }
    while let [rest @ .., last] = bytes
        && is_json_space(*last)
    {
        bytes = rest;
    }
    bytes
}

impl ListSplitter {
    /// Feeds the next bytes of the body; `each` gets every item completed by them, decoded.
    pub fn feed<T: DeserializeOwned>(&mut self, chunk: &[u8], mut each: impl FnMut(T)) -> Result<(), ListError> {
        self.pending.extend_from_slice(chunk);
        let mut i = self.scanned;
        while i < self.pending.len() {
            let byte = self.pending[i];
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
            } else if !self.opened {
                match byte {
                    b'[' => {
                        self.opened = true;
                        self.item_start = i + 1;
                    }
                    b if is_json_space(b) => {}
                    _ => return Err(ListError::NotAList(describe(&self.pending[i..]))),
                }
            } else if self.closed {
                if !is_json_space(byte) {
                    return Err(ListError::TrailingData);
                }
            } else {
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' if self.depth > 0 => self.depth -= 1,
                    b',' if self.depth == 0 => {
                        self.emit(i, false, &mut each)?;
                        self.item_start = i + 1;
                    }
                    b']' => {
                        self.emit(i, true, &mut each)?;
                        self.closed = true;
                        self.item_start = i + 1;
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        // Only the unfinished item is kept.
        let done = if self.opened { self.item_start } else { self.pending.len() };
        self.pending.drain(..done);
        self.item_start -= done.min(self.item_start);
        self.scanned = self.pending.len();
        Ok(())
    }

    /// Feeds the next bytes of the body and hands each item they complete to `add`, which keeps
    /// what it wants of it in `collected`. The first item `add` refuses ends the reading: its
    /// error is returned once the chunk is split (the items after it are not handed over); a
    /// body that is not a list is `malformed`. The one loop of the client and of the fuzz
    /// target that stands in for it.
    pub fn feed_into<T: DeserializeOwned, A, E>(
        &mut self,
        chunk: &[u8],
        collected: &mut A,
        add: impl Fn(&mut A, T) -> Result<(), E>,
        malformed: impl Fn(ListError) -> E,
    ) -> Result<(), E> {
        let mut refused = None;
        self.feed(chunk, |item| {
            if refused.is_none() {
                refused = add(collected, item).err();
            }
        })
        .map_err(malformed)?;
        refused.map_or(Ok(()), Err)
    }

    /// Ends the body; returns how many items it held.
    pub fn finish(self) -> Result<usize, ListError> {
        match (self.opened, self.closed) {
            (true, true) => Ok(self.items),
            (false, _) => Err(ListError::NotAList("nothing".into())),
            (true, false) => Err(ListError::Truncated(self.items)),
        }
    }

    fn emit<T: DeserializeOwned>(&mut self, end: usize, last: bool, each: &mut impl FnMut(T)) -> Result<(), ListError> {
        let item = trim_json_space(&self.pending[self.item_start..end]);
        if item.is_empty() {
            // `[]` is an empty list; `[,` or `[1,]` is broken.
            return if last && self.items == 0 { Ok(()) } else { Err(ListError::EmptyItem(self.items)) };
        }
        let decoded =
            serde_json::from_slice(item).map_err(|e| ListError::Item { index: self.items, message: e.to_string() })?;
        each(decoded);
        self.items += 1;
        Ok(())
    }
}

/// What a body that is not a list is, from its first byte (all that may have arrived yet).
fn describe(bytes: &[u8]) -> String {
    match bytes.first() {
        Some(b'{') => "an object".into(),
        Some(b'"') => "a string".into(),
        Some(b'-' | b'0'..=b'9') => "a number".into(),
        Some(b'n') => "null".into(),
        Some(b't' | b'f') => "a boolean".into(),
        Some(other) => format!("`{}`", other.escape_ascii()),
        None => "nothing".into(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// Feeds `body` in chunks of `size` bytes and collects the items.
    fn split(body: &[u8], size: usize) -> Result<Vec<Value>, ListError> {
        let mut splitter = ListSplitter::default();
        let mut items = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            splitter.feed(chunk, |v: Value| items.push(v))?;
        }
        let count = splitter.finish()?;
        assert_eq!(count, items.len());
        Ok(items)
    }

    #[test]
    fn feeding_into_stops_at_the_first_refused_item_and_names_a_bad_body() {
        let keep_small = |kept: &mut Vec<u32>, n: u32| {
            if n >= 10 {
                return Err(format!("{n} is too big"));
            }
            kept.push(n);
            Ok(())
        };
        let as_text = |e: ListError| e.to_string();
        let mut kept = Vec::new();
        let mut splitter = ListSplitter::default();
        assert_eq!(splitter.feed_into(b"[1, 2", &mut kept, keep_small, as_text), Ok(()));
        assert_eq!(splitter.feed_into(b", 30, 4, 50", &mut kept, keep_small, as_text), Err("30 is too big".into()));
        assert_eq!(kept, [1, 2], "nothing after the refused item is handed over");

        let mut kept = Vec::new();
        let mut splitter = ListSplitter::default();
        let err = splitter.feed_into(b"{\"a\": 1}", &mut kept, keep_small, as_text).unwrap_err();
        assert!(err.starts_with("expected a list, found an object"), "{err}");
    }

    #[test]
    fn only_json_whitespace_separates_items() {
        // Found by the semaphore_wire fuzz target: `[ \x0c ]` read as an empty list item by
        // item, while serde_json refuses the form feed.
        let mut splitter = ListSplitter::default();
        let result = splitter.feed::<serde_json::Value>(b"[ \x0c   ]", |_| {});
        assert!(result.is_err(), "{result:?}");
        assert!(serde_json::from_slice::<Vec<serde_json::Value>>(b"[ \x0c   ]").is_err());
        let mut splitter = ListSplitter::default();
        assert!(splitter.feed::<serde_json::Value>(b"\x0c[[2]\n\n]", |_| {}).is_err(), "a form feed before the list");
        let mut splitter = ListSplitter::default();
        splitter.feed::<serde_json::Value>(b" \t\r\n[ 1 ,\n2 ]\r\n", |_| {}).unwrap();
        assert_eq!(splitter.finish().unwrap(), 2);
    }

    #[test]
    fn lists_split_like_serde_reads_them() {
        let body = json!([
            {"task_id": 1, "time": "2024-10-25T08:12:37Z", "output": "PLAY [all] ****"},
            {"output": "a \"quoted\" [bracket], {brace} and a backslash \\"},
            {"output": "\u{1b}[0;32mok: [web]\u{1b}[0m", "nested": [1, [2, {"x": "]"}]]},
            "a plain string, with a comma",
            12,
            null
        ]);
        let text = serde_json::to_vec(&body).unwrap();
        for size in [1, 2, 3, 7, 64, text.len()] {
            assert_eq!(split(&text, size).unwrap(), body.as_array().unwrap().clone(), "chunks of {size}");
        }
    }

    #[test]
    fn broken_bodies_are_named() {
        let cases: [(&str, ListError); 9] = [
            ("<html>", ListError::NotAList("`<`".into())),
            ("", ListError::NotAList("nothing".into())),
            ("   ", ListError::NotAList("nothing".into())),
            (r#"{"error": "no"}"#, ListError::NotAList("an object".into())),
            (r#"[{"output": "a"}, {"output": "b""#, ListError::Truncated(1)),
            ("[1,,2]", ListError::EmptyItem(1)),
            ("[1,]", ListError::EmptyItem(1)),
            ("[1] x", ListError::TrailingData),
            ("[1, {\"a\": tru}]", ListError::Item { index: 1, message: "expected ident at line 1 column 10".into() }),
        ];
        for (body, expected) in cases {
            assert_eq!(split(body.as_bytes(), 3), Err(expected), "{body:?}");
        }
        assert_eq!(split(b" [ ] ", 1).unwrap(), Vec::<Value>::new());
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_list_in_any_chunks_gives_its_items(items in prop::collection::vec(any_json(), 0..12), size in 1usize..40, pretty: bool) {
            let list = Value::from(items.clone());
            let text = if pretty { serde_json::to_vec_pretty(&list).unwrap() } else { serde_json::to_vec(&list).unwrap() };
            prop_assert_eq!(split(&text, size).unwrap(), items);
        }

        #[test]
        fn any_bytes_are_an_answer_or_an_error_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), size in 1usize..16) {
            let _ = split(&bytes, size);
        }
    }
}
