//! Task logs as Matrix messages: Ansible, Terraform and shell output recognised, rendered as
//! HTML with a plain-text twin, and cut into pages that each fit in one event.
//!
//! Three steps, so that a 100 MB log never needs its rendered form in memory:
//!
//! 1. [`LogDocument::new`] reads every line once and keeps a few bytes per line: what the line is
//!    (banner, recap row, error...) and which section it belongs to, plus a [`LogSummary`].
//! 2. [`LogDocument::paginate`] renders the selected lines into a writer that only counts bytes,
//!    and starts a new page when the next line would not fit. It keeps, per page, where it starts
//!    and the ANSI style in force there.
//! 3. [`LogDocument::render_page`] renders one page for real, with the same writer code, so the
//!    page has exactly the size the pager measured.
//!
//! Sizes are counted as JSON-escaped bytes, which is what the text costs in the event: a quote or
//! a tab takes two bytes there.
//!
//! The HTML of a page is always balanced on its own, whatever the cut: a page that starts inside a
//! section opens it again with a "(continued)" title. Plain text keeps every selected line as it
//! was printed (recap rows are realigned); HTML drops only blank lines at the edges of a block.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::Reply;
use super::ansi::{self, AnsiRenderer};
use super::ansible::{self, Banner, RECAP_COLUMNS, RecapRow};
use super::html::escape;
use super::terraform::{self, BoxLine, Outcome, Severity};

/// A task section with more non-blank lines than this is folded into `<details>`.
pub const COLLAPSE_AFTER: usize = 8;
/// Banners and recap rows longer than this are shown as ordinary lines: it bounds what a
/// repeated title costs on every page.
const STRUCTURE_MAX: usize = 300;
/// Characters of a title shown in headings and summaries.
const TITLE_MAX: usize = 200;
/// Failed or unreachable hosts named in the summary; more are counted.
const HOSTS_NAMED: usize = 5;

const RED: &str = "#cc0000";
const GREEN: &str = "#4e9a06";
const YELLOW: &str = "#c4a000";

/// How a line is highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emphasis {
    Plain,
    Error,
    Warning,
    /// A summary worth seeing at a glance (Terraform's `Plan:` line).
    Strong,
}

