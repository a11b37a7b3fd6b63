//! Driving the bot: chat events and Semaphore pushes in, the bot's jobs run in lanes, timers
//! fired when the bot's next deadline comes. The same loop serves `run` (Matrix) and `demo`
//! (the console).
//!
//! A lane runs its jobs one at a time, in order; lanes run at once on tokio's pool. So a room's
//! commands on one instance answer in order, and a command waiting on a black-holed instance
//! holds up only that room's later commands on that instance: `help`, other rooms and other
//! instances answer as if it were not there. See docs/architecture.md.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chatrixcd_domain::{Bot, Job, Lane, Outcome};
use chatrixcd_ports::chat::ChatEvent;
use chatrixcd_ports::semaphore::TaskEvents;
use chatrixcd_ports::{Clock, InstanceId, TaskEvent};
use tokio::sync::{mpsc, oneshot};

/// What the chat side hands the loop.
#[derive(Debug)]
pub enum Input {
    Event(ChatEvent),
    /// An event whose sender waits until the bot has handled it (its job ended, or the bot
    /// ignored it): scripted console input, fed as a person would type after reading the reply,
    /// so a `yes` answers the question the line before it asked.
    Paced(ChatEvent, oneshot::Sender<()>),
    /// Tell `done` once no watched task moves on its own any more, or `limit` has passed
    /// (`true`: they all stopped moving). The demo's `/wait`.
    Drain {
        limit: StdDuration,
        done: oneshot::Sender<bool>,
    },
    /// A webhook delivery to post.
    Hook(chatrixcd_ports::HookEvent),
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The input closed (the console's stdin, the Matrix connection).
    InputClosed,
    /// An admin confirmed `exit`.
    Shutdown,
    /// SIGINT or SIGTERM.
    Signal,
}

/// How the loop behaves at its ends.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// When the input closes, let watched tasks finish for this long before ending (the demo);
    /// `None` ends at once.
    pub drain_on_close: Option<StdDuration>,
    /// At the end, how long jobs under way may take to finish.
    pub finish_jobs: StdDuration,
}

/// The lanes: a queue per lane, at most one job running in each.
struct Lanes {
    queues: HashMap<Lane, VecDeque<Job>>,
    running: HashSet<Lane>,
    done: mpsc::UnboundedSender<Lane>,
}

impl Lanes {
    fn new(done: mpsc::UnboundedSender<Lane>) -> Self {
        Self { queues: HashMap::new(), running: HashSet::new(), done }
    }

    fn submit(&mut self, job: Job) {
        if self.running.contains(&job.lane) {
            self.queues.entry(job.lane.clone()).or_default().push_back(job);
        } else {
            self.start(job);
        }
    }

    fn start(&mut self, job: Job) {
        let lane = job.lane.clone();
        self.running.insert(lane.clone());
        let done = self.done.clone();
        let work = tokio::spawn(job.into_future());
        // A job that panics still frees its lane: the panic is logged, the next job runs.
        tokio::spawn(async move {
            if let Err(e) = work.await {
                tracing::error!(lane = ?lane, error = %e, "a job failed");
            }
            let _ = done.send(lane);
        });
    }

    /// A job of `lane` ended: the lane's next one starts.
    fn finished(&mut self, lane: &Lane) {
        self.running.remove(lane);
        let next = self.queues.get_mut(lane).and_then(VecDeque::pop_front);
        if self.queues.get(lane).is_some_and(VecDeque::is_empty) {
            self.queues.remove(lane);
        }
        if let Some(job) = next {
            self.start(job);
        }
    }

    fn is_idle(&self) -> bool {
        self.running.is_empty()
    }
}

/// Forwards each instance's event stream into one channel; a stream that ends for good is
/// reported once as `None`.
pub fn forward_pushes(
    streams: Vec<(InstanceId, Box<dyn TaskEvents>)>,
) -> mpsc::Receiver<(InstanceId, Option<TaskEvent>)> {
    let (tx, rx) = mpsc::channel(256);
    for (instance, mut stream) in streams {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let event = stream.next_event().await;
                let ended = event.is_none();
                if tx.send((instance, event)).await.is_err() || ended {
                    break;
                }
            }
        });
    }
    rx
}

