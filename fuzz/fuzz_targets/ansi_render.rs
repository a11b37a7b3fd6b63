//! Task output is whatever the playbook printed: rendering and stripping it never panics, every
//! rendered line stays balanced, and measuring a line (what the log pager relies on instead of
//! rendering it) gives exactly the sizes of its rendering and of its stripped text.
#![no_main]

use chatrixcd_domain::render::ansi::{self, AnsiRenderer, LineCost};
use chatrixcd_domain::render::log::json_len;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let html = ansi::to_html(&text);
    for line in html.split('\n') {
        assert_eq!(line.matches("<span").count(), line.matches("</span>").count());
    }
    let _ = ansi::strip(&text);
    // Line by line, as the pager measures, with the style carried from one line to the next.
    let (mut rendering, mut measuring) = (AnsiRenderer::new(), AnsiRenderer::new());
    let mut buf = String::new();
    for line in text.split('\n') {
        let (mut line_html, mut line_plain) = (String::new(), String::new());
        rendering.render_line_and_strip(line, &mut line_html, &mut line_plain);
        let (measured_plain, cost) = measuring.measure_line(line, &mut buf);
        assert_eq!(measured_plain, line_plain);
        assert_eq!(cost, LineCost { plain: json_len(&line_plain), html: json_len(&line_html) });
    }
});
