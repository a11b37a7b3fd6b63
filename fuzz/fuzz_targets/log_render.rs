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
        let (open, close) = count_tags(&page.html);
        for (tag, (open, close)) in TAGS.iter().zip(open.into_iter().zip(close)) {
            assert_eq!(open, close, "<{tag}> on page {n}");
        }
        shown += page.line_count;
    }
    assert_eq!(shown, wanted);
});

const TAGS: [&str; 13] =
    ["pre", "code", "table", "tbody", "thead", "tr", "td", "th", "details", "summary", "span", "b", "h4"];

/// How many `<tag>` or `<tag …>` open and how many `</tag>` close each of `TAGS`, in one pass
/// (the renderer escapes every `<` of the text, so each one left starts a tag).
fn count_tags(html: &str) -> ([usize; 13], [usize; 13]) {
    let (mut open, mut close) = ([0; 13], [0; 13]);
    for (at, _) in html.match_indices('<') {
        let rest = &html[at + 1..];
        let (rest, counts, ends): (&str, &mut [usize; 13], &[char]) = match rest.strip_prefix('/') {
            Some(rest) => (rest, &mut close, &['>']),
            None => (rest, &mut open, &['>', ' ']),
        };
        for (i, tag) in TAGS.iter().enumerate() {
            if rest.strip_prefix(tag).and_then(|after| after.chars().next()).is_some_and(|c| ends.contains(&c)) {
                counts[i] += 1;
            }
        }
    }
    (open, close)
}
