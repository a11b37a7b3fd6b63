//! The renderer's behaviour on real logs (snapshots), its page invariants on any log
//! (proptests), and the measuring the pager relies on.

use super::*;
use crate::render::Reply;
use proptest::prelude::*;

/// The snapshots were written when these tests lived in `render/log.rs`; they stay beside the
/// other renderers' snapshots rather than move with the file.
fn snapshots() -> impl Sized {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.bind_to_scope()
}

const ANSIBLE: &str = include_str!("../testdata/ansible.log");
const TERRAFORM_PLAN: &str = include_str!("../testdata/terraform_plan.log");
const TERRAFORM_APPLY: &str = include_str!("../testdata/terraform_apply.log");
const SHELL: &str = include_str!("../testdata/shell.log");

fn lines(text: &str) -> Vec<&str> {
    text.strip_suffix('\n').unwrap_or(text).split('\n').collect()
}

/// The whole log on one page.
fn whole(text: &str) -> (Page, LogSummary) {
    let lines = lines(text);
    let doc = LogDocument::new(&lines);
    let paged = doc.paginate(Selection::Range(0..lines.len()), Layout::Structured, 1 << 20);
    assert_eq!(paged.page_count(), 1);
    let page = doc.render_page(&paged, 0).unwrap();
    assert_eq!(page.line_count, lines.len());
    (page, doc.summary().clone())
}

/// The summary as the `logs` header shows it, plain then HTML.
fn described(summary: &LogSummary) -> String {
    let reply = summary.describe(Reply::notice());
    format!("{}\n----\n{}", reply.plain(), reply.html())
}

const ALLOWED: &[&str] = &[
    "font",
    "del",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "p",
    "a",
    "ul",
    "ol",
    "sup",
    "sub",
    "li",
    "b",
    "i",
    "u",
    "strong",
    "em",
    "s",
    "code",
    "hr",
    "br",
    "div",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "caption",
    "pre",
    "span",
    "img",
    "details",
    "summary",
];
const BLOCKS: &[&str] = &["pre", "table", "h4", "details", "p"];

/// Checks that `html` is balanced, uses only the tags and attributes the Matrix spec allows,
/// puts block elements only at the top or inside `<details>`, and escapes all text.
fn check_html(html: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = html;
    loop {
        let text_end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..text_end];
        if text.contains('>') || text.contains('"') {
            return Err(format!("unescaped text {text:?}"));
        }
        for (at, _) in text.match_indices('&') {
            let entity = &text[at..];
            if !["&lt;", "&gt;", "&amp;", "&quot;", "&#39;"].iter().any(|e| entity.starts_with(e)) {
                return Err(format!("bare ampersand in {text:?}"));
            }
        }
        if text_end == rest.len() {
            break;
        }
        let Some(end) = rest[text_end..].find('>') else {
            return Err("unterminated tag".into());
        };
        let tag = &rest[text_end + 1..text_end + end];
        rest = &rest[text_end + end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop() != Some(name) {
                return Err(format!("</{name}> closes nothing open"));
            }
            continue;
        }
        let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        if !ALLOWED.contains(&name) {
            return Err(format!("<{name}> is not allowed"));
        }
        if !attrs.is_empty() {
            for attr in attrs.split(' ') {
                let (key, value) = attr.split_once('=').ok_or(format!("odd attribute {attr:?}"))?;
                let colour = value.len() == 9
                    && value.starts_with("\"#")
                    && value.ends_with('"')
                    && value[2..8].bytes().all(|b| b.is_ascii_hexdigit());
                if !(matches!(name, "span" | "font") && matches!(key, "data-mx-color" | "data-mx-bg-color") && colour) {
                    return Err(format!("attribute {attr:?} on <{name}>"));
                }
            }
        }
        if BLOCKS.contains(&name) && stack.iter().any(|open| *open != "details") {
            return Err(format!("<{name}> inside <{}>", stack.join("><")));
        }
        if !matches!(name, "br" | "hr" | "img") {
            stack.push(name);
        }
    }
    if stack.is_empty() { Ok(()) } else { Err(format!("left open: {stack:?}")) }
}

