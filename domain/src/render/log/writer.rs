//! The page writer: blocks, headings, folded sections and recap tables, for the pager and for
//! the page shown.
//!
//! Both use this one writer so that they cannot disagree about a page's size. The pager runs it
//! over a [`Measure`] sink, which only counts, with lines that carry their cost but no text; a
//! page is rendered over an [`Output`] sink. Costs are always added from the same numbers (a
//! line's measured cost, `json_len` of the markup around it), so a rendered page costs exactly
//! what the pager counted.

use std::borrow::Cow;

use super::classify::Emphasis;
use super::document::{Kind, Lines, LogDocument, SectionKind};
use super::paging::Layout;
use super::{GREEN, RED, TITLE_MAX, YELLOW, shorten};
use crate::render::ansible::{RECAP_COLUMNS, RecapRow};
use crate::render::html::escape;

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

/// A line ready to be written: its cost (`json_len` of both texts), and the texts themselves
/// where they are needed. The pager leaves them empty unless the layout reads them.
#[derive(Debug)]
pub(super) struct Prepared<'s> {
    pub(super) plain: Cow<'s, str>,
    pub(super) html: Cow<'s, str>,
    pub(super) cost: usize,
}

/// Where a writer's text goes.
pub(super) trait Sink {
    fn plain(&mut self, text: &str);
    fn html(&mut self, text: &str);
}

/// The pager's sink: the writer counts, nothing is kept.
#[derive(Debug, Clone, Copy)]
pub(super) struct Measure;

impl Sink for Measure {
    fn plain(&mut self, _: &str) {}
    fn html(&mut self, _: &str) {}
}

/// A rendered page's two texts.
#[derive(Debug, Clone, Default)]
pub(super) struct Output {
    pub(super) plain: String,
    pub(super) html: String,
}

impl Sink for Output {
    fn plain(&mut self, text: &str) {
        self.plain.push_str(text);
    }

