//! Step 1: reading a log once, for its structure, its summary and the size of every line.
//!
//! This is the only step that touches every line of the log, so it does one ANSI pass per line
//! ([`AnsiRenderer::measure_line`]) and keeps what the other steps would otherwise have to parse
//! again: the line's kind, its section, and its cost in the event. The pager then lays a 20 MB
//! log out without reading it, and only the lines of the page asked for are ever rendered.

use std::borrow::Cow;
use std::ops::Range;

use super::classify::{self, Emphasis};
use super::summary::{LogSummary, RecapTotals};
use super::{TITLE_MAX, shorten};
use crate::render::ansi::{self, AnsiRenderer};
use crate::render::ansible::{self, Banner, RecapRow};
use crate::render::terraform::{BoxLine, Outcome, Severity};

/// A task section with more non-blank lines than this is folded into `<details>`.
pub const COLLAPSE_AFTER: usize = 8;
/// Banners and recap rows longer than this are shown as ordinary lines: it bounds what a
/// repeated title costs on every page.
const STRUCTURE_MAX: usize = 300;
/// A space and more stars than a banner can hold (`STRUCTURE_MAX`), to print banners from.
const STARS: &str = concat!(
    " ****************************************************************************************************",
    "****************************************************************************************************",
    "****************************************************************************************************",
);
const _: () = assert!(STARS.len() > STRUCTURE_MAX, "every banner's stars are a slice of STARS");
/// Lines between two places where the analysis notes the ANSI style, so that rendering a page
/// starts from a nearby note instead of from the top of the log.
const STYLE_STRIDE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Banner,
    RecapRow,
    Blank,
    Code(Emphasis),
}

/// What the analysis keeps of a line. Eight bytes, as before costs were kept: the cost lives in
/// what was the padding between `kind` and `section` (a test holds the size).
#[derive(Debug, Clone, Copy)]
pub(super) struct LineInfo {
    pub(super) kind: Kind,
    /// `json_len` of the line's plain text plus that of its HTML, or `COST_UNKNOWN` for a line
    /// too big to say in 24 bits (measured again when it is paged; such a line is always cut).
    cost: [u8; 3],
    pub(super) section: u32,
}

const COST_UNKNOWN: usize = 0xff_ffff;

impl LineInfo {
    fn new(kind: Kind, cost: usize, section: u32) -> Self {
        let [a, b, c, ..] = u32::try_from(cost.min(COST_UNKNOWN)).unwrap_or(u32::MAX).to_le_bytes();
        Self { kind, cost: [a, b, c], section }
    }

    fn cost(&self) -> Option<usize> {
        let [a, b, c] = self.cost;
        let cost = u32::from_le_bytes([a, b, c, 0]) as usize;
        (cost != COST_UNKNOWN).then_some(cost)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SectionKind {
    /// What comes before the first banner: Semaphore's own lines, or a whole shell log.
    Preamble,
    Play,
    Task,
    Recap,
}

#[derive(Debug, Clone)]
pub(super) struct Section {
    pub(super) kind: SectionKind,
    /// Where the banner's title (`TASK [name]`) is in the document's `titles`: pages print it
    /// at every section they open, and reading it from a packed log each time would be slow.
    title: (u32, u32),
    /// Stars after the title, which the banner as printed ends with.
    stars: u16,
    /// Non-blank lines after the banner.
    pub(super) lines: usize,
    pub(super) errors: usize,
    pub(super) warnings: usize,
    /// Width of the widest host of a recap, for aligned plain rows.
    pub(super) host_width: usize,
}

impl Section {
    fn new(kind: SectionKind, title: (u32, u32), stars: u16) -> Self {
        Self { kind, title, stars, lines: 0, errors: 0, warnings: 0, host_width: 0 }
    }

    /// A long task is folded, unless something went wrong in it: a failure must be in sight.
    pub(super) fn collapsed(&self) -> bool {
        self.kind == SectionKind::Task && self.lines > COLLAPSE_AFTER && self.errors == 0
    }
}

/// The lines a document reads: a slice of strings, or a task's packed log seen through
/// redaction.
pub trait Lines {
    fn count(&self) -> usize;
    /// Line `n`, counted from 0; empty past the end. Borrowed where the lines are held as they
    /// are; a packed log unpacks it.
    fn line(&self, n: usize) -> Cow<'_, str>;
    /// Calls `f` with each line in `range` (cut to the count) and its number, in order: how the
    /// analysis reads every line, as a packed log unpacks each block once for all its lines.
    fn each_line(&self, range: Range<usize>, f: &mut dyn FnMut(usize, &str)) {
        for n in range.start..range.end.min(self.count()) {
            f(n, &self.line(n));
        }
    }
}

fn nth<S: AsRef<str>>(lines: &[S], n: usize) -> Cow<'_, str> {
    Cow::Borrowed(lines.get(n).map_or("", AsRef::as_ref))
}

impl<S: AsRef<str>> Lines for [S] {
    fn count(&self) -> usize {
        self.len()
    }
    fn line(&self, n: usize) -> Cow<'_, str> {
        nth(self, n)
    }
}

