//! Semaphore's messenger alerts (Slack, Rocket.Chat, Microsoft Teams, Gotify) with the payload
//! shapes a real 2.10.32 posts: sent for `success`, `error` and `waiting_confirmation`, never for
//! `stopped`, once per status.

use chatrixcd_ports::TaskStatus;
use serde_json::{Value, json};

/// A messenger Semaphore posts to. The URL is where the payload goes (any URL will do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertKind {
    Slack,
    RocketChat,
    Teams,
    /// Gotify posts to `<url>/message?token=<token>`.
    Gotify {
        token: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTarget {
    pub kind: AlertKind,
    pub url: String,
}

impl AlertKind {
    /// The name in Semaphore's task log lines ("Attempting to send slack alert").
    pub fn log_name(&self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::RocketChat => "rocketchat",
            Self::Teams => "microsoft teams",
            Self::Gotify { .. } => "gotify",
        }
    }
}

/// Whether Semaphore sends an alert for a task entering `status`.
pub fn alerts_for(status: &TaskStatus) -> bool {
    matches!(status, TaskStatus::Success | TaskStatus::Error | TaskStatus::WaitingConfirmation)
}

/// What an alert says about one task.
#[derive(Debug, Clone)]
pub struct AlertFacts<'a> {
    pub task_id: u64,
    pub template_name: &'a str,
    pub status: &'a TaskStatus,
    pub link: &'a str,
    pub author: &'a str,
}

/// The status as alerts write it: emoji and upper case.
fn result(status: &TaskStatus) -> String {
    let emoji = match status {
        TaskStatus::Success => "✅",
        TaskStatus::Error => "❌",
        _ => "⚠️",
    };
    format!("{emoji}{}", status.as_str().to_uppercase())
}

/// The background strip of the Teams card (the same image for every status on 2.10.32).
const TEAMS_STRIP: &str = "data:image/jpg;base64,iVBORw0KGgoAAAANSUhEUgAABSgAAAAFCAYAAABGmwLHAAAARklEQVR4nO3YMQEAIBDEsANPSMC/AbzwMm5JJHTseuf+AAAAAAAUbNEBAAAAgBaDEgAAAACoMSgBAAAAgBqDEgAAAADoSDL8RAJfcbcsoQAAAABJRU5ErkJggg==";

/// Where to post and what, for one target.
pub fn payload(target: &AlertTarget, facts: &AlertFacts<'_>) -> (String, Value) {
    let result = result(facts.status);
    let line = format!("execution #{}, status: {result}!", facts.task_id);
    let title = format!("Task: {}", facts.template_name);
    let base = target.url.trim_end_matches('/');
    match &target.kind {
        AlertKind::Slack => {
            let color = match facts.status {
                TaskStatus::Success => "good",
                TaskStatus::Error => "danger",
                _ => "",
            };
            let body = json!({"attachments": [{
                "title": title, "title_link": facts.link, "text": line, "color": color, "mrkdwn_in": ["text"],
                "fields": [{"title": "Author", "value": facts.author, "short": true}]
            }]});
            (base.to_owned(), body)
        }
        AlertKind::RocketChat => {
            let color = match facts.status {
                TaskStatus::Success => "#00EE00",
                TaskStatus::Error => "#EE0000",
                _ => "",
            };
            let body = json!({"text": line, "attachments": [{"title": title, "title_link": facts.link, "text": line, "color": color}]});
            (base.to_owned(), body)
        }
        AlertKind::Teams => {
            let body = json!({"type": "message", "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": format!("Ansible Task Template Execution by: {}", facts.author)},
                        {"type": "FactSet", "facts": [
                            {"title": "Task:", "value": facts.template_name},
                            {"title": "Status:", "value": result},
                            {"title": "Task ID:", "value": facts.task_id.to_string()}
                        ], "separator": true}
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "Task URL", "url": facts.link}],
                    "msteams": {"width": "Full"},
                    "backgroundImage": {"horizontalAlignment": "Center", "url": TEAMS_STRIP, "fillMode": "RepeatHorizontally"}
                }
            }]});
            (base.to_owned(), body)
        }
        AlertKind::Gotify { token } => {
            let message = format!(
                "Execution #: {}   \nStatus: {result}   \nAuthor: {}   \n[Task Link]({})",
                facts.task_id, facts.author, facts.link
            );
            let body = json!({"extras": {"client::display": {"contentType": "text/markdown"}}, "message": message, "title": title});
            (format!("{base}/message?token={token}"), body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_recorded_shapes() {
        let facts = AlertFacts {
            task_id: 2_147_483_646,
            template_name: "hello",
            status: &TaskStatus::Success,
            link: "https://semaphore.example.test/project/1/templates/2?t=2147483646",
            author: "Admin",
        };
        let slack = payload(&AlertTarget { kind: AlertKind::Slack, url: "http://x/slack".into() }, &facts).1;
        assert_eq!(slack["attachments"][0]["text"], "execution #2147483646, status: ✅SUCCESS!");
        assert_eq!(slack["attachments"][0]["color"], "good");
        let (url, gotify) = payload(
            &AlertTarget { kind: AlertKind::Gotify { token: "t".into() }, url: "http://x/gotify".into() },
            &facts,
        );
        assert_eq!(url, "http://x/gotify/message?token=t");
        assert_eq!(
            gotify["message"],
            "Execution #: 2147483646   \nStatus: ✅SUCCESS   \nAuthor: Admin   \n[Task Link](https://semaphore.example.test/project/1/templates/2?t=2147483646)"
        );
        assert!(alerts_for(&TaskStatus::WaitingConfirmation));
        assert!(!alerts_for(&TaskStatus::Stopped));
    }
}