#[test]
fn ansible_log_renders_with_headings_folds_and_a_recap_table() {
    let _snapshots = snapshots();
    let (page, summary) = whole(ANSIBLE);
    check_html(&page.html).unwrap();
    assert_eq!(page.cost, json_len(&page.plain) + json_len(&page.html));
    assert!(page.html.contains("<h4>PLAY [Deploy web tier]</h4>"));
    assert!(page.html.contains("<details><summary><b>TASK [common : Install base packages]</b> · 24 lines</summary>"));
    assert!(page.html.contains("<td><span data-mx-color=\"#cc0000\"><b>web-02</b></span></td>"));
    assert_eq!(
        summary.recap,
        Some(RecapTotals {
            hosts: 4,
            failed: 2,
            unreachable: 1,
            named: vec!["web-02".into(), "web-03".into(), "db-01".into()]
        })
    );
    insta::assert_snapshot!("ansible_html", page.html);
    insta::assert_snapshot!("ansible_plain", page.plain);
    insta::assert_snapshot!("ansible_summary", described(&summary));
}

#[test]
fn terraform_plan_shows_its_summary() {
    let _snapshots = snapshots();
    let (page, summary) = whole(TERRAFORM_PLAN);
    check_html(&page.html).unwrap();
    assert_eq!(summary.outcomes, ["Plan: 1 to add, 1 to change, 1 to destroy."]);
    assert_eq!((summary.errors, summary.warnings), (0, 1));
    insta::assert_snapshot!("terraform_plan_html", page.html);
    insta::assert_snapshot!("terraform_plan_plain", page.plain);
    insta::assert_snapshot!("terraform_plan_summary", described(&summary));
}

#[test]
fn terraform_apply_highlights_the_error_box() {
    let _snapshots = snapshots();
    let (page, summary) = whole(TERRAFORM_APPLY);
    check_html(&page.html).unwrap();
    assert_eq!(summary.outcomes, ["Apply complete! Resources: 1 added, 1 changed, 1 destroyed."]);
    assert_eq!(summary.errors, 2, "the box and Semaphore's last line");
    insta::assert_snapshot!("terraform_apply_html", page.html);
    insta::assert_snapshot!("terraform_apply_plain", page.plain);
}

#[test]
fn shell_output_gets_generic_highlighting() {
    let _snapshots = snapshots();
    let (page, summary) = whole(SHELL);
    check_html(&page.html).unwrap();
    let doc_lines = lines(SHELL);
    let doc = LogDocument::new(&doc_lines);
    let marked = |e: Emphasis| -> Vec<&str> {
        (0..doc_lines.len()).filter(|&n| doc.emphasis(n) == Some(e)).map(|n| doc_lines[n]).collect()
    };
    assert_eq!(
        marked(Emphasis::Warning),
        [
            "pg_dump: warning: there are circular foreign-key constraints on this table:",
            "WARNING: skipping table \"audit_log\": permission denied"
        ]
    );
    assert_eq!(marked(Emphasis::Error).len(), 7, "{:?}", marked(Emphasis::Error));
    assert_eq!((summary.errors, summary.warnings), (7, 2));
    insta::assert_snapshot!("shell_html", page.html);
    insta::assert_snapshot!("shell_plain", page.plain);
}