impl Emphasis {
    fn tags(self) -> (&'static str, &'static str) {
        match self {
            Emphasis::Plain => ("", ""),
            Emphasis::Error => ("<span data-mx-color=\"#cc0000\"><b>", "</b></span>"),
            Emphasis::Warning => ("<span data-mx-color=\"#c4a000\">", "</span>"),
            Emphasis::Strong => ("<b>", "</b>"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Banner,
    RecapRow,
    Blank,
    Code(Emphasis),
}

#[derive(Debug, Clone, Copy)]
struct LineInfo {
    kind: Kind,
    section: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SectionKind {
    /// What comes before the first banner: Semaphore's own lines, or a whole shell log.
    Preamble,
    Play,
    Task,
    Recap,
}

#[derive(Debug, Clone)]
struct Section {
    kind: SectionKind,
    /// The banner's line.
    header: usize,
    /// Non-blank lines after the banner.
    lines: usize,
    errors: usize,
    warnings: usize,
    /// Width of the widest host of a recap, for aligned plain rows.
    host_width: usize,
}

impl Section {
    fn new(kind: SectionKind, header: usize) -> Self {
        Self { kind, header, lines: 0, errors: 0, warnings: 0, host_width: 0 }
    }

    /// A long task is folded, unless something went wrong in it: a failure must be in sight.
    fn collapsed(&self) -> bool {
        self.kind == SectionKind::Task && self.lines > COLLAPSE_AFTER && self.errors == 0
    }
}

/// What a whole log says at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Lines highlighted as errors (a Terraform diagnostic box counts once).
    pub errors: usize,
    pub warnings: usize,
    /// Terraform's last plan, apply, destroy or no-change line of each kind, in log order.
    pub outcomes: Vec<String>,
    /// The last PLAY RECAP.
    pub recap: Option<RecapTotals>,
}

/// The last PLAY RECAP, summed up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecapTotals {
    pub hosts: usize,
    pub failed: usize,
    pub unreachable: usize,
    /// The first few hosts that failed or were unreachable.
    pub named: Vec<String>,
}

impl LogSummary {
    /// Appends the summary to a reply, one line per fact; nothing when there is nothing to say.
    pub fn describe(&self, mut reply: Reply) -> Reply {
        for outcome in &self.outcomes {
            reply = reply.line().bold(outcome);
        }
        if let Some(recap) = &self.recap {
            let hosts = plural(recap.hosts, "host");
            reply = reply.line().bold("PLAY RECAP").push(&format!(": {hosts} · "));
            if recap.failed == 0 && recap.unreachable == 0 {
                reply = reply.colored("all ok", GREEN);
            } else {
                let mut problems = Vec::new();
                if recap.failed > 0 {
                    problems.push(format!("{} failed", recap.failed));
                }
                if recap.unreachable > 0 {
                    problems.push(format!("{} unreachable", recap.unreachable));
                }
                let mut text = problems.join(", ");
                if !recap.named.is_empty() {
                    text.push_str(&format!(" ({}", recap.named.join(", ")));
                    let more = (recap.failed + recap.unreachable).saturating_sub(recap.named.len());
                    if more > 0 {
                        text.push_str(&format!(" and {more} more"));
                    }
                    text.push(')');
                }
                reply = reply.colored(&text, RED);
            }
        }
        reply
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// Cuts `text` to at most `max` characters, marking the cut.
fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// Errors from shells, compilers, package managers and Ansible, anchored where tools put them
/// so that a task merely *named* "error pages" stays plain.
static ERROR: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail.
    #[allow(clippy::expect_used)]
    Regex::new(
        r"^\s*(?:fatal:|failed:|ERROR!|\[ERROR\]|FATAL\b|E: |npm ERR!|Traceback \(most recent call last\)|panic:|An exception occurred|(?:[\w.-]+: )?(?i:error)(?:\[[^\]]*\])?:|[\w.]*(?:Error|Exception): )|^\s*curl: \(\d+\) |\b(?:FAILED|UNREACHABLE)! |\bfailed: exit (?:status|code)|: (?:Permission denied|No such file or directory|command not found)$",
    )
    .expect("literal regex")
});

static WARNING: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail.
    #[allow(clippy::expect_used)]
    Regex::new(
        r"^\s*(?:\[(?:DEPRECATION )?WARNING\]|(?:[\w.-]+: )?(?i:warning)(?:\[[^\]]*\])?:|WARN(?:ING)?\b|W: |\[WARN\])",
    )
    .expect("literal regex")
});

/// How a line outside any structure is highlighted.
pub fn classify(text: &str) -> Emphasis {
    if Outcome::parse(text).is_some() {
        return Emphasis::Strong;
    }
    match terraform::severity(text.trim_start()) {
        Some(Severity::Error) => return Emphasis::Error,
        Some(Severity::Warning) => return Emphasis::Warning,
        None => {}
    }
    if ERROR.is_match(text) {
        Emphasis::Error
    } else if WARNING.is_match(text) {
        Emphasis::Warning
    } else {
        Emphasis::Plain
    }
}

/// Which lines to show, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Consecutive lines (the whole log, or its tail).
    Range(Range<usize>),
    /// Chosen lines (a filter), ascending.
    Lines(Vec<usize>),
}

impl Selection {
    pub fn len(&self) -> usize {
        match self {
            Selection::Range(r) => r.len(),
            Selection::Lines(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, pos: usize) -> usize {
        match self {
            Selection::Range(r) => r.start + pos,
            Selection::Lines(v) => v[pos],
        }
    }
}

/// How the selected lines are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Headings, recap tables and folded sections: for a log read from start to end.
    Structured,
    /// One highlighted block: for filtered lines, whose sections are mostly missing.
    Flat,
}

/// Where a page starts, and the style the terminal had there.
#[derive(Debug, Clone)]
struct Start {
    pos: usize,
    style: AnsiRenderer,
}

/// A selection cut into pages; render them with [`LogDocument::render_page`].
#[derive(Debug, Clone)]
pub struct Paged {
    selection: Selection,
    layout: Layout,
    budget: usize,
    starts: Vec<Start>,
}

impl Paged {
    pub fn page_count(&self) -> usize {
        self.starts.len()
    }

