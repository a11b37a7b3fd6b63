// The app's configuration checks, compiled from their own files (the `app` crate itself pulls
// in matrix-sdk), with what the configuration targets share: `files` (which inputs are
// harmless to check) and `panics` (the HJSON reader's panics left to the catch that handles
// them). Included at a target's root with `include!`, since the app's files name each other
// from the crate root (`crate::config::…`); paths are relative to this file.

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../../app/src/access_config.rs"]
mod access_config;
#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../../app/src/config.rs"]
mod config;
#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../../app/src/webhook_config.rs"]
mod webhook_config;

#[path = "files.rs"]
mod files;

#[path = "panics.rs"]
mod panics;
