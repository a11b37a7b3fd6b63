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
}