    /// Positions in the selection that page `n` (from 0) shows.
    fn positions(&self, n: usize) -> Option<Range<usize>> {
        let start = self.starts.get(n)?.pos;
        let end = self.starts.get(n + 1).map_or(self.selection.len(), |s| s.pos);
        Some(start..end)
    }
}

/// One rendered page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The lines, one per selected line (plus a "(continued)" title when the page starts inside a
    /// section), joined by newlines; no fence.
    pub plain: String,
    /// Balanced Matrix HTML.
    pub html: String,
    /// Log line numbers (from 0) of the first and last line shown.
    pub first_line: usize,
    pub last_line: usize,
    /// Selected lines on the page.
    pub line_count: usize,
    /// `plain` and `html` as JSON-escaped bytes.
    pub cost: usize,
}

/// A log, read once.
#[derive(Debug)]
pub struct LogDocument<'a, S> {
    lines: &'a [S],
    info: Vec<LineInfo>,
    sections: Vec<Section>,
    summary: LogSummary,
}

impl<'a, S: AsRef<str>> LogDocument<'a, S> {
    /// Reads the structure of `lines` (already split, without their newlines).
    pub fn new(lines: &'a [S]) -> Self {
        let mut info = Vec::with_capacity(lines.len());
        let mut sections = vec![Section::new(SectionKind::Preamble, 0)];
        let mut summary = LogSummary::default();
        let mut outcomes: Vec<(Outcome, usize, String)> = Vec::new();
        // An open Terraform diagnostic box: its first line and, once named, its severity.
        let mut open_box: Option<(usize, Option<Severity>)> = None;
        for (i, line) in lines.iter().enumerate() {
            let stripped = ansi::strip(line.as_ref());
            let text = stripped.trim_end();
            let banner = if text.len() <= STRUCTURE_MAX { Banner::parse(text) } else { None };
            if let Some(banner) = banner {
                let kind = match banner {
                    Banner::Play(_) => SectionKind::Play,
                    Banner::Task(_) => SectionKind::Task,
                    Banner::Recap => {
                        summary.recap = Some(RecapTotals::default());
                        SectionKind::Recap
                    }
                };
                sections.push(Section::new(kind, i));
                info.push(LineInfo { kind: Kind::Banner, section: section_id(&sections) });
                open_box = None;
                continue;
            }
            let section_no = section_id(&sections);
            let Some(section) = sections.last_mut() else {
                // `sections` starts with the preamble and only grows.
                continue;
            };
            if text.trim_start().is_empty() {
                info.push(LineInfo { kind: Kind::Blank, section: section_no });
                continue;
            }
            section.lines += 1;
            if section.kind == SectionKind::Recap
                && text.len() <= STRUCTURE_MAX
                && let Some(row) = RecapRow::parse(text)
            {
                section.host_width = section.host_width.max(row.host.chars().count());
                if let Some(totals) = summary.recap.as_mut() {
                    totals.add(&row);
                }
                info.push(LineInfo { kind: Kind::RecapRow, section: section_no });
                continue;
            }
            let mut emphasis = match (BoxLine::parse(text), open_box) {
                (Some(BoxLine::Open), _) => {
                    open_box = Some((i, None));
                    Emphasis::Plain
                }
                (Some(BoxLine::Inside(named)), Some((start, severity))) => match (severity, named) {
                    (None, Some(named)) => {
                        // The box's severity is only known at its second line: colour what came
                        // before it too.
                        open_box = Some((start, Some(named)));
                        let emphasis = severity_emphasis(named);
                        for earlier in &mut info[start..] {
                            if let Kind::Code(e) = &mut earlier.kind {
                                *e = emphasis;
                            }
                        }
                        count(&mut summary, section, emphasis);
                        emphasis
                    }
                    (Some(known), _) => severity_emphasis(known),
                    (None, None) => Emphasis::Plain,
                },
                (Some(BoxLine::Close), Some((_, severity))) => {
                    open_box = None;
                    severity.map_or(Emphasis::Plain, severity_emphasis)
                }
                _ => {
                    open_box = None;
                    let emphasis = classify(text);
                    count(&mut summary, section, emphasis);
                    emphasis
                }
            };
            if let Some(outcome) = Outcome::parse(text) {
                outcomes.retain(|(o, _, _)| *o != outcome);
                outcomes.push((outcome, i, shorten(text.trim_start(), TITLE_MAX).into_owned()));
                emphasis = Emphasis::Strong;
            }
            info.push(LineInfo { kind: Kind::Code(emphasis), section: section_no });
        }
        summary.outcomes = outcomes.into_iter().map(|(_, _, text)| text).collect();
        Self { lines, info, sections, summary }
    }

