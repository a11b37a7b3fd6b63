//! Semaphore's messenger alerts (Slack, Rocket.Chat, Microsoft Teams, Gotify), read back: when
//! Semaphore is pointed at the bot, these payloads say which task reached which status.
//!
//! Semaphore builds them with plain text templating, so a template name with a quote can make
//! the JSON invalid; what is readable is read, and everything else is a clear error. The payload
//! is only a hint: the task itself should be fetched for the truth.

use chatrixcd_ports::{ProjectId, TaskId, TaskStatus, TemplateId};
use serde_json::Value;

/// What an alert says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertNotice {
    pub task: TaskId,
    pub status: TaskStatus,
    pub template_name: Option<String>,
    /// `<web_host>/project/<p>/templates/<t>?t=<task>`, when the payload has it.
    pub link: Option<String>,
    /// Project and template, read from the link.
    pub project: Option<ProjectId>,
    pub template: Option<TemplateId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("the alert is not JSON: {0}")]
    NotJson(String),
    #[error("the alert has no task number (expected Slack, Rocket.Chat, Teams or Gotify shapes)")]
    NoTask,
    #[error("the alert has no status")]
    NoStatus,
}

/// Reads an alert body of any of the four shapes (and DingTalk's, which is Slack's words in
/// another envelope). A body that is not JSON, as Semaphore's templating makes of a name with a
/// quote or a line break in it, is read as the texts between its quotes.
pub fn parse_alert(body: &[u8]) -> Result<AlertNotice, AlertError> {
    let (json, texts) = match serde_json::from_slice::<Value>(body) {
        Ok(json) => {
            let mut texts = Vec::new();
            collect_strings(&json, &mut texts);
            (json, texts)
        }
        Err(e) => {
            let raw = String::from_utf8_lossy(body);
            let texts: Vec<String> = raw.split('"').map(|t| t.replace("\\/", "/")).collect();
            if !texts.iter().any(|t| t.contains("execution #") || t.contains("?t=")) {
                return Err(AlertError::NotJson(e.to_string()));
            }
            (Value::Null, texts)
        }
    };
    let link = texts.iter().find(|t| t.contains("?t=") && t.contains("/project/")).cloned();
    let from_link = link.as_deref().and_then(ids_from_link);
    let task = from_link
        .map(|(_, _, t)| t)
        .or_else(|| texts.iter().find_map(|t| number_after(t, &["execution #", "Execution #: "])))
        .or_else(|| teams_fact(&json, "Task ID:").and_then(|v| v.parse().ok()))
        .ok_or(AlertError::NoTask)?;
    // Where the status is labelled, it is read there first: a template named "ERROR report"
    // comes before the status in Teams' card.
    let labelled = texts
        .iter()
        .position(|t| t.trim() == "Status:")
        .and_then(|at| texts.iter().skip(at + 1).take(4).find_map(|t| status_word(t)));
    let status = labelled
        .or_else(|| {
            texts.iter().filter(|t| t.contains("status: ") || t.contains("Status: ")).find_map(|t| status_word(t))
        })
        .or_else(|| texts.iter().find_map(|t| status_word(t)))
        .ok_or(AlertError::NoStatus)?;
    let template_name =
        texts.iter().find_map(|t| t.strip_prefix("Task: ").map(str::to_owned)).or_else(|| teams_fact(&json, "Task:"));
    Ok(AlertNotice {
        task: TaskId::new(task),
        status,
        template_name,
        link,
        project: from_link.map(|(p, _, _)| ProjectId::new(p)),
        template: from_link.map(|(_, t, _)| TemplateId::new(t)),
    })
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

fn number_after(text: &str, markers: &[&str]) -> Option<u64> {
    markers.iter().find_map(|m| {
        let rest = &text[text.find(m)? + m.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// `…/project/1/templates/2?t=2147483646` → (1, 2, 2147483646).
fn ids_from_link(link: &str) -> Option<(u64, u64, u64)> {
    let project = number_after(link, &["/project/"])?;
    let template = number_after(link, &["/templates/"])?;
    let task = number_after(link, &["?t="])?;
    Some((project, template, task))
}

/// `✅SUCCESS`, `❌ERROR`, `⚠️WAITING_CONFIRMATION` (and any other upper-case status).
fn status_word(text: &str) -> Option<TaskStatus> {
    let after = text.split("status: ").nth(1).or_else(|| text.split("Status: ").nth(1)).unwrap_or(text);
    let word: String = after
        .chars()
        .skip_while(|c| !c.is_ascii_uppercase())
        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
        .collect();
    let status = TaskStatus::from(word.to_lowercase());
    (!word.is_empty() && !matches!(status, TaskStatus::Other(_))).then_some(status)
}

fn teams_fact(json: &Value, title: &str) -> Option<String> {
    let body = json["attachments"][0]["content"]["body"].as_array()?;
    body.iter().filter_map(|b| b["facts"].as_array()).flatten().find(|f| f["title"] == title)?["value"]
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorded_alert_is_understood() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/semaphore/2.10.32/alerts.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let received = doc["received"].as_array().unwrap();
        assert!(received.len() >= 40);
        for alert in received {
            let notice = parse_alert(alert["raw"].as_str().unwrap().as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", alert["path"]));
            assert!(notice.task.get() > 2_147_483_000, "{notice:?}");
            assert!(
                matches!(notice.status, TaskStatus::Success | TaskStatus::Error | TaskStatus::WaitingConfirmation),
                "{notice:?}"
            );
            assert!(notice.template_name.is_some(), "{} {notice:?}", alert["path"]);
            assert_eq!(notice.project, Some(ProjectId::new(1)), "{}", alert["path"]);
        }
    }

    #[test]
    fn bad_alerts_say_what_is_wrong() {
        assert!(matches!(parse_alert(b"{not json"), Err(AlertError::NotJson(_))));
        // A template named `say "hi"` breaks Semaphore's templated JSON; the alert still reads.
        let broken = br#"{"attachments": [{"title": "Task: say "hi"", "title_link": "https://s.example/project/3/templates/7?t=42", "text": "execution #42, status: \u274cERROR!"}]}"#;
        assert!(serde_json::from_slice::<Value>(broken).is_err());
        let n = parse_alert(broken).unwrap();
        assert_eq!(
            (n.task, n.status.clone(), n.project),
            (TaskId::new(42), TaskStatus::Error, Some(ProjectId::new(3)))
        );
        assert_eq!(parse_alert(br#"{"text": "hello"}"#), Err(AlertError::NoTask));
        assert_eq!(parse_alert(br#"{"text": "execution #5, status: maybe"}"#), Err(AlertError::NoStatus));
        let n = parse_alert(br#"{"text": "execution #5, status: \u2705SUCCESS!"}"#).unwrap();
        assert_eq!((n.task, n.status), (TaskId::new(5), TaskStatus::Success));
        // A template whose name holds a status word is not taken for the status, in Teams' card
        // whole or broken by a quote.
        let teams = r#"{"attachments":[{"content":{"body":[{"facts":[{"title":"Task:","value":"ERROR report"},{"title":"Status:","value":"✅SUCCESS"},{"title":"Task ID:","value":"77"}]}],"actions":[{"url":"https://s.example/project/2/templates/4?t=77"}]}}]}"#;
        assert_eq!(parse_alert(teams.as_bytes()).unwrap().status, TaskStatus::Success);
        let broken = teams.replace("ERROR report", "ERROR \"report\"").replace('\\', "");
        assert!(serde_json::from_str::<Value>(&broken).is_err());
        let n = parse_alert(broken.as_bytes()).unwrap();
        assert_eq!((n.task, n.status), (TaskId::new(77), TaskStatus::Success));
    }
}