impl<S: AsRef<str>, const N: usize> Lines for [S; N] {
    fn count(&self) -> usize {
        N
    }
    fn line(&self, n: usize) -> Cow<'_, str> {
        nth(self, n)
    }
}

impl<S: AsRef<str>> Lines for Vec<S> {
    fn count(&self) -> usize {
        self.len()
    }
    fn line(&self, n: usize) -> Cow<'_, str> {
        nth(self, n)
    }
}

/// A task's log as Semaphore printed it, read a packed block at a time.
impl Lines for chatrixcd_ports::semaphore::TaskLog {
    fn count(&self) -> usize {
        self.len()
    }
    fn line(&self, n: usize) -> Cow<'_, str> {
        Self::line(self, n).unwrap_or_default()
    }
    fn each_line(&self, range: Range<usize>, f: &mut dyn FnMut(usize, &str)) {
        Self::each_line(self, range, f);
    }
}

/// A log, read once.
#[derive(Debug)]
pub struct LogDocument<'a, L: ?Sized> {
    pub(super) lines: &'a L,
    pub(super) info: Vec<LineInfo>,
    pub(super) sections: Vec<Section>,
    /// The titles of every section's banner, one after another.
    titles: String,
    /// The style at the start of each `STYLE_STRIDE`-th line, where it is not the default (in
    /// a log that resets its colours at each line end, as Ansible's does, this stays empty).
    styles: Vec<(usize, AnsiRenderer)>,
    summary: LogSummary,
}