    /// Heap bytes the analysis keeps: a few bytes per line, plus one record per section.
    pub fn index_bytes(&self) -> usize {
        self.info.capacity() * std::mem::size_of::<LineInfo>()
            + self.sections.capacity() * std::mem::size_of::<Section>()
            + self.summary.outcomes.iter().map(String::capacity).sum::<usize>()
    }

    pub fn summary(&self) -> &LogSummary {
        &self.summary
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// How line `n` is highlighted when shown on its own (`None` past the end).
    pub fn emphasis(&self, n: usize) -> Option<Emphasis> {
        self.info.get(n).map(|i| match i.kind {
            Kind::Code(e) => e,
            Kind::RecapRow | Kind::Banner | Kind::Blank => Emphasis::Plain,
        })
    }

    /// Cuts the selection into pages of at most `budget` JSON-escaped bytes each (plain and
    /// HTML together). Every selected line lands on exactly one page, in order. A page holds at
    /// least one line; a line too long for half a page is cut short, marked, and loses its
    /// colours, so a budget from about 8 KiB up is always kept.
    pub fn paginate(&self, selection: Selection, layout: Layout, budget: usize) -> Paged {
        let cap = budget / 2;
        let mut starts = Vec::new();
        let mut style = AnsiRenderer::new();
        let mut fed = 0;
        let mut scratch = String::new();
        let mut writer = Writer::new(layout, false);
        for pos in 0..selection.len() {
            let n = selection.get(pos);
            self.feed_until(&mut style, &mut fed, n, &mut scratch);
            let before = style.clone();
            let line = self.prepare(n, &mut style, &mut scratch, cap);
            fed = n + 1;
            let mut trial = writer.clone();
            trial.push(self, n, &line);
            if writer.lines > 0 && trial.cost + trial.closing_cost() > budget {
                starts.push(Start { pos, style: before });
                writer = Writer::new(layout, false);
                writer.push(self, n, &line);
            } else {
                if pos == 0 {
                    starts.push(Start { pos, style: before });
                }
                writer = trial;
            }
        }
        if starts.is_empty() {
            starts.push(Start { pos: 0, style: AnsiRenderer::new() });
        }
        Paged { selection, layout, budget, starts }
    }

    /// Renders page `n` (from 0) of a pagination of this document.
    pub fn render_page(&self, paged: &Paged, n: usize) -> Option<Page> {
        let positions = paged.positions(n)?;
        let start = paged.starts.get(n)?;
        let mut style = start.style.clone();
        let mut scratch = String::new();
        let mut writer = Writer::new(paged.layout, true);
        let mut fed = if positions.is_empty() { 0 } else { paged.selection.get(positions.start) };
        for pos in positions.clone() {
            let line_no = paged.selection.get(pos);
            self.feed_until(&mut style, &mut fed, line_no, &mut scratch);
            let line = self.prepare(line_no, &mut style, &mut scratch, paged.budget / 2);
            fed = line_no + 1;
            writer.push(self, line_no, &line);
        }
        writer.finish();
        let (first_line, last_line) = match positions.len() {
            0 => (0, 0),
            len => (paged.selection.get(positions.start), paged.selection.get(positions.start + len - 1)),
        };
        Some(Page {
            plain: writer.plain,
            html: writer.html,
            first_line,
            last_line,
            line_count: positions.len(),
            cost: writer.cost,
        })
    }

    /// Runs the lines before `until` that were not selected through the ANSI renderer, so a
    /// colour they set still shows on the next selected line.
    fn feed_until(&self, style: &mut AnsiRenderer, fed: &mut usize, until: usize, scratch: &mut String) {
        while *fed < until {
            let line = self.lines[*fed].as_ref();
            // Only an escape sequence can change the style.
            if line.as_bytes().contains(&0x1b) {
                scratch.clear();
                style.render_line(line, scratch);
            }
            *fed += 1;
        }
    }

    /// Line `n` in both forms. HTML is rendered into `scratch`; a line costing more than `cap`
    /// is cut, as plain escaped text.
    fn prepare<'s>(&'s self, n: usize, style: &mut AnsiRenderer, scratch: &'s mut String, cap: usize) -> Prepared<'s> {
        let raw = self.lines[n].as_ref();
        scratch.clear();
        style.render_line(raw, scratch);
        let plain = ansi::strip(raw);
        // The wrappers a line may get cost at most this much more.
        const WRAPPERS: usize = 96;
        if json_len(&plain) + json_len(scratch) + WRAPPERS <= cap {
            return Prepared { plain, html: Cow::Borrowed(scratch.as_str()) };
        }
        const MARK: &str = " …[line cut]";
        let room = cap.saturating_sub(WRAPPERS + 2 * (MARK.len() + 1));
        let mut used = 0;
        let mut end = 0;
        for (at, c) in plain.char_indices() {
            let cost = match c {
                '"' => 2 + 6,
                '\\' | '\t' => 2 + 1,
                '<' | '>' => 1 + 4,
                '&' => 1 + 5,
                '\'' => 1 + 5,
                c => 2 * c.len_utf8(),
            };
            if used + cost > room {
                break;
            }
            used += cost;
            end = at + c.len_utf8();
        }
        let cut = format!("{}{MARK}", &plain[..end]);
        let html = escape(&cut).into_owned();
        Prepared { plain: Cow::Owned(cut), html: Cow::Owned(html) }
    }

    /// The stripped banner line of section `id`.
    fn banner_text(&self, id: usize) -> Cow<'_, str> {
        let header = self.sections.get(id).map_or(0, |s| s.header);
        self.lines.get(header).map_or(Cow::Borrowed(""), |l| ansi::strip(l.as_ref()))
    }
}

