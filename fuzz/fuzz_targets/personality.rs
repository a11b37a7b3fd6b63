//! Personality files (`messages.json`, HJSON) as operators write them: any text reads as a
//! personality or a clear error, never a panic. Every category keeps at least one phrase, and
//! every phrase picked, with the values the bot substitutes (display names people choose
//! themselves, so hostile ones), renders to HTML whose only markup is balanced `<strong>` pairs:
//! with them removed and the entities decoded, it is exactly the plain text.
#![no_main]

use chatrixcd_domain::personality::{Category, Personality};
#[path = "common/panics.rs"]
mod panics;

use libfuzzer_sys::fuzz_target;

/// What substitution sees from outside: markup, entities, braces and stars.
const VARS: [(&str, &str); 3] =
    [("name", "<b>**Mallory**</b> & {name}"), ("task_name", "deploy \"prod\" {task_name}"), ("user", "'**'")];

/// The entities `render::html::escape` writes, decoded in one pass.
fn unescape(html: &str) -> String {
    const ENTITIES: [(&str, char); 5] =
        [("&lt;", '<'), ("&gt;", '>'), ("&amp;", '&'), ("&quot;", '"'), ("&#39;", '\'')];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match ENTITIES.iter().find(|(e, _)| rest.starts_with(e)) {
            Some((entity, decoded)) => {
                out.push(*decoded);
                rest = &rest[entity.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    panics::let_hjson_reader_panics_be_caught();
    let text = String::from_utf8_lossy(data);
    let Ok(personality) = Personality::from_hjson(&text) else { return };
    let _ = personality.warnings();
    for category in Category::ALL {
        let phrases = personality.phrases(category).len();
        assert!(phrases > 0, "{category:?} has no phrase");
        for _ in 0..phrases.min(4) {
            let phrase = personality.pick(category, &VARS);
            let opened = phrase.html.matches("<strong>").count();
            assert_eq!(opened, phrase.html.matches("</strong>").count(), "{:?}", phrase.html);
            let bare = phrase.html.replace("<strong>", "").replace("</strong>", "");
            assert!(!bare.contains(['<', '>']), "markup from a phrase or a value: {:?}", phrase.html);
            assert_eq!(unescape(&bare), phrase.plain, "{:?}", phrase.html);
        }
    }
});