#[test]
fn highlighting_is_anchored_where_tools_put_it() {
    let cases: &[(&str, Emphasis)] = &[
        ("fatal: [db]: FAILED! => {}", Emphasis::Error),
        ("failed: [db] (item=x) => {}", Emphasis::Error),
        ("ERROR! the playbook: site.yml could not be found", Emphasis::Error),
        ("error[E0425]: cannot find value `x`", Emphasis::Error),
        ("npm ERR! code ELIFECYCLE", Emphasis::Error),
        ("java.lang.IllegalStateException: boom", Emphasis::Error),
        ("Error: Invalid reference", Emphasis::Error),
        ("[WARNING]: Could not match supplied host pattern", Emphasis::Warning),
        ("[DEPRECATION WARNING]: x", Emphasis::Warning),
        ("warning: unused variable", Emphasis::Warning),
        ("W: Some index files failed to download", Emphasis::Warning),
        ("Plan: 1 to add, 0 to change, 0 to destroy.", Emphasis::Strong),
        ("ok: [web] => (item=error-pages)", Emphasis::Plain),
        ("TASK [Install error pages] ***", Emphasis::Plain),
        ("changed: [web] => {\"failed\": false}", Emphasis::Plain),
        ("warnings are off", Emphasis::Plain),
        ("curl: (6) Could not resolve host: x", Emphasis::Error),
        ("bash: line 1: deploy: command not found", Emphasis::Error),
        ("ok: [web] => {\"msg\": \"Permission denied is a phrase\"}", Emphasis::Plain),
    ];
    for (line, expected) in cases {
        assert_eq!(classify(line), *expected, "{line:?}");
    }
}

#[test]
fn a_broken_recap_row_falls_back_to_a_plain_line() {
    let log = [
        "PLAY RECAP ***",
        "web-01 : ok=1 changed=0 unreachable=0 failed=0",
        "web-02 : ok=1 changed=0 unreach",
        "web-03 : ok=2 changed=1 unreachable=0 failed=0 skipped=0",
    ];
    let doc = LogDocument::new(&log);
    let paged = doc.paginate(Selection::Range(0..4), Layout::Structured, 1 << 16);
    let page = doc.render_page(&paged, 0).unwrap();
    check_html(&page.html).unwrap();
    assert_eq!(page.html.matches("<table>").count(), 2, "{}", page.html);
    assert!(page.html.contains("<pre><code>web-02 : ok=1 changed=0 unreach</code></pre>"), "{}", page.html);
    assert_eq!(
        page.plain,
        "PLAY RECAP ***\nweb-01 : ok=1    changed=0    unreachable=0    failed=0\nweb-02 : ok=1 changed=0 unreach\nweb-03 : ok=2    changed=1    unreachable=0    failed=0    skipped=0"
    );
    assert_eq!(doc.summary().recap.as_ref().map(|r| r.hosts), Some(2));
}

/// Pages the whole selection and checks what must hold for every page.
fn check_pages<L: Lines + ?Sized>(
    doc: &LogDocument<'_, L>,
    selection: Selection,
    layout: Layout,
    budget: usize,
) -> Vec<Page> {
    let wanted: Vec<usize> = (0..selection.len()).map(|p| selection.get(p)).collect();
    let paged = doc.paginate(selection, layout, budget);
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    for n in 0..paged.page_count() {
        let page = doc.render_page(&paged, n).unwrap();
        assert_eq!(page.cost, json_len(&page.plain) + json_len(&page.html));
        assert!(page.cost <= budget || page.line_count == 1, "page {n} costs {} > {budget}", page.cost);
        if let Err(e) = check_html(&page.html) {
            panic!("page {n}: {e}\n{}", page.html);
        }
        let positions = paged.positions(n).unwrap();
        seen.extend(positions.map(|p| paged.selection.get(p)));
        pages.push(page);
    }
    assert!(doc.render_page(&paged, paged.page_count()).is_none());
    assert_eq!(seen, wanted, "every selected line exactly once, in order");
    pages
}

#[test]
fn pages_cover_every_line_once_and_stay_within_budget() {
    let log = lines(ANSIBLE).repeat(40);
    let doc = LogDocument::new(&log);
    let pages = check_pages(&doc, Selection::Range(0..log.len()), Layout::Structured, 8_192);
    assert!(pages.len() > 10);
    // Plain text keeps the lines in order: continuation titles aside, the pages add up to
    // the log.
    let continued =
        pages[1..].iter().filter(|p| p.plain.lines().next().is_some_and(|l| l.ends_with(" (continued)"))).count();
    assert!(continued > 0);
    let total: usize = pages.iter().map(|p| p.plain.split('\n').count()).sum();
    assert_eq!(total, log.len() + continued);
    let tail = log.len() - 30..log.len();
    check_pages(&doc, Selection::Range(tail), Layout::Structured, 8_192);
    let errors: Vec<usize> = (0..log.len()).filter(|&n| doc.emphasis(n) == Some(Emphasis::Error)).collect();
    check_pages(&doc, Selection::Lines(errors), Layout::Flat, 8_192);
}