fn section_id(sections: &[Section]) -> u32 {
    // A log has fewer sections than lines, and `logs` never holds 4 billion lines.
    u32::try_from(sections.len().saturating_sub(1)).unwrap_or(u32::MAX)
}

fn severity_emphasis(severity: Severity) -> Emphasis {
    match severity {
        Severity::Error => Emphasis::Error,
        Severity::Warning => Emphasis::Warning,
    }
}

fn count(summary: &mut LogSummary, section: &mut Section, emphasis: Emphasis) {
    match emphasis {
        Emphasis::Error => {
            summary.errors += 1;
            section.errors += 1;
        }
        Emphasis::Warning => {
            summary.warnings += 1;
            section.warnings += 1;
        }
        Emphasis::Plain | Emphasis::Strong => {}
    }
}

impl RecapTotals {
    fn add(&mut self, row: &RecapRow<'_>) {
        self.hosts += 1;
        if row.failed() {
            self.failed += 1;
        }
        if row.unreachable() {
            self.unreachable += 1;
        }
        if (row.failed() || row.unreachable()) && self.named.len() < HOSTS_NAMED {
            self.named.push(shorten(row.host, 64).into_owned());
        }
    }
}

/// A line ready to be written: its plain text and its HTML.
struct Prepared<'s> {
    plain: Cow<'s, str>,
    html: Cow<'s, str>,
}

/// Extra bytes JSON needs for each byte of a string.
static JSON_EXTRA: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = 5;
        b += 1;
    }
    table[b'"' as usize] = 1;
    table[b'\\' as usize] = 1;
    table[b'\n' as usize] = 1;
    table[b'\r' as usize] = 1;
    table[b'\t' as usize] = 1;
    table[0x08] = 1;
    table[0x0c] = 1;
    table
};

/// Length of `text` inside a JSON string.
pub fn json_len(text: &str) -> usize {
    text.len() + text.bytes().map(|b| usize::from(JSON_EXTRA[usize::from(b)])).sum::<usize>()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Pre,
    Table,
}

/// Writes (or, for the pager, only measures) one page.
#[derive(Debug, Clone)]
struct Writer {
    layout: Layout,
    write: bool,
    plain: String,
    html: String,
    cost: usize,
    block: Block,
    /// Non-blank lines written in the open `<pre>`.
    pre_lines: usize,
    /// Blank lines waiting for a next line in the same `<pre>`: at a block's end they are dropped.
    blanks: usize,
    /// The section whose heading is on the page.
    section: Option<u32>,
    details: bool,
    /// Selected lines written.
    lines: usize,
    plain_lines: usize,
}

const TABLE_HEAD: &str = "<table><thead><tr><th>Host</th><th>ok</th><th>changed</th><th>unreachable</th><th>failed</th><th>skipped</th><th>rescued</th><th>ignored</th></tr></thead><tbody>";

impl Writer {
    fn new(layout: Layout, write: bool) -> Self {
        Self {
            layout,
            write,
            plain: String::new(),
            html: String::new(),
            cost: 0,
            block: Block::None,
            pre_lines: 0,
            blanks: 0,
            section: None,
            details: false,
            lines: 0,
            plain_lines: 0,
        }
    }