    fn html(&mut self, text: &str) {
        self.html.push_str(text);
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    // `usize::MAX` has 20 digits: `at` stays in bounds.
    while at > 0 {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Pre,
    Table,
}

/// Writes (or, over [`Measure`], only counts) one page.
#[derive(Debug, Clone, Copy)]
pub(super) struct Writer<K> {
    layout: Layout,
    pub(super) sink: K,
    pub(super) cost: usize,
    block: Block,
    /// Non-blank lines written in the open `<pre>`.
    pre_lines: usize,
    /// Blank lines waiting for a next line in the same `<pre>`: at a block's end they are dropped.
    blanks: usize,
    /// The section whose heading is on the page.
    section: Option<u32>,
    details: bool,
    /// Selected lines written.
    pub(super) lines: usize,
    plain_lines: usize,
}

const TABLE_HEAD: &str = "<table><thead><tr><th>Host</th><th>ok</th><th>changed</th><th>unreachable</th><th>failed</th><th>skipped</th><th>rescued</th><th>ignored</th></tr></thead><tbody>";

impl<K: Sink> Writer<K> {
    pub(super) fn new(layout: Layout, sink: K) -> Self {
        Self {
            layout,
            sink,
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
        self.sink.html(text);
    }

    /// Starts a plain line: the newline before it, if it is not the first.
    fn plain_break(&mut self) {
        if self.plain_lines > 0 {
            self.cost += 2;
            self.sink.plain("\n");
        }
        self.plain_lines += 1;
    }

    fn plain_line(&mut self, text: &str) {
        self.plain_line_of([text, ""]);
    }

    /// A plain line given in two pieces.
    fn plain_line_of(&mut self, text: [&str; 2]) {
        self.plain_break();
        for piece in text {
            self.cost += json_len(piece);
            self.sink.plain(piece);
        }
    }

    /// What `finish` would still write.
    pub(super) fn closing_cost(&self) -> usize {
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

    pub(super) fn finish(&mut self) {
        self.close_block();
        self.close_details();
    }

    pub(super) fn push<L: Lines + ?Sized>(&mut self, doc: &LogDocument<'_, L>, n: usize, line: &Prepared<'_>) {
        self.lines += 1;
        let Some(info) = doc.info.get(n).copied() else {
            return;
        };
        if self.layout == Layout::Flat {
            match info.kind {
                Kind::Blank => self.blank(&line.plain),
                Kind::Banner => self.code(line, Emphasis::Strong),
                Kind::RecapRow => self.code(line, Emphasis::Plain),
                Kind::Code(emphasis) => self.code(line, emphasis),
            }
            return;
        }
        if info.kind == Kind::Banner {
            self.heading(doc, info.section, false);
            return;
        }
        if self.section != Some(info.section) {
            self.heading(doc, info.section, true);
        }
        match info.kind {
            Kind::Blank => self.blank(&line.plain),
            Kind::RecapRow => match RecapRow::parse(line.plain.trim_end()) {
                Some(row) => {
                    let width = doc.sections.get(info.section as usize).map_or(0, |s| s.host_width);
                    self.row(&row, width);
                }
                None => self.code(line, Emphasis::Plain),
            },
            Kind::Code(emphasis) => self.code(line, emphasis),
            Kind::Banner => {}
        }
    }

    /// Opens section `id`: at its banner, or on a page that starts inside it (`continued`).
    fn heading<L: Lines + ?Sized>(&mut self, doc: &LogDocument<'_, L>, id: u32, continued: bool) {
        self.close_details();
        self.section = Some(id);
        let Some(section) = doc.sections.get(id as usize) else {
            return;
        };
        match section.kind {
            SectionKind::Preamble => return,
            // A play's own lines are mostly blank: a page starting among them needs no title.
            SectionKind::Play if continued => return,
            SectionKind::Play | SectionKind::Recap | SectionKind::Task => {}
        }
        // The pager opens a heading at every banner of a log, so the heading is written in
        // pieces rather than formatted into new strings first.
        let (full_title, stars) = doc.banner(section);
        let title = shorten(full_title, TITLE_MAX);
        let escaped = escape(&title);
        let suffix = if continued { " (continued)" } else { "" };
        // The banner as printed; on a page that starts inside the section, its title, marked.
        let plain = if continued { [title.as_ref(), suffix] } else { [full_title, stars] };
        match section.kind {
            SectionKind::Task if section.collapsed() => {
                self.close_block();
                self.plain_line_of(plain);
                self.html("<details><summary><b>");
                self.html(&escaped);
                self.html("</b>");
                self.html(suffix);
                self.html(" · ");
                self.count(section.lines, "line");
                if section.warnings > 0 {
                    self.html(" · ⚠️ ");
                    self.count(section.warnings, "warning");
                }
                self.html("</summary>");
                self.details = true;
            }
            SectionKind::Task => {
                let html = [escaped.as_ref(), suffix];
                let cost = plain.iter().chain(&html).map(|part| json_len(part)).sum();
                self.code_of(plain, html, cost, Emphasis::Strong);
            }
            _ => {
                self.close_block();
                self.plain_line_of(plain);
                self.html("<h4>");
                self.html(&escaped);
                self.html(suffix);
                self.html("</h4>");
            }
        }
    }

    /// `plural(n, word)` as HTML, without formatting a string.
    fn count(&mut self, n: usize, word: &str) {
        let mut digits = [0u8; 20];
        self.html(decimal(n, &mut digits));
        self.html(" ");
        self.html(word);
        if n != 1 {
            self.html("s");
        }
    }

    fn blank(&mut self, plain: &str) {
        self.plain_line(plain.trim_end());
        if self.block == Block::Pre && self.pre_lines > 0 {
            self.blanks += 1;
        }
    }

    fn code(&mut self, line: &Prepared<'_>, emphasis: Emphasis) {
        self.code_of([&line.plain, ""], [&line.html, ""], line.cost, emphasis);
    }

    /// A line of code given in pieces, `cost` being their `json_len` together.
    fn code_of(&mut self, plain: [&str; 2], html: [&str; 2], cost: usize, emphasis: Emphasis) {
        self.plain_break();
        for piece in plain {
            self.sink.plain(piece);
        }
        if self.block != Block::Pre {
            self.close_block();
            self.html("<pre><code>");
            self.block = Block::Pre;
        }
        if self.pre_lines > 0 {
            self.cost += 2 * (self.blanks + 1);
            for _ in 0..=self.blanks {
                self.sink.html("\n");
            }
        }
        self.blanks = 0;
        self.pre_lines += 1;
        let (open, close) = emphasis.tags();
        // Plain text and HTML together: the line's cost covers both.
        self.cost += emphasis.tags_cost() + cost;
        self.sink.html(open);
        for piece in html {
            self.sink.html(piece);
        }
        self.sink.html(close);
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
    use super::decimal;

    #[test]
    fn decimal_writes_what_format_writes() {
        for n in [0, 1, 9, 10, 99, 100, 4_242, usize::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
    }
}
