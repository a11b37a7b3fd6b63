//! Terraform (and OpenTofu) output: the plan and apply summaries people look for first, and
//! the boxed `Error:` / `Warning:` diagnostics.
//!
//! Like the Ansible parsers, these read escape-free text and answer `None` when unsure.

/// A line that sums up what a run did or will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `Plan: 1 to add, 2 to change, 0 to destroy.`
    Plan,
    /// `Apply complete! Resources: 1 added, 0 changed, 0 destroyed.`
    Applied,
    /// `Destroy complete! Resources: 3 destroyed.`
    Destroyed,
    /// `No changes. Your infrastructure matches the configuration.`
    NoChanges,
}

impl Outcome {
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim_start();
        // Every line of a log comes through here: most are settled by their first byte.
        if !matches!(line.as_bytes().first(), Some(b'P' | b'A' | b'D' | b'N')) {
            return None;
        }
        if let Some(rest) = line.strip_prefix("Plan: ") {
            // The counts make it a plan summary, not a word "Plan:" in some script's output.
            return counted(rest, " to add").then_some(Outcome::Plan);
        }
        if let Some(rest) = line.strip_prefix("Apply complete! Resources: ") {
            return counted(rest, " added").then_some(Outcome::Applied);
        }
        if let Some(rest) = line.strip_prefix("Destroy complete! Resources: ") {
            return counted(rest, " destroyed").then_some(Outcome::Destroyed);
        }
        // 0.15+ says "matches the configuration", older versions "Infrastructure is up-to-date".
        if line.starts_with("No changes. ") && (line.contains("infrastructure") || line.contains("Infrastructure")) {
            return Some(Outcome::NoChanges);
        }
        None
    }
}

/// Whether `text` starts with a number followed by `unit`.
fn counted(text: &str, unit: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && text[digits..].starts_with(unit)
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A line of a boxed diagnostic:
///
/// ```text
/// ╷
/// │ Error: Invalid reference
/// │
/// │   on main.tf line 12:
/// ╵
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxLine {
    Open,
    /// A line inside; the severity once the line names it (`│ Error: …`).
    Inside(Option<Severity>),
    Close,
}

impl BoxLine {
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim_start();
        // '╷', '╵' and '│' all start with this byte in UTF-8; most lines are settled by it.
        if line.as_bytes().first() != Some(&0xe2) {
            return None;
        }
        if line.starts_with('╷') {
            return Some(BoxLine::Open);
        }
        if line.starts_with('╵') {
            return Some(BoxLine::Close);
        }
        let inside = line.strip_prefix('│')?.trim_start();
        Some(BoxLine::Inside(severity(inside)))
    }
}

/// `Error: …` or `Warning: …`, the way Terraform starts a diagnostic with or without its box.
pub fn severity(line: &str) -> Option<Severity> {
    if !matches!(line.as_bytes().first(), Some(b'E' | b'W')) {
        return None;
    }
    if line.starts_with("Error: ") || line == "Error:" {
        Some(Severity::Error)
    } else if line.starts_with("Warning: ") || line == "Warning:" {
        Some(Severity::Warning)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_table() {
        let cases: &[(&str, Option<Outcome>)] = &[
            ("Plan: 2 to add, 1 to change, 0 to destroy.", Some(Outcome::Plan)),
            ("  Plan: 0 to add, 0 to change, 1 to destroy, 1 to import.", Some(Outcome::Plan)),
            ("Apply complete! Resources: 2 added, 1 changed, 0 destroyed.", Some(Outcome::Applied)),
            ("Destroy complete! Resources: 3 destroyed.", Some(Outcome::Destroyed)),
            ("No changes. Your infrastructure matches the configuration.", Some(Outcome::NoChanges)),
            ("No changes. Infrastructure is up-to-date.", Some(Outcome::NoChanges)),
            ("Plan: we ship on Friday", None),
            ("Plan: ", None),
            ("Apply complete! Resources: many added", None),
            ("No changes. Nothing to see", None),
            ("", None),
        ];
        for (line, expected) in cases {
            assert_eq!(Outcome::parse(line), *expected, "{line:?}");
        }
    }

    #[test]
    fn box_lines_table() {
        let cases: &[(&str, Option<BoxLine>)] = &[
            ("╷", Some(BoxLine::Open)),
            ("│ Error: Invalid reference", Some(BoxLine::Inside(Some(Severity::Error)))),
            ("│ Warning: Argument is deprecated", Some(BoxLine::Inside(Some(Severity::Warning)))),
            ("│ ", Some(BoxLine::Inside(None))),
            ("│   on main.tf line 12:", Some(BoxLine::Inside(None))),
            ("╵", Some(BoxLine::Close)),
            ("Error: no box", None),
            ("| Error: ascii pipe", None),
        ];
        for (line, expected) in cases {
            assert_eq!(BoxLine::parse(line), *expected, "{line:?}");
        }
        assert_eq!(severity("Error: x"), Some(Severity::Error));
        assert_eq!(severity("Errors: x"), None);
    }
}