    fn html(&mut self, text: &str) {
        self.cost += json_len(text);
        if self.write {
            self.html.push_str(text);
        }
    }

    fn plain_line(&mut self, text: &str) {
        if self.plain_lines > 0 {
            self.cost += 2;
            if self.write {
                self.plain.push('\n');
            }
        }
        self.plain_lines += 1;
        self.cost += json_len(text);
        if self.write {
            self.plain.push_str(text);
        }
    }

    /// What `finish` would still write.
    fn closing_cost(&self) -> usize {
        let block = match self.block {
            Block::None => 0,
            Block::Pre => "</code></pre>".len(),
            Block::Table => "</tbody></table>".len(),
        };
        block + if self.details { "</details>".len() } else { 0 }
    }

    fn close_block(&mut self) {
        match self.block {
            Block::None => {}
            Block::Pre => self.html("</code></pre>"),
            Block::Table => self.html("</tbody></table>"),
        }
        self.block = Block::None;
        self.blanks = 0;
        self.pre_lines = 0;
    }

    fn close_details(&mut self) {
        if self.details {
            self.close_block();
            self.html("</details>");
            self.details = false;
        }
    }

    fn finish(&mut self) {
        self.close_block();
        self.close_details();
    }

    fn push<S: AsRef<str>>(&mut self, doc: &LogDocument<'_, S>, n: usize, line: &Prepared<'_>) {
        self.lines += 1;
        let Some(info) = doc.info.get(n).copied() else {
            return;
        };
        if self.layout == Layout::Flat {
            match info.kind {
                Kind::Blank => self.blank(&line.plain),
                Kind::Banner => self.code(&line.plain, &line.html, Emphasis::Strong),
                Kind::RecapRow => self.code(&line.plain, &line.html, Emphasis::Plain),
                Kind::Code(emphasis) => self.code(&line.plain, &line.html, emphasis),
            }
            return;
        }
        if info.kind == Kind::Banner {
            self.heading(doc, info.section, None);
            return;
        }
        if self.section != Some(info.section) {
            let plain = doc.banner_text(info.section as usize);
            self.heading(doc, info.section, Some(&plain));
        }
        match info.kind {
            Kind::Blank => self.blank(&line.plain),
            Kind::RecapRow => match RecapRow::parse(line.plain.trim_end()) {
                Some(row) => {
                    let width = doc.sections.get(info.section as usize).map_or(0, |s| s.host_width);
                    self.row(&row, width);
                }
                None => self.code(&line.plain, &line.html, Emphasis::Plain),
            },
            Kind::Code(emphasis) => self.code(&line.plain, &line.html, emphasis),
            Kind::Banner => {}
        }
    }

    /// Opens section `id`: at its banner (`continued` is `None`), or on a page that starts inside
    /// it (`continued` is its banner's text).
    fn heading<S: AsRef<str>>(&mut self, doc: &LogDocument<'_, S>, id: u32, continued: Option<&str>) {
        self.close_details();
        self.section = Some(id);
        let Some(section) = doc.sections.get(id as usize) else {
            return;
        };
        let banner = match continued {
            Some(text) => Cow::Borrowed(text),
            None => doc.banner_text(id as usize),
        };
        let title = shorten(ansible::banner_title(&banner), TITLE_MAX).into_owned();
        let suffix = if continued.is_some() { " (continued)" } else { "" };
        let plain = match continued {
            Some(_) => format!("{title}{suffix}"),
            None => banner.trim_end().to_owned(),
        };
        match section.kind {
            SectionKind::Preamble => {}
            // A play's own lines are mostly blank: a page starting among them needs no title.
            SectionKind::Play if continued.is_some() => {}
            SectionKind::Play | SectionKind::Recap => {
                self.close_block();
                self.plain_line(&plain);
                self.html("<h4>");
                self.html(&escape(&title));
                self.html(suffix);
                self.html("</h4>");
            }
            SectionKind::Task if section.collapsed() => {
                self.close_block();
                self.plain_line(&plain);
                self.html("<details><summary><b>");
                self.html(&escape(&title));
                self.html("</b>");
                self.html(suffix);
                self.html(&format!(" · {}", plural(section.lines, "line")));
                if section.warnings > 0 {
                    self.html(&format!(" · ⚠️ {}", plural(section.warnings, "warning")));
                }
                self.html("</summary>");
                self.details = true;
            }
            SectionKind::Task => {
                let html = format!("{}{suffix}", escape(&title));
                self.code(&plain, &html, Emphasis::Strong);
            }
        }
    }

