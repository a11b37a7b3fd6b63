//! Driving the domain's bot: events in, timers fired when the bot's next deadline comes.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chatrixcd_domain::{Bot, Outcome};
use chatrixcd_ports::Clock;

/// How long to sleep before the bot's next deadline; `None` when nothing is scheduled.
pub(crate) fn until_deadline(bot: &Bot, clock: &Arc<dyn Clock>) -> Option<StdDuration> {
    let deadline = bot.next_deadline()?;
    let wait = deadline - clock.now();
    Some(wait.to_std().unwrap_or(StdDuration::ZERO))
}

/// Sleeps until the bot's next deadline, or forever when it has none (for `select!`).
pub(crate) async fn next_deadline(bot: &Bot, clock: &Arc<dyn Clock>) {
    match until_deadline(bot, clock) {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// Ticks the bot until no watched task moves on its own any more (finished, or waiting for a
/// person's approval), or `limit` has passed. Returns whether that point was reached.
pub(crate) async fn drain(bot: &mut Bot, clock: &Arc<dyn Clock>, limit: StdDuration) -> bool {
    let give_up = tokio::time::Instant::now() + limit;
    while bot.is_watching() && bot.tasks_in_motion().await > 0 {
        let wait = until_deadline(bot, clock).unwrap_or(StdDuration::from_millis(200));
        if tokio::time::Instant::now() + wait > give_up {
            return false;
        }
        tokio::time::sleep(wait).await;
        if bot.tick().await == Outcome::Shutdown {
            // Already draining; a second exit request changes nothing.
        }
    }
    true
}

/// Hands one item of Semaphore's event stream to the bot. The stream ending for good (`None`)
/// turns the push channel off (`open`), and watching goes on by polling alone.
pub(crate) async fn on_push(bot: &mut Bot, pushed: Option<chatrixcd_ports::TaskEvent>, open: &mut bool) -> Outcome {
    match pushed {
        Some(event) => bot.on_task_event(event).await,
        None => {
            tracing::warn!("Semaphore's event stream ended; watching by polling only");
            *open = false;
            bot.on_task_event(chatrixcd_ports::TaskEvent::Disconnected).await
        }
    }
}
