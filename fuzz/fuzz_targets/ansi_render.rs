//! Task output is whatever the playbook printed: rendering and stripping it never panics, and
//! every rendered line stays balanced.
#![no_main]

use chatrixcd_domain::render::ansi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let html = ansi::to_html(&text);
    for line in html.split('\n') {
        assert_eq!(line.matches("<span").count(), line.matches("</span>").count());
    }
    let _ = ansi::strip(&text);
});