    fn blank(&mut self, plain: &str) {
        self.plain_line(plain.trim_end());
        if self.block == Block::Pre && self.pre_lines > 0 {
            self.blanks += 1;
        }
    }

    fn code(&mut self, plain: &str, html: &str, emphasis: Emphasis) {
        self.plain_line(plain);
        if self.block != Block::Pre {
            self.close_block();
            self.html("<pre><code>");
            self.block = Block::Pre;
        }
        if self.pre_lines > 0 {
            self.cost += 2 * (self.blanks + 1);
            if self.write {
                self.html.extend(std::iter::repeat_n('\n', self.blanks + 1));
            }
        }
        self.blanks = 0;
        self.pre_lines += 1;
        let (open, close) = emphasis.tags();
        self.html(open);
        self.html(html);
        self.html(close);
    }

    fn row(&mut self, row: &RecapRow<'_>, host_width: usize) {
        let width = host_width.min(40);
        let mut plain = format!("{:<width$} :", row.host);
        for (name, count) in RECAP_COLUMNS.iter().zip(row.counts) {
            if let Some(count) = count {
                plain.push_str(&format!(" {name}={count:<4}"));
            }
        }
        let mut plain = plain.trim_end().to_owned();
        if row.failed() {
            plain.push_str("  ← failed");
        } else if row.unreachable() {
            plain.push_str("  ← unreachable");
        }
        self.plain_line(&plain);
        if self.block != Block::Table {
            self.close_block();
            self.html(TABLE_HEAD);
            self.block = Block::Table;
        }
        let bad = row.failed() || row.unreachable();
        let mut html = String::with_capacity(256);
        html.push_str("<tr><td>");
        if bad {
            html.push_str("<span data-mx-color=\"#cc0000\"><b>");
        }
        html.push_str(&escape(row.host));
        if bad {
            html.push_str("</b></span>");
        }
        html.push_str("</td>");
        for (i, count) in row.counts.iter().enumerate() {
            html.push_str("<td>");
            match count {
                None => html.push('–'),
                Some(0) => html.push('0'),
                Some(n) => {
                    let colour = match RECAP_COLUMNS[i] {
                        "ok" => Some(GREEN),
                        "changed" => Some(YELLOW),
                        "failed" | "unreachable" => Some(RED),
                        _ => None,
                    };
                    match colour {
                        Some(colour) => html.push_str(&format!("<span data-mx-color=\"{colour}\">{n}</span>")),
                        None => html.push_str(&n.to_string()),
                    }
                }
            }
            html.push_str("</td>");
        }
        html.push_str("</tr>");
        self.html(&html);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ANSIBLE: &str = include_str!("testdata/ansible.log");
    const TERRAFORM_PLAN: &str = include_str!("testdata/terraform_plan.log");
    const TERRAFORM_APPLY: &str = include_str!("testdata/terraform_apply.log");
    const SHELL: &str = include_str!("testdata/shell.log");

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
                    if !(matches!(name, "span" | "font")
                        && matches!(key, "data-mx-color" | "data-mx-bg-color")
                        && colour)
                    {
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
        let (page, summary) = whole(ANSIBLE);
        check_html(&page.html).unwrap();
        assert_eq!(page.cost, json_len(&page.plain) + json_len(&page.html));
        assert!(page.html.contains("<h4>PLAY [Deploy web tier]</h4>"));
        assert!(
            page.html.contains("<details><summary><b>TASK [common : Install base packages]</b> · 24 lines</summary>")
        );
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
        let (page, summary) = whole(TERRAFORM_APPLY);
        check_html(&page.html).unwrap();
        assert_eq!(summary.outcomes, ["Apply complete! Resources: 1 added, 1 changed, 1 destroyed."]);
        assert_eq!(summary.errors, 2, "the box and Semaphore's last line");
        insta::assert_snapshot!("terraform_apply_html", page.html);
        insta::assert_snapshot!("terraform_apply_plain", page.plain);
    }

    #[test]
    fn shell_output_gets_generic_highlighting() {
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
    fn check_pages<S: AsRef<str>>(
        doc: &LogDocument<'_, S>,
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
            pages[1]
                .html
                .starts_with("<details><summary><b>TASK [long]</b> (continued) · 400 lines</summary><pre><code>")
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
}
