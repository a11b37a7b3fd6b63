//! Task logs as Matrix messages: Ansible, Terraform and shell output recognised, rendered as
//! HTML with a plain-text twin, and cut into pages that each fit in one event.
//!
//! Three steps, so that a 100 MB log never needs its rendered form in memory, and a `logs`
//! command pays for rendering only the page it shows:
//!
//! 1. [`LogDocument::new`] ([`document`]) reads every line once and keeps eight bytes per line:
//!    what the line is (banner, recap row, error...), which section it belongs to, and what the
//!    line will cost in the event, measured without producing its HTML. A [`LogSummary`] comes
//!    with it.
//! 2. [`LogDocument::paginate`] ([`paging`]) lays the selected lines out with those costs alone,
//!    and starts a new page when the next line would not fit. It keeps where each page starts.
//! 3. [`LogDocument::render_page`] renders one page for real with the same page writer
//!    ([`writer`]), so the page has exactly the size the pager counted.
//!
//! Sizes are counted as JSON-escaped bytes, which is what the text costs in the event: a quote or
//! a tab takes two bytes there.
//!
//! The HTML of a page is always balanced on its own, whatever the cut: a page that starts inside a
//! section opens it again with a "(continued)" title. Plain text keeps every selected line as it
//! was printed (recap rows are realigned); HTML drops only blank lines at the edges of a block.

mod classify;
mod document;
mod paging;
mod summary;
mod writer;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use classify::{Emphasis, classify};
pub use document::{COLLAPSE_AFTER, Lines, LogDocument};
pub use paging::{Layout, Page, Paged, Selection};
pub use summary::{LogSummary, RecapTotals};
pub use writer::json_len;

/// Characters of a title shown in headings and summaries.
const TITLE_MAX: usize = 200;

const RED: &str = "#cc0000";
const GREEN: &str = "#4e9a06";
const YELLOW: &str = "#c4a000";

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
