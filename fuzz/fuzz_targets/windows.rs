//! Grant time windows as operators write them (`Mon-Fri 08:00-18:00 Europe/Berlin`). Any text:
//! no panic, and what reads back prints back to an equal window.
#![no_main]

use chatrixcd_domain::windows::Window;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(window) = Window::parse(text) {
        let printed = window.to_string();
        assert_eq!(Window::parse(&printed).ok(), Some(window), "{text:?} printed as {printed:?}");
    }
});
