//! What a whole log says at a glance. It is shown on every page of `logs`, because a log's outcome
//! matters more than the lines of whichever page is asked for.

use super::{GREEN, RED, plural, shorten};
use crate::render::Reply;
use crate::render::ansible::RecapRow;

/// Failed or unreachable hosts named in the summary; more are counted.
const HOSTS_NAMED: usize = 5;

/// What a whole log says at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Lines highlighted as errors (a Terraform diagnostic box counts once).
    pub errors: usize,
    pub warnings: usize,
    /// Terraform's last plan, apply, destroy or no-change line of each kind, in log order.
    pub outcomes: Vec<String>,
    /// The last PLAY RECAP.
    pub recap: Option<RecapTotals>,
}

/// The last PLAY RECAP, summed up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecapTotals {
    pub hosts: usize,
    pub failed: usize,
    pub unreachable: usize,
    /// The first few hosts that failed or were unreachable.
    pub named: Vec<String>,
}

impl LogSummary {
    /// Appends the summary to a reply, one line per fact; nothing when there is nothing to say.
    pub fn describe(&self, mut reply: Reply) -> Reply {
        for outcome in &self.outcomes {
            reply = reply.line().bold(outcome);
        }
        if let Some(recap) = &self.recap {
            let hosts = plural(recap.hosts, "host");
            reply = reply.line().bold("PLAY RECAP").push(&format!(": {hosts} · "));
            if recap.failed == 0 && recap.unreachable == 0 {
                reply = reply.colored("all ok", GREEN);
            } else {
                let mut problems = Vec::new();
                if recap.failed > 0 {
                    problems.push(format!("{} failed", recap.failed));
                }
                if recap.unreachable > 0 {
                    problems.push(format!("{} unreachable", recap.unreachable));
                }
                let mut text = problems.join(", ");
                if !recap.named.is_empty() {
                    text.push_str(&format!(" ({}", recap.named.join(", ")));
                    let more = (recap.failed + recap.unreachable).saturating_sub(recap.named.len());
                    if more > 0 {
                        text.push_str(&format!(" and {more} more"));
                    }
                    text.push(')');
                }
                reply = reply.colored(&text, RED);
            }
        }
        reply
    }
}

impl RecapTotals {
    pub(super) fn add(&mut self, row: &RecapRow<'_>) {
        self.hosts += 1;
        if row.failed() {
            self.failed += 1;
        }
        if row.unreachable() {
            self.unreachable += 1;
        }
        if (row.failed() || row.unreachable()) && self.named.len() < HOSTS_NAMED {
            self.named.push(shorten(row.host, 64).into_owned());
        }
    }
}
