//! `chatrixcd config migrate`, which rewrites ChatrixCD's `semaphore` section of `config.json`
//! as an instance of `semaphore_instances` by editing the text (comments and layout kept): the
//! very `app/src/migrate_config.rs`, compiled here from its file. Any text: a rewritten file,
//! "nothing to do" or a clear error, never a panic. A rewritten file is already in the new
//! layout (migrating it again changes nothing), and the configuration checks read it without
//! panicking.
#![no_main]

include!("common/app_config.rs");

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../app/src/migrate_config.rs"]
mod migrate_config;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    panics::let_hjson_reader_panics_be_caught();
    let Ok(text) = std::str::from_utf8(data) else { return };
    match migrate_config::migrate_text(text) {
        Ok(Some(migrated)) => {
            assert_eq!(migrate_config::migrate_text(&migrated), Ok(None), "migrated twice: {migrated:?}");
            if files::harmless(&migrated) {
                let _ = config::parse_with(&migrated, &|_| None);
            }
        }
        Ok(None) => {}
        Err(e) => drop(e.to_string()),
    }
});
