//! Task output through the log renderer: Ansible banners and recap rows, Terraform boxes, the
//! pager. Whatever the playbook printed, nothing panics, every selected line lands on exactly one
//! page, pages keep to their budget, and every page's HTML is balanced.
#![no_main]

use chatrixcd_domain::render::log::{Layout, LogDocument, Selection, json_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let lines: Vec<&str> = text.split('\n').collect();
    let doc = LogDocument::new(&lines);
    let _ = doc.summary();
    let budget = 8_192 + usize::from(knobs) * 64;
    let (selection, layout) = if knobs & 1 == 0 {
        (Selection::Range(usize::from(knobs >> 4).min(lines.len())..lines.len()), Layout::Structured)
    } else {
        (Selection::Lines((0..lines.len()).filter(|n| n % 3 != 0).collect()), Layout::Flat)
    };
    let wanted = selection.len();
    let paged = doc.paginate(selection, layout, budget);
    let mut shown = 0;
    for n in 0..paged.page_count() {
        let page = doc.render_page(&paged, n).expect("every counted page renders");
        assert_eq!(page.cost, json_len(&page.plain) + json_len(&page.html));
        assert!(page.cost <= budget, "page {n} costs {} > {budget}", page.cost);
        for tag in ["pre", "code", "table", "tbody", "thead", "tr", "td", "th", "details", "summary", "span", "b", "h4"] {
            let open = page.html.matches(&format!("<{tag}>")).count() + page.html.matches(&format!("<{tag} ")).count();
            assert_eq!(open, page.html.matches(&format!("</{tag}>")).count(), "<{tag}> on page {n}");
        }
        shown += page.line_count;
    }
    assert_eq!(shown, wanted);
});