fn until(clock: &Arc<dyn Clock>, at: Option<chrono::DateTime<chrono::Utc>>) -> Option<StdDuration> {
    at.map(|at| (at - clock.now()).to_std().unwrap_or(StdDuration::ZERO))
}

async fn sleep_for(wait: Option<StdDuration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// Runs the bot until its input closes, an admin confirms `exit`, or `stop` resolves.
pub async fn serve(
    bot: &Bot,
    clock: &Arc<dyn Clock>,
    mut inputs: mpsc::Receiver<Input>,
    mut pushes: mpsc::Receiver<(InstanceId, Option<TaskEvent>)>,
    stop: impl std::future::Future<Output = ()>,
    options: Options,
) -> Ended {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut lanes = Lanes::new(done_tx);
    let mut drains: Vec<(tokio::time::Instant, oneshot::Sender<bool>)> = Vec::new();
    let mut input_open = true;
    let mut closing_until: Option<tokio::time::Instant> = None;
    let mut pushes_open = true;
    let mut questions_cancelled = false;
    tokio::pin!(stop);
    let ended = loop {
        let deadline = until(clock, bot.next_deadline());
        let drain_limit = drains.iter().map(|(at, _)| *at).chain(closing_until).min();
        tokio::select! {
            input = inputs.recv(), if input_open => match input {
                Some(Input::Event(event)) => {
                    if let Some(job) = bot.accept(event).await {
                        lanes.submit(job);
                    }
                }
                Some(Input::Paced(event, handled)) => match bot.accept(event).await {
                    Some(job) => {
                        let lane = job.lane.clone();
                        lanes.submit(Job::new(lane, async move {
                            job.into_future().await;
                            let _ = handled.send(());
                        }));
                    }
                    None => {
                        let _ = handled.send(());
                    }
                },
                Some(Input::Drain { limit, done }) => {
                    drains.push((tokio::time::Instant::now() + limit, done));
                    settle_drains(bot, lanes.is_idle(), &mut drains, false).await;
                }
                Some(Input::Hook(event)) => {
                    if let Some(job) = bot.hook(event) {
                        lanes.submit(job);
                    }
                }
                None => {
                    input_open = false;
                    let Some(limit) = options.drain_on_close else { break Ended::InputClosed };
                    closing_until = Some(tokio::time::Instant::now() + limit);
                    // Commands already typed are answered first: this is asked again as each ends.
                    if lanes.is_idle() && settled_after_close(bot, &mut questions_cancelled).await {
                        break Ended::InputClosed;
                    }
                }
            },
            () = sleep_for(deadline) => {
                for job in bot.due() {
                    lanes.submit(job);
                }
            }
            pushed = pushes.recv(), if pushes_open => match pushed {
                Some((instance, Some(event))) => {
                    if let Some(job) = bot.push(instance, event) {
                        lanes.submit(job);
                    }
                }
                Some((instance, None)) => {
                    tracing::warn!(%instance, "Semaphore's event stream ended; watching by polling only");
                    if let Some(job) = bot.push(instance, TaskEvent::Disconnected) {
                        lanes.submit(job);
                    }
                }
                None => pushes_open = false,
            },
            Some(lane) = done_rx.recv() => {
                lanes.finished(&lane);
                if bot.outcome() == Outcome::Shutdown {
                    break Ended::Shutdown;
                }
                settle_drains(bot, lanes.is_idle(), &mut drains, false).await;
                if closing_until.is_some()
                    && lanes.is_idle()
                    && settled_after_close(bot, &mut questions_cancelled).await
                {
                    break Ended::InputClosed;
                }
            }
            () = sleep_until(drain_limit) => {
                settle_drains(bot, lanes.is_idle(), &mut drains, true).await;
                // The caller tells its user (the demo: "gave up waiting").
                if closing_until.is_some_and(|at| at <= tokio::time::Instant::now()) {
                    break Ended::InputClosed;
                }
            }
            () = &mut stop => break Ended::Signal,
        }
    };
    finish(&mut lanes, &mut done_rx, options.finish_jobs).await;
    ended
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// After the input closed and every typed command was answered: nobody is left to answer a
/// question, so open ones are cancelled (once); then whether nothing moves any more.
async fn settled_after_close(bot: &Bot, questions_cancelled: &mut bool) -> bool {
    if !std::mem::replace(questions_cancelled, true) {
        bot.cancel_open_questions("the console closed, so nobody can answer").await;
    }
    !still_moving(bot).await
}

/// Whether watched tasks still move on their own.
async fn still_moving(bot: &Bot) -> bool {
    bot.is_watching() && bot.tasks_in_motion().await > 0
}

/// Answers the drains that are over: every job done and every task settled, or (when
/// `expired`) their time is up.
async fn settle_drains(
    bot: &Bot,
    idle: bool,
    drains: &mut Vec<(tokio::time::Instant, oneshot::Sender<bool>)>,
    expired: bool,
) {
    if drains.is_empty() {
        return;
    }
    let settled = idle && !still_moving(bot).await;
    let now = tokio::time::Instant::now();
    let (over, waiting): (Vec<_>, Vec<_>) =
        std::mem::take(drains).into_iter().partition(|(at, _)| settled || (expired && *at <= now));
    *drains = waiting;
    for (_, done) in over {
        let _ = done.send(settled);
    }
}

/// Lets jobs under way finish, for at most `limit`; later jobs of their lanes are dropped (a
/// confirmation asked meanwhile is cancelled by the caller, a poll is done again at the next
/// start).
async fn finish(lanes: &mut Lanes, done: &mut mpsc::UnboundedReceiver<Lane>, limit: StdDuration) {
    lanes.queues.clear();
    let give_up = tokio::time::Instant::now() + limit;
    while !lanes.is_idle() {
        match tokio::time::timeout_at(give_up, done.recv()).await {
            Ok(Some(lane)) => {
                lanes.running.remove(&lane);
            }
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(jobs = lanes.running.len(), "stopping with jobs still under way");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lane_runs_its_jobs_in_order_and_lanes_run_at_once() {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut lanes = Lanes::new(done_tx);
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let room = chatrixcd_ports::RoomId::parse("!r:x").unwrap();
        let slow = Lane::Room { room: room.clone(), on: chatrixcd_domain::On::Instance(InstanceId::default()) };
        let fast = Lane::Room { room, on: chatrixcd_domain::On::Local };
        let job = |lane: &Lane, name: &'static str, gate: Option<oneshot::Receiver<()>>| {
            let log = Arc::clone(&log);
            Job::new(lane.clone(), async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
                log.lock().unwrap().push(name);
            })
        };
        lanes.submit(job(&slow, "slow 1", Some(release_rx)));
        lanes.submit(job(&slow, "slow 2", None));
        lanes.submit(job(&fast, "fast", None));
        let finished = done_rx.recv().await.unwrap();
        assert_eq!(finished, fast, "the other lane does not wait");
        lanes.finished(&finished);
        assert_eq!(*log.lock().unwrap(), ["fast"]);
        release_tx.send(()).unwrap();
        for _ in 0..2 {
            let lane = done_rx.recv().await.unwrap();
            lanes.finished(&lane);
        }
        assert_eq!(*log.lock().unwrap(), ["fast", "slow 1", "slow 2"], "one lane keeps its order");
        assert!(lanes.is_idle());
    }

    #[tokio::test]
    async fn a_job_that_panics_frees_its_lane() {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut lanes = Lanes::new(done_tx);
        #[allow(clippy::panic)]
        lanes.submit(Job::new(Lane::Bot, async { panic!("boom") }));
        let lane = done_rx.recv().await.unwrap();
        lanes.finished(&lane);
        assert!(lanes.is_idle());
    }
}
