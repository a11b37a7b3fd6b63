//! Steps 2 and 3: cutting a selection of lines into pages, and rendering one page.
//!
//! The pager never renders a line: it takes each line's cost from the analysis and runs the page
//! writer over a sink that only counts, so paging a 20 MB log reads 8 bytes a line. Text is
//! looked at only where the layout needs it (recap rows, which are realigned) and for lines too
//! long for a page, which are cut. Rendering a page starts from the ANSI style the analysis
//! noted nearby, so it costs the page's lines and not the lines before them.

use std::borrow::Cow;
use std::ops::Range;

use super::document::{Kind, Lines, LogDocument};
use super::writer::{Measure, Output, Prepared, Writer, json_len};
use crate::render::ansi::AnsiRenderer;
use crate::render::html::escape;

/// The wrappers a line may get (emphasis tags, the newline between lines) cost at most this much
/// more than the line: a line is cut when it would not fit in half a page with them.
const WRAPPERS: usize = 96;
const CUT_MARK: &str = " …[line cut]";

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

    pub(super) fn get(&self, pos: usize) -> usize {
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

/// A selection cut into pages; render them with [`LogDocument::render_page`].
#[derive(Debug, Clone)]
pub struct Paged {
    pub(super) selection: Selection,
    layout: Layout,
    budget: usize,
    /// Where each page starts, as a position in the selection.
    starts: Vec<usize>,
}

impl Paged {
    pub fn page_count(&self) -> usize {
        self.starts.len()
    }

    /// Positions in the selection that page `n` (from 0) shows.
    pub(super) fn positions(&self, n: usize) -> Option<Range<usize>> {
        let start = *self.starts.get(n)?;
        let end = self.starts.get(n + 1).map_or(self.selection.len(), |s| *s);
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

impl<L: Lines + ?Sized> LogDocument<'_, L> {
    /// Cuts the selection into pages of at most `budget` JSON-escaped bytes each (plain and
    /// HTML together). Every selected line lands on exactly one page, in order. A page holds at
    /// least one line; a line too long for half a page is cut short, marked, and loses its
    /// colours, so a budget from about 8 KiB up is always kept.
    pub fn paginate(&self, selection: Selection, layout: Layout, budget: usize) -> Paged {
        let cap = budget / 2;
        let mut starts = Vec::new();
        let mut writer = Writer::new(layout, Measure);
        for pos in 0..selection.len() {
            let n = selection.get(pos);
            let line = self.measure(n, layout, cap);
            let before = writer.lines;
            writer.push(self, n, &line);
            if before > 0 && writer.cost + writer.closing_cost() > budget {
                // The line starts the next page instead (the page it did not fit on is not needed
                // any more: only where pages start is kept).
                starts.push(pos);
                writer = Writer::new(layout, Measure);
                writer.push(self, n, &line);
            } else if pos == 0 {
                starts.push(pos);
            }
        }
        if starts.is_empty() {
            starts.push(0);
        }
        Paged { selection, layout, budget, starts }
    }

    /// Renders page `n` (from 0) of a pagination of this document.
    pub fn render_page(&self, paged: &Paged, n: usize) -> Option<Page> {
        let positions = paged.positions(n)?;
        // Neither text of a page is longer than its budget (a page of one cut line is shorter):
        // sized once, they are not copied to grow. A budget beyond a Matrix event's 64 KiB is
        // not taken at its word.
        let room = paged.budget.min(64 * 1024);
        let output = Output { plain: String::with_capacity(room), html: String::with_capacity(room) };
        let mut writer = Writer::new(paged.layout, output);
        let mut fed = if positions.is_empty() { 0 } else { paged.selection.get(positions.start) };
        let mut style = self.style_at(fed);
        let (mut html, mut plain) = (String::new(), String::new());
        for pos in positions.clone() {
            let line_no = paged.selection.get(pos);
            self.advance(&mut style, fed, line_no);
            let line = self.prepare(line_no, &mut style, &mut html, &mut plain, paged.budget / 2);
            fed = line_no + 1;
            writer.push(self, line_no, &line);
        }
        writer.finish();
        let (first_line, last_line) = match positions.len() {
            0 => (0, 0),
            len => (paged.selection.get(positions.start), paged.selection.get(positions.start + len - 1)),
        };
        Some(Page {
            plain: writer.sink.plain,
            html: writer.sink.html,
            first_line,
            last_line,
            line_count: positions.len(),
            cost: writer.cost,
        })
    }

    /// Line `n` as the pager needs it: its cost, and its plain text only where the layout reads
    /// it (a recap row, realigned) or the line is cut.
    fn measure(&self, n: usize, layout: Layout, cap: usize) -> Prepared<'_> {
        let cost = self.cost(n);
        if cost + WRAPPERS > cap {
            return self.cut(n, cap);
        }
        let recap_row = layout == Layout::Structured && self.info.get(n).is_some_and(|i| i.kind == Kind::RecapRow);
        let plain = if recap_row { self.stripped(n) } else { Cow::Borrowed("") };
        Prepared { plain, html: Cow::Borrowed(""), cost }
    }

    /// Line `n` in both forms, for a page shown: rendered into `html` and `plain` with the style
    /// carried so far. A line costing more than `cap` is cut, as plain escaped text.
    fn prepare<'s>(
        &'s self,
        n: usize,
        style: &mut AnsiRenderer,
        html: &'s mut String,
        plain: &'s mut String,
        cap: usize,
    ) -> Prepared<'s> {
        html.clear();
        plain.clear();
        style.render_line_and_strip(&self.lines.line(n), html, plain);
        let cost = self.cost(n);
        if cost + WRAPPERS > cap {
            return self.cut(n, cap);
        }
        debug_assert_eq!(cost, json_len(plain) + json_len(html), "the analysis measured line {n} wrong");
        Prepared { plain: Cow::Borrowed(plain.as_str()), html: Cow::Borrowed(html.as_str()), cost }
    }

    /// Line `n` cut to fit in `cap` with its wrappers and the mark, as plain escaped text.
    fn cut(&self, n: usize, cap: usize) -> Prepared<'_> {
        let plain = self.stripped(n);
        let room = cap.saturating_sub(WRAPPERS + 2 * (CUT_MARK.len() + 1));
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
        let cut = format!("{}{CUT_MARK}", &plain[..end]);
        let html = escape(&cut).into_owned();
        let cost = json_len(&cut) + json_len(&html);
        Prepared { plain: Cow::Owned(cut), html: Cow::Owned(html), cost }
    }
}