#[test]
fn a_page_starting_inside_a_folded_task_reopens_it() {
    let mut log = vec!["TASK [long] ***".to_owned()];
    log.extend((0..400).map(|i| format!("\x1b[0;32mok: [web-{i:03}]\x1b[0m")));
    let doc = LogDocument::new(&log);
    let pages = check_pages(&doc, Selection::Range(0..log.len()), Layout::Structured, 8_192);
    assert!(pages.len() >= 2);
    assert!(
        pages[1].html.starts_with("<details><summary><b>TASK [long]</b> (continued) · 400 lines</summary><pre><code>")
    );
    assert!(pages[1].plain.starts_with("TASK [long] (continued)\nok: [web-"));
}

#[test]
fn a_colour_set_before_the_page_still_shows_on_it() {
    let log = ["\x1b[31mred starts", "still red", "and red\x1b[0m"];
    let doc = LogDocument::new(&log);
    let paged = doc.paginate(Selection::Lines(vec![2]), Layout::Flat, 1 << 16);
    let page = doc.render_page(&paged, 0).unwrap();
    assert_eq!(page.html, "<pre><code><span data-mx-color=\"#cc0000\">and red</span></code></pre>");
}

#[test]
fn a_huge_line_is_cut_to_fit_and_marked() {
    let huge = format!("\x1b[33m{}\x1b[0m", "\"<&>' ".repeat(20_000));
    let log = ["before", huge.as_str(), "after"];
    let doc = LogDocument::new(&log);
    let pages = check_pages(&doc, Selection::Range(0..3), Layout::Structured, 8_192);
    assert!(pages.iter().all(|p| p.cost <= 8_192));
    assert!(pages.iter().any(|p| p.plain.contains(" …[line cut]")));
    let huge_banner = format!("TASK [{}] ***", "x".repeat(10_000));
    let log = [huge_banner.as_str(), "ok: [a]"];
    let doc = LogDocument::new(&log);
    check_pages(&doc, Selection::Range(0..2), Layout::Structured, 8_192);
}

#[test]
fn an_empty_selection_is_one_empty_page() {
    let log: [&str; 0] = [];
    let doc = LogDocument::new(&log);
    let paged = doc.paginate(Selection::Range(0..0), Layout::Structured, 1 << 16);
    assert_eq!(paged.page_count(), 1);
    let page = doc.render_page(&paged, 0).unwrap();
    assert_eq!((page.plain.as_str(), page.html.as_str(), page.line_count), ("", "", 0));
}

