//! Panics the code under test catches itself. deser-hjson (2.2.6, the newest) panics on some
//! texts; `chatrixcd_domain::hjson::from_str` catches that and answers an error. libFuzzer's
//! panic hook aborts at every panic, before any catching, so for the targets that read HJSON the
//! hook lets those through to the catch: a panic anywhere else still aborts, and one of the
//! reader's that nothing catches still ends the input as a crash (libfuzzer-sys aborts on it).

use std::sync::Once;

pub fn let_hjson_reader_panics_be_caught() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|at| at.file().contains("/deser-hjson-")) {
                abort(info);
            }
        }));
    });
}
