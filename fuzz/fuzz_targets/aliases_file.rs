//! `aliases.json`, as an operator (or ChatrixCD) wrote it: any text reads as a table or a clear
//! error, never a panic; a table read writes back to a file that reads as the same table; and
//! checking and expanding every alias in it never panics, each expansion keeping the words typed
//! after the alias.
#![no_main]

use chatrixcd_domain::commands::REGISTRY;
use chatrixcd_domain::{aliases, grammar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(table) = aliases::parse_file(&text) else { return };
    let written = aliases::to_file(&table);
    assert_eq!(aliases::parse_file(&written).as_ref(), Ok(&table), "written as {written:?}");
    for (name, command) in table.iter().take(64) {
        if let Ok(normalised) = aliases::validate(name, command, "!cd", REGISTRY) {
            assert_eq!(aliases::validate(name, &normalised, "!cd", REGISTRY).as_ref(), Ok(&normalised));
        }
        let typed = vec![name.clone(), "extra".to_owned()];
        let expanded = aliases::expand(typed.clone(), &table, REGISTRY);
        assert_eq!(expanded.last().map(String::as_str), Some("extra"), "{name:?} → {command:?}");
        if grammar::find(REGISTRY, name).is_some() {
            assert_eq!(expanded, typed, "an alias shadowed the built-in {name:?}");
        }
    }
});
