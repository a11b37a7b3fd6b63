//! No path from chat: the bot reads and writes files only where the operator's configuration
//! says (config.json, messages.json, aliases.json, the key file, the data directory), never
//! where a message says. What chat input reaches is the names of the files the bot uploads
//! (logs, history and audit exports, charts): those are made by the bot from ids and fixed
//! words, whatever was typed, so a client that saves an upload under its name saves it where
//! its user chose, as `task-42.log`, never as `../../.bashrc`.

use chrono::Duration;
use proptest::prelude::*;

use crate::testing::{Harness, Posted, admin};

/// A file name a client may save as it is: one plain component.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn upload_names(h: &Harness) -> Vec<String> {
    h.chat
        .take()
        .into_iter()
        .filter_map(|p| match p {
            Posted::Upload(f) => Some(f.file_name),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_file_the_bot_uploads_has_a_name_of_its_own_making() {
    let h = Harness::two_instances().await;
    h.say(&admin(), "!cd run staging:ops:deploy-web --yes").await;
    h.advance(Duration::seconds(60)).await;
    h.chat.take();
    for command in
        ["!cd logs staging:1 --file", "!cd history --csv", "!cd history --json", "!cd audit --csv", "!cd stats week"]
    {
        h.say(&admin(), command).await;
    }
    let names = upload_names(&h);
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| plain(n)), "{names:?}");
    assert_eq!(names[0], "task-staging-1.log");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever word is typed where a command takes a task, a filter or a period, an upload's
    /// name is one plain component: traversal, separators and hidden names never reach it.
    #[test]
    fn no_typed_word_becomes_part_of_a_file_name(
        word in prop_oneof![
            Just("../../etc/passwd".to_owned()),
            Just("..\\\\..\\\\boot.ini".to_owned()),
            Just("/etc/shadow".to_owned()),
            Just(".bashrc".to_owned()),
            Just("staging:../../x".to_owned()),
            "[./\\\\a-z0-9:%~-]{1,24}",
        ],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let h = Harness::two_instances().await;
            h.say(&admin(), "!cd run ops deploy-web --yes").await;
            h.advance(Duration::seconds(60)).await;
            h.chat.take();
            for command in [
                format!("!cd logs {word} --file"),
                format!("!cd logs --file {word}"),
                format!("!cd history {word} --csv"),
                format!("!cd history --json --template {word}"),
                format!("!cd audit {word} --csv"),
                format!("!cd stats {word}"),
                format!("!cd stats week --template {word}"),
            ] {
                h.say(&admin(), &command).await;
            }
            for name in upload_names(&h) {
                assert!(plain(&name), "{word:?} -> {name:?}");
            }
        });
    }
}
