//! Building replies that read well both as Matrix HTML and as plain text, from one description.
//! Every piece of outside text is escaped here, so no caller can forget to.

use chatrixcd_ports::chat::{MessageKind, OutgoingMessage};
use chatrixcd_ports::{TaskStatus, UserId};

use super::html::escape;

/// A reply under construction: plain text and HTML grow side by side.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    plain: String,
    html: String,
    kind: MessageKind,
    mentions: Vec<UserId>,
}

impl Reply {
    pub fn notice() -> Self {
        Self::default()
    }

    /// An `m.text` message: for things people should be notified about.
    pub fn text() -> Self {
        Self { kind: MessageKind::Text, ..Self::default() }
    }

    /// Plain words.
    pub fn push(mut self, text: &str) -> Self {
        self.plain.push_str(text);
        self.html.push_str(&escape(text));
        self
    }

    /// Text that has a different, already-safe HTML form (e.g. a personality phrase).
    pub fn push_rich(mut self, plain: &str, safe_html: &str) -> Self {
        self.plain.push_str(plain);
        self.html.push_str(safe_html);
        self
    }

    pub fn bold(mut self, text: &str) -> Self {
        self.plain.push_str(text);
        self.html.push_str("<strong>");
        self.html.push_str(&escape(text));
        self.html.push_str("</strong>");
        self
    }

    pub fn code(mut self, text: &str) -> Self {
        self.plain.push('`');
        self.plain.push_str(text);
        self.plain.push('`');
        self.html.push_str("<code>");
        self.html.push_str(&escape(text));
        self.html.push_str("</code>");
        self
    }

    /// Coloured text (Matrix `data-mx-color`).
    pub fn colored(mut self, text: &str, color: &str) -> Self {
        self.plain.push_str(text);
        self.html.push_str("<font data-mx-color=\"");
        self.html.push_str(&escape(color));
        self.html.push_str("\">");
        self.html.push_str(&escape(text));
        self.html.push_str("</font>");
        self
    }

    pub fn link(mut self, text: &str, url: &str) -> Self {
        self.plain.push_str(text);
        self.plain.push_str(" (");
        self.plain.push_str(url);
        self.plain.push(')');
        self.html.push_str("<a href=\"");
        self.html.push_str(&escape(url));
        self.html.push_str("\">");
        self.html.push_str(&escape(text));
        self.html.push_str("</a>");
        self
    }

    /// A pill that pings `user`; also recorded as an intentional mention.
    pub fn mention(mut self, user: &UserId, display: Option<&str>) -> Self {
        let shown = display.unwrap_or(user.as_str());
        self.plain.push_str(shown);
        self.html.push_str("<a href=\"https://matrix.to/#/");
        self.html.push_str(&escape(user.as_str()));
        self.html.push_str("\">");
        self.html.push_str(&escape(shown));
        self.html.push_str("</a>");
        if !self.mentions.contains(user) {
            self.mentions.push(user.clone());
        }
        self
    }

    pub fn status(self, status: &TaskStatus) -> Self {
        let (emoji, color) = status_style(status);
        self.push(emoji).push(" ").colored(status.as_str(), color)
    }

    pub fn line(mut self) -> Self {
        self.plain.push('\n');
        self.html.push_str("<br>");
        self
    }

    /// A bulleted list.
    pub fn list<I, S>(mut self, items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.html.push_str("<ul>");
        for item in items {
            self.plain.push_str("\n• ");
            self.plain.push_str(item.as_ref());
            self.html.push_str("<li>");
            self.html.push_str(&escape(item.as_ref()));
            self.html.push_str("</li>");
        }
        self.html.push_str("</ul>");
        self
    }

