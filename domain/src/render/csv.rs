//! CSV rows (RFC 4180) for exports: the audit log from chat, the history and audit from the CLI.

/// One field, quoted when it needs to be.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// One row, ended by CRLF.
pub fn row<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields.iter().map(|f| field(f.as_ref())).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// The audit log's header row.
pub fn audit_header() -> String {
    row(&["seq", "at", "actor", "room", "action", "detail"])
}

/// One audit entry as a row under `audit_header`.
pub fn audit_row(e: &chatrixcd_ports::AuditEntry) -> String {
    row(&[
        e.seq.to_string(),
        e.at.to_rfc3339(),
        e.actor.to_string(),
        e.room.as_ref().map(ToString::to_string).unwrap_or_default(),
        e.action.clone(),
        e.detail.clone(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(row(&["a", "b,c", "say \"hi\"", "two\nlines"]), "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
        assert_eq!(row::<&str>(&[]), "\r\n");
    }
}
