//! Any chat message, through everything that reads a command: prefix, word splitting, alias
//! expansion and the grammar. None of it may panic, whatever arrives.
#![no_main]

use std::collections::BTreeMap;

use chatrixcd_domain::commands::REGISTRY;
use chatrixcd_domain::{aliases, grammar, strip_prefix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(line) = strip_prefix(text, "!cd") else { return };
    let words = grammar::split_words(line);
    let mut table = BTreeMap::new();
    table.insert("dw".to_owned(), "run 1 1 --tags=web".to_owned());
    let words = aliases::expand(words, &table, REGISTRY);
    if let Err(e) = grammar::parse(REGISTRY, &words) {
        let _ = e.describe();
    }
});