    /// A table: HTML `<table>`, and aligned columns in plain text.
    pub fn table(mut self, headers: &[&str], rows: &[Vec<String>]) -> Self {
        let columns = headers.len();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let pad_row = |cells: &mut dyn Iterator<Item = &str>| -> String {
            let mut line = String::new();
            for (i, cell) in cells.enumerate().take(columns) {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < columns {
                    line.extend(std::iter::repeat_n(' ', widths[i].saturating_sub(cell.chars().count())));
                }
            }
            line.trim_end().to_owned()
        };
        // A table of label/value pairs has no header worth showing.
        let show_header = headers.iter().any(|h| !h.is_empty());
        if show_header {
            self.plain.push('\n');
            self.plain.push_str(&pad_row(&mut headers.iter().copied()));
        }
        for row in rows {
            self.plain.push('\n');
            self.plain.push_str(&pad_row(&mut row.iter().map(String::as_str)));
        }
        self.html.push_str("<table>");
        if show_header {
            self.html.push_str("<thead><tr>");
            for h in headers {
                self.html.push_str("<th>");
                self.html.push_str(&escape(h));
                self.html.push_str("</th>");
            }
            self.html.push_str("</tr></thead>");
        }
        self.html.push_str("<tbody>");
        for row in rows {
            self.html.push_str("<tr>");
            for cell in row.iter().take(columns) {
                self.html.push_str("<td>");
                self.html.push_str(&escape(cell));
                self.html.push_str("</td>");
            }
            self.html.push_str("</tr>");
        }
        self.html.push_str("</tbody></table>");
        self
    }

    /// A preformatted block whose HTML is already rendered and safe (e.g. ANSI-coloured log lines).
    pub fn pre(mut self, plain: &str, safe_html: &str) -> Self {
        self.plain.push_str("\n```\n");
        self.plain.push_str(plain);
        if !plain.ends_with('\n') {
            self.plain.push('\n');
        }
        self.plain.push_str("```");
        self.html.push_str("<pre><code>");
        self.html.push_str(safe_html);
        self.html.push_str("</code></pre>");
        self
    }

    /// The usage block shown after a mistake.
    pub fn usage(self, usage: &str) -> Self {
        self.line().push("Usage: ").code(usage)
    }

    pub fn plain(&self) -> &str {
        &self.plain
    }

    pub fn html(&self) -> &str {
        &self.html
    }

    pub fn build(self) -> OutgoingMessage {
        OutgoingMessage {
            kind: self.kind,
            body: self.plain,
            html: Some(self.html),
            mentions: self.mentions,
            reply_to: None,
            thread_root: None,
            idempotency_key: None,
        }
    }
}

/// Emoji and colour of a task status (ChatrixCD's palette, which users already know).
pub fn status_style(status: &TaskStatus) -> (&'static str, &'static str) {
    match status {
        TaskStatus::Waiting => ("⏸️", "#c4a000"),
        TaskStatus::Starting => ("🚀", "#3465a4"),
        TaskStatus::WaitingConfirmation => ("✋", "#c4a000"),
        TaskStatus::Confirmed => ("👌", "#3465a4"),
        TaskStatus::Running => ("🔄", "#3465a4"),
        TaskStatus::Stopping => ("⏹️", "#c4a000"),
        TaskStatus::Stopped => ("🛑", "#cc0000"),
        TaskStatus::Success => ("✅", "#4e9a06"),
        TaskStatus::Error => ("❌", "#cc0000"),
        TaskStatus::Other(_) => ("❓", "#555753"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_escaped_in_html_and_kept_in_plain() {
        let msg = Reply::notice().push("Template ").bold("<img src=x>").code("a&b").build();
        assert_eq!(msg.body, "Template <img src=x>`a&b`");
        assert_eq!(msg.html.as_deref(), Some("Template <strong>&lt;img src=x&gt;</strong><code>a&amp;b</code>"));
    }

    #[test]
    fn tables_align_in_plain_text() {
        let r = Reply::notice()
            .table(&["Name", "ID"], &[vec!["ops".into(), "1".into()], vec!["website".into(), "22".into()]]);
        assert_eq!(r.plain(), "\nName     ID\nops      1\nwebsite  22");
    }

    #[test]
    fn mentions_are_recorded_once() {
        let u = UserId::parse("@a:x").unwrap();
        let msg = Reply::text().mention(&u, None).mention(&u, Some("A")).build();
        assert_eq!(msg.mentions, vec![u]);
    }
}
