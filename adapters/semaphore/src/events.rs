//! Semaphore's websocket (`/api/ws`) as a stream of task events, with reconnects.
//!
//! The server drops a client whose 256-message buffer fills (a chatty playbook does that) and
//! never replays, so after every reconnect the stream reconciles through `tasks/last`: a status
//! that changed while the socket was down is still delivered.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chatrixcd_ports::semaphore::{SemaphorePort, TaskEvent, TaskEvents};
use chatrixcd_ports::{ProjectId, TaskId, TaskStatus, TemplateId};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use reqwest_websocket::{Message, Upgrade as _};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::HttpSemaphore;

/// How the event stream reconnects.
#[derive(Debug, Clone, Copy)]
pub struct Reconnect {
    /// First wait after a failure; doubled per failure, with jitter.
    pub first: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
    /// Newest tasks per project compared after a reconnect.
    pub reconcile_limit: u16,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self { first: Duration::from_millis(500), max: Duration::from_secs(30), reconcile_limit: 50 }
    }
}

/// The events of one Semaphore server. Dropping it stops the background connection.
#[derive(Debug)]
pub struct WsEvents {
    rx: mpsc::Receiver<TaskEvent>,
    worker: tokio::task::JoinHandle<()>,
}

impl Drop for WsEvents {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

#[async_trait]
impl TaskEvents for WsEvents {
    async fn next_event(&mut self) -> Option<TaskEvent> {
        self.rx.recv().await
    }
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(rename = "type")]
    kind: Option<String>,
    task_id: Option<u64>,
    project_id: Option<u64>,
    template_id: Option<u64>,
    status: Option<String>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    time: Option<DateTime<Utc>>,
    output: Option<String>,
}

impl WireMessage {
    /// Unknown types and incomplete messages are ignored: newer servers may send more.
    fn into_event(self) -> Option<TaskEvent> {
        let task = TaskId::new(self.task_id?);
        let project = ProjectId::new(self.project_id?);
        match self.kind.as_deref()? {
            "update" => Some(TaskEvent::Status {
                project,
                task,
                template: TemplateId::new(self.template_id.unwrap_or_default()),
                status: TaskStatus::from(self.status?),
                start: self.start,
                end: self.end,
            }),
            "log" => Some(TaskEvent::Log { project, task, time: self.time, text: self.output.unwrap_or_default() }),
            _ => None,
        }
    }
}

/// One websocket text frame as an event; `None` for frames of no interest (or unreadable).
pub(crate) fn decode_frame(text: &str) -> Option<TaskEvent> {
    serde_json::from_str::<WireMessage>(text).ok().and_then(WireMessage::into_event)
}

impl HttpSemaphore {
    /// Subscribes to the server's task events. The connection runs in the background and comes
    /// back by itself; statuses missed while it was down are reconciled.
    pub fn events(&self, reconnect: Reconnect) -> WsEvents {
        let (tx, rx) = mpsc::channel(1024);
        let worker = tokio::spawn(run(self.clone(), tx, reconnect));
        WsEvents { rx, worker }
    }
}

async fn run(client: HttpSemaphore, tx: mpsc::Sender<TaskEvent>, reconnect: Reconnect) {
    let mut seen: HashMap<TaskId, TaskStatus> = HashMap::new();
    let mut failures: u32 = 0;
    let mut connected_before = false;
    loop {
        let url = format!("{}/ws", client.api());
        let attempt = client.ws_http.get(&url).bearer_auth(client.token()).upgrade().send().await;
        let socket = match attempt {
            Ok(response) => response.into_websocket().await,
            Err(e) => Err(e),
        };
        match socket {
            Ok(mut socket) => {
                failures = 0;
                let opened = if connected_before { TaskEvent::Reconnected } else { TaskEvent::Connected };
                if tx.send(opened).await.is_err() {
                    return;
                }
                if connected_before && !reconcile(&client, &tx, &mut seen, reconnect.reconcile_limit).await {
                    return;
                }
                connected_before = true;
                while let Some(message) = socket.next().await {
                    let text = match message {
                        Ok(Message::Text(text)) => text,
                        Ok(Message::Close { .. }) | Err(_) => break,
                        Ok(_) => continue,
                    };
                    let Some(event) = decode_frame(&text) else { continue };
                    if let TaskEvent::Status { task, status, .. } = &event {
                        seen.insert(*task, status.clone());
                    }
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                tracing::info!("Semaphore websocket closed; reconnecting");
                if tx.send(TaskEvent::Disconnected).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, failures, "cannot open Semaphore's websocket; will retry");
            }
        }
        if tx.is_closed() {
            return;
        }
        let base = reconnect.first.saturating_mul(1 << failures.min(8)).min(reconnect.max);
        tokio::time::sleep(base / 2 + base.mul_f64(fastrand::f64() * 0.5)).await;
    }
}

/// Sends a `Status` for every recent task whose status differs from what was last seen. Returns
/// false when nobody listens any more.
async fn reconcile(
    client: &HttpSemaphore,
    tx: &mpsc::Sender<TaskEvent>,
    seen: &mut HashMap<TaskId, TaskStatus>,
    limit: u16,
) -> bool {
    let projects = match client.projects().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reconcile after a reconnect; polling will catch up");
            return true;
        }
    };
    for project in projects {
        let Ok(tasks) = client.recent_tasks(project.id, limit).await else { continue };
        for task in tasks {
            if seen.get(&task.id) == Some(&task.status) {
                continue;
            }
            seen.insert(task.id, task.status.clone());
            let event = TaskEvent::Status {
                project: task.project_id,
                task: task.id,
                template: task.template_id,
                status: task.status,
                start: task.start,
                end: task.end,
            };
            if tx.send(event).await.is_err() {
                return false;
            }
        }
    }
    true
}
