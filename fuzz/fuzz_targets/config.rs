//! `config.json` (HJSON, ChatrixCD's layout or ours), through the very code the binary runs:
//! `app/src/config.rs` with its access (`access_config.rs`: admins, roles, grants and their
//! windows) and webhook (`webhook_config.rs`: hooks, ranges, templates, secrets) checks,
//! compiled here from their files: the `app` crate itself pulls in matrix-sdk. Any text, with
//! or without secrets in the environment: a configuration or the list of its problems, never a
//! panic; a file that fails says why; and every secret the configuration holds (Matrix
//! password, token and store passphrase, instance tokens, alert and hook secrets) is among
//! those handed to the redactor.
//!
//! Input: a first byte (its low bit: the environment holds every secret variable), then the
//! file. A file naming anything but small regular files (a device, a FIFO, `/proc`) is skipped:
//! the checks read the files a configuration names.
#![no_main]

include!("common/app_config.rs");

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    panics::let_hjson_reader_panics_be_caught();
    let Some((&knobs, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if !files::harmless(text) {
        return;
    }
    let from_env = knobs & 1 == 1;
    let env = |name: &str| from_env.then(|| format!("{}-0123456789abcdef0123456789abcdef", name.to_lowercase()));
    match config::parse_with(text, &env) {
        Ok((config, warnings)) => {
            warnings.iter().for_each(|w| drop(w.to_string()));
            let secrets = config.secrets();
            let m = &config.raw.matrix;
            let given = [&m.password, &m.access_token, &m.store_passphrase]
                .into_iter()
                .flatten()
                .cloned()
                .chain(config.instances.iter().map(|i| i.token.clone()))
                .chain(config.instances.iter().filter_map(|i| i.alert_secret.clone()))
                .chain(config.webhooks.iter().flat_map(|w| w.hooks.iter().map(|h| h.secret.clone())));
            for secret in given.filter(|s| !s.trim().is_empty()) {
                assert!(secrets.contains(&secret), "a secret the redactor is not told of");
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a reason");
            problems.iter().for_each(|p| drop(p.to_string()));
        }
    }
});