impl<'a, L: Lines + ?Sized> LogDocument<'a, L> {
    /// Reads the structure of `lines` (already split, without their newlines).
    pub fn new(lines: &'a L) -> Self {
        let mut info = Vec::with_capacity(lines.count());
        let mut sections = vec![Section::new(SectionKind::Preamble, (0, 0), 0)];
        let mut titles = String::new();
        let mut summary = LogSummary::default();
        let mut outcomes: Vec<(Outcome, usize, String)> = Vec::new();
        // An open Terraform diagnostic box: its first line and, once named, its severity.
        let mut open_box: Option<(usize, Option<Severity>)> = None;
        let mut style = AnsiRenderer::new();
        let mut styles = Vec::new();
        let mut buf = String::new();
        lines.each_line(0..lines.count(), &mut |i, line| {
            if i % STYLE_STRIDE == 0 && !style.is_plain() {
                styles.push((i, style.clone()));
            }
            let (stripped, cost) = style.measure_line(line, &mut buf);
            let cost = cost.plain + cost.html;
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
                // A banner is `<title> ***…` (what `Banner::parse` accepts), at most
                // STRUCTURE_MAX bytes: offsets and the star count fit.
                let title = ansible::banner_title(text);
                let stars = text.len() - title.len() - 1;
                let at = u32::try_from(titles.len()).unwrap_or(u32::MAX);
                titles.push_str(title);
                let len = u32::try_from(title.len()).unwrap_or(0);
                sections.push(Section::new(kind, (at, len), u16::try_from(stars).unwrap_or(0)));
                info.push(LineInfo::new(Kind::Banner, cost, section_id(&sections)));
                open_box = None;
                return;
            }
            let section_no = section_id(&sections);
            let Some(section) = sections.last_mut() else {
                // `sections` starts with the preamble and only grows.
                return;
            };
            // Trimmed once: the Terraform parsers and `severity` trim their start anyway.
            let trimmed = text.trim_start();
            if trimmed.is_empty() {
                info.push(LineInfo::new(Kind::Blank, cost, section_no));
                return;
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
                info.push(LineInfo::new(Kind::RecapRow, cost, section_no));
                return;
            }
            let outcome = Outcome::parse(trimmed);
            let mut emphasis = match (BoxLine::parse(trimmed), open_box) {
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
                    let emphasis = classify::emphasis(text, trimmed, outcome.is_some());
                    count(&mut summary, section, emphasis);
                    emphasis
                }
            };
            if let Some(outcome) = outcome {
                outcomes.retain(|(o, _, _)| *o != outcome);
                outcomes.push((outcome, i, shorten(trimmed, TITLE_MAX).into_owned()));
                emphasis = Emphasis::Strong;
            }
            info.push(LineInfo::new(Kind::Code(emphasis), cost, section_no));
        });
        summary.outcomes = outcomes.into_iter().map(|(_, _, text)| text).collect();
        titles.shrink_to_fit();
        Self { lines, info, sections, titles, styles, summary }
    }

    /// Heap bytes the analysis keeps: a few bytes per line, plus one record per section.
    pub fn index_bytes(&self) -> usize {
        self.info.capacity() * std::mem::size_of::<LineInfo>()
            + self.sections.capacity() * std::mem::size_of::<Section>()
            + self.titles.capacity()
            + self.styles.capacity() * std::mem::size_of::<(usize, AnsiRenderer)>()
            + self.summary.outcomes.iter().map(String::capacity).sum::<usize>()
    }

    pub fn summary(&self) -> &LogSummary {
        &self.summary
    }

    pub fn len(&self) -> usize {
        self.lines.count()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.count() == 0
    }

    /// How line `n` is highlighted when shown on its own (`None` past the end).
    pub fn emphasis(&self, n: usize) -> Option<Emphasis> {
        self.info.get(n).map(|i| match i.kind {
            Kind::Code(e) => e,
            Kind::RecapRow | Kind::Banner | Kind::Blank => Emphasis::Plain,
        })
    }

    /// Line `n`'s plain text and HTML as JSON-escaped bytes, summed: what the analysis measured,
    /// or, for a line too big to have kept that, measured again.
    #[inline]
    pub(super) fn cost(&self, n: usize) -> usize {
        match self.info.get(n).and_then(LineInfo::cost) {
            Some(cost) => cost,
            None => {
                let mut style = self.style_at(n);
                let mut buf = String::new();
                let (_, cost) = style.measure_line(&self.lines.line(n), &mut buf);
                cost.plain + cost.html
            }
        }
    }

    /// The ANSI style in force at the start of line `n`: from the analysis' last note before
    /// it, then through the colour codes of at most `STYLE_STRIDE` lines.
    pub(super) fn style_at(&self, n: usize) -> AnsiRenderer {
        let n = n.min(self.lines.count());
        let noted = n - n % STYLE_STRIDE;
        let mut style = match self.styles.binary_search_by_key(&noted, |(line, _)| *line) {
            Ok(at) => self.styles[at].1.clone(),
            Err(_) => AnsiRenderer::new(),
        };
        self.advance(&mut style, noted, n);
        style
    }

    /// Carries `style` from the start of line `from` to the start of line `to`.
    pub(super) fn advance(&self, style: &mut AnsiRenderer, from: usize, to: usize) {
        if to.saturating_sub(from) > STYLE_STRIDE {
            *style = self.style_at(to);
            return;
        }
        self.lines.each_line(from..to, &mut |_, line| style.advance(line));
    }

    /// The banner of `section` as printed, in two pieces: its title (`TASK [name]`) and the
    /// stars after it (with the space before them).
    pub(super) fn banner(&self, section: &Section) -> (&str, &str) {
        let (at, len) = (section.title.0 as usize, section.title.1 as usize);
        let title = self.titles.get(at..at + len).unwrap_or_default();
        (title, STARS.get(..1 + usize::from(section.stars)).unwrap_or(STARS))
    }

    /// Line `n` without its colour codes.
    pub(super) fn stripped(&self, n: usize) -> Cow<'_, str> {
        match self.lines.line(n) {
            Cow::Borrowed(line) => ansi::strip(line),
            Cow::Owned(line) => Cow::Owned(ansi::strip(&line).into_owned()),
        }
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
