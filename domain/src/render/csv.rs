//! CSV rows (RFC 4180) for exports: the audit log from chat, the history and audit from the CLI.

/// One field, quoted when it needs to be. A field a spreadsheet would take for a formula (it
/// starts with `=`, `+`, `-`, a tab or a carriage return, or with `@` and holds a call: a
/// template name, a run's parameters, all from outside) gets a leading `'`, so opening an export
/// never runs what somebody typed (OWASP's CSV injection advice). A Matrix user id (`@alice:x`,
/// which holds no parenthesis) stays as it is.
pub fn field(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '\t', '\r']) || (text.starts_with('@') && text.contains('('));
    let text: std::borrow::Cow<'_, str> =
        if formula { std::borrow::Cow::Owned(format!("'{text}")) } else { std::borrow::Cow::Borrowed(text) };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.into_owned() }
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

/// The run history's header row.
pub fn run_header() -> String {
    row(&[
        "id",
        "started_at",
        "ended_at",
        "result",
        "room",
        "requester",
        "instance",
        "project",
        "template",
        "task",
        "parameters",
    ])
}

/// One run as a row under `run_header` (its parameters as `k=v; …`, secrets never among them).
pub fn run_row(r: &chatrixcd_ports::RunRecord) -> String {
    let parameters: Vec<String> = r.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    row(&[
        r.id.to_string(),
        r.started_at.to_rfc3339(),
        r.ended_at.map(|e| e.to_rfc3339()).unwrap_or_default(),
        r.result.as_ref().map(ToString::to_string).unwrap_or_default(),
        r.room.to_string(),
        r.requester.to_string(),
        r.instance.to_string(),
        format!("{} ({})", r.project_name, r.project),
        format!("{} ({})", r.template_name, r.template),
        r.task.to_string(),
        parameters.join("; "),
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

    #[test]
    fn what_a_spreadsheet_would_run_is_defused() {
        assert_eq!(
            row(&["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", "\tx", "a=b", "@alice:example.org"]),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+1,'-2,'@SUM(A1),'\tx,a=b,@alice:example.org\r\n"
        );
    }
}