fn log_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("PLAY [p] ***".to_owned()),
        "TASK \\[[a-z :<]{0,12}\\] \\*{3,8}",
        Just("RUNNING HANDLER [h] ****".to_owned()),
        Just("PLAY RECAP ****".to_owned()),
        "[a-z0-9:.-]{1,10} +: ok=[0-9] changed=[0-9] unreachable=[0-9] failed=[0-9]( skipped=[0-9])?",
        "[a-z]{1,5} : ok=[0-9x]? changed=",
        "\x1b\\[0;3[1-3]m(fatal|failed|ok|changed): \\[[a-z]{1,4}\\][ -~]{0,20}\x1b\\[0m",
        "\\[(DEPRECATION )?WARNING\\]: [ -~]{0,20}",
        Just("╷".to_owned()),
        "│ (Error|Warning)?: ?[ -~]{0,12}",
        Just("╵".to_owned()),
        Just("Plan: 1 to add, 2 to change, 0 to destroy.".to_owned()),
        Just("Apply complete! Resources: 1 added, 0 changed, 0 destroyed.".to_owned()),
        Just(String::new()),
        Just("   ".to_owned()),
        "[\\PC\x1b]{0,30}",
        "\x1b\\[[0-9;:]{0,10}m[ -~]{0,10}",
        "[\"'<>&\\\\\t ]{0,20}",
        (1usize..6_000).prop_map(|n| "\"x<".repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_log_pages_into_balanced_allowed_html_within_budget(
        log in prop::collection::vec(log_line(), 0..60),
        budget in 8_192usize..20_000,
        flat in any::<bool>(),
        keep in prop::collection::vec(any::<bool>(), 60),
    ) {
        let doc = LogDocument::new(&log);
        let layout = if flat { Layout::Flat } else { Layout::Structured };
        let selection = if flat {
            Selection::Lines((0..log.len()).filter(|&n| keep[n]).collect())
        } else {
            Selection::Range(keep.iter().take_while(|k| !**k).count().min(log.len())..log.len())
        };
        let pages = check_pages(&doc, selection, layout, budget);
        for page in &pages {
            prop_assert!(page.cost <= budget, "{} > {budget}", page.cost);
        }
        let _ = doc.summary().describe(Reply::notice());
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let log: Vec<&str> = text.split('\n').collect();
        let doc = LogDocument::new(&log);
        check_pages(&doc, Selection::Range(0..log.len()), Layout::Structured, 8_192);
    }
}

#[test]
fn the_analysis_keeps_eight_bytes_a_line() {
    assert_eq!(std::mem::size_of::<document::LineInfo>(), 8);
}

#[test]
fn a_colour_carried_over_hundreds_of_lines_shows_on_every_page() {
    // Colours change every few hundred lines and are never reset at a line's end, so pages
    // start far from the last colour code and from the analysis' notes.
    let log: Vec<String> = (0..3_000)
        .map(|n| match n % 700 {
            0 => format!("\x1b[3{}mline {n}", n / 700 % 8),
            350 => format!("\x1b[1mline {n}\x1b[22m"),
            _ => format!("line {n}"),
        })
        .collect();
    let doc = LogDocument::new(&log);
    let html = crate::render::ansi::to_html_lines(&log.join("\n"));
    let every: Vec<usize> = (0..log.len()).collect();
    let paged = doc.paginate(Selection::Lines(every), Layout::Flat, 8_192);
    assert!(paged.page_count() > 10);
    for n in 0..paged.page_count() {
        let page = doc.render_page(&paged, n).unwrap();
        let expected = format!("<pre><code>{}</code></pre>", html[page.first_line..=page.last_line].join("\n"));
        assert_eq!(page.html, expected, "page {n}");
    }
    // Lines far apart: each page's first line gets its colour from a note, not from the line
    // before it on the page.
    let sparse: Vec<usize> = (0..log.len()).filter(|n| n % 601 == 5).collect();
    let paged = doc.paginate(Selection::Lines(sparse.clone()), Layout::Flat, 8_192);
    let page = doc.render_page(&paged, 0).unwrap();
    let expected: Vec<&str> = sparse.iter().map(|&n| html[n].as_str()).collect();
    assert_eq!(page.html, format!("<pre><code>{}</code></pre>", expected.join("\n")));
}

#[test]
fn a_line_too_big_to_keep_its_cost_is_measured_again() {
    // 3 MB of quotes cost 6 MB as plain text and 18 MB as HTML: more than 24 bits hold.
    let huge = format!("\x1b[31m{}", "\"".repeat(3_000_000));
    let log = ["before", huge.as_str(), "after"];
    let doc = LogDocument::new(&log);
    assert_eq!(doc.cost(1), 2 * 3_000_000 + 6 * 3_000_000 + json_len("<span data-mx-color=\"#cc0000\"></span>"));
    let pages = check_pages(&doc, Selection::Range(0..3), Layout::Structured, 8_192);
    assert!(pages.iter().any(|p| p.plain.contains(" …[line cut]")));
}
