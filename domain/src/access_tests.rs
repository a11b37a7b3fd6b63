//! Property and table tests of the permission policy through the whole bot: random grants, random
//! streams of commands, answers and reactions from random users in random rooms, against mocked
//! Semaphores that log every mutating call (`start_task`, `stop_task`, `confirm_task`). A call
//! the grants do not allow never happens, and every call they allow does.
//!
//! The oracle asks [`Policy::authorize`] (the model, tested on its own in `permissions.rs`) about
//! the exact target of each step, and keeps its own account of the open questions; the bot is
//! driven only through chat events. Time passes between steps: a grant that expired, closed its
//! window or was revoked while a question was open gets nothing started when the question is
//! answered (the bot asks the policy again then).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chatrixcd_clock::ManualClock;
use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::semaphore::{MockSemaphorePort, Project, SemaphoreError, ServerInfo, StopMode, Task, Template};
use chatrixcd_ports::store::TrackedTask;
use chatrixcd_ports::{Clock, InstanceId, ProjectId, RoomId, Store as _, TaskId, TaskStatus, TemplateId, UserId};
use chatrixcd_store_memory::MemoryStore;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use crate::bot::{Bot, Deps};
use crate::confirm::{Answer, classify_reaction, classify_text};
use crate::instances::{Instance, Instances};
use crate::permissions::{Grant, Permission, Policy, Role, Scope, Target};
use crate::personality::Personality;
use crate::redact::Redactor;
use crate::settings::{ConfirmPolicy, PolicyRule, Settings};
use crate::testing::{Posted, RecordingChat, settings};
use crate::windows::Window;

// ---------------------------------------------------------------------------------------------
// The world: two instances with the same catalogue, two rooms, a few users.

/// `default` is the default instance; `prod` is a protected one.
const INSTANCES: [&str; 2] = ["default", "prod"];
const ROOMS: [&str; 2] = ["!ops:test", "!dev:test"];
/// The users who act; the last one never holds a grant.
const USERS: [&str; 5] = ["@ann:test", "@ben:test", "@cat:test", "@dan:test", "@eve:test"];
/// Users the random grants go to (eve stays a stranger).
const GRANTED: usize = 4;
/// The one administrator: holds `admin` everywhere and never acts, so the bot is never in its
/// "no admin configured" mode.
const ROOT: &str = "@root:test";

/// A template: id, name.
type TemplateSpec = (u64, &'static str);
/// A project: id, name, templates.
type ProjectSpec = (u64, &'static str, [TemplateSpec; 2]);

/// Projects and their templates, the same on both instances.
const PROJECTS: [ProjectSpec; 2] =
    [(1, "ops", [(5, "deploy-web"), (6, "lint")]), (2, "web", [(7, "deploy-api"), (8, "lint")])];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// A Terraform plan waiting for approval.
    Plan,
    Done,
}

/// The tasks each instance holds: id, project, template, state, and whether the server names the
/// template in the task (2.10 does not).
const TASKS: [(u64, u64, u64, State, bool); 5] = [
    (11, 1, 5, State::Running, true),
    (12, 1, 6, State::Plan, false),
    (13, 1, 5, State::Done, true),
    (21, 2, 7, State::Plan, true),
    (22, 2, 8, State::Running, false),
];

/// Watched runs whose plan waits for approval, answerable by a reaction on their status message:
/// instance, task, room.
const PLANS: [(usize, u64, usize); 4] = [(0, 12, 0), (0, 21, 1), (1, 12, 1), (1, 21, 0)];

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}
fn room(i: usize) -> RoomId {
    RoomId::parse(ROOMS[i]).unwrap()
}
fn inst(name: &str) -> InstanceId {
    InstanceId::parse(name).unwrap()
}
fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}
fn plan_event(plan: usize) -> EventId {
    let (i, task, _) = PLANS[plan];
    EventId(format!("$plan-{}-{task}", INSTANCES[i]))
}

fn project_name(id: u64) -> &'static str {
    PROJECTS.iter().find(|p| p.0 == id).map(|p| p.1).unwrap()
}
fn template_name(id: u64) -> &'static str {
    PROJECTS.iter().flat_map(|p| p.2).find(|t| t.0 == id).map(|t| t.1).unwrap()
}
fn fixture_task(id: u64) -> (u64, u64, u64, State, bool) {
    *TASKS.iter().find(|t| t.0 == id).unwrap()
}

fn task(id: u64) -> Task {
    let (id, project, template, state, named) = fixture_task(id);
    Task {
        id: TaskId::new(id),
        project_id: ProjectId::new(project),
        template_id: TemplateId::new(template),
        status: match state {
            State::Running => TaskStatus::Running,
            State::Plan => TaskStatus::WaitingConfirmation,
            State::Done => TaskStatus::Success,
        },
        created: None,
        start: None,
        end: None,
        message: None,
        template_name: named.then(|| template_name(template).to_owned()),
        user_name: None,
    }
}

/// A mutating call Semaphore received.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Start { instance: &'static str, project: u64, template: u64 },
    Stop { instance: &'static str, project: u64, task: u64, force: bool },
    Confirm { instance: &'static str, project: u64, task: u64 },
}

type Log = Arc<Mutex<Vec<Call>>>;

/// A Semaphore with the catalogue above that answers every read and logs every mutating call
/// (each of which succeeds).
fn semaphore(instance: &'static str, log: &Log, next_task: &Arc<AtomicU64>) -> MockSemaphorePort {
    let mut sem = MockSemaphorePort::new();
    sem.expect_ping().returning(|| Ok(()));
    sem.expect_info().returning(|| Ok(ServerInfo::default()));
    sem.expect_projects()
        .returning(|| Ok(PROJECTS.iter().map(|p| Project { id: ProjectId::new(p.0), name: p.1.to_owned() }).collect()));
    sem.expect_templates().returning(|project| {
        let p = PROJECTS.iter().find(|p| p.0 == project.get()).ok_or(SemaphoreError::NotFound("project".into()))?;
        Ok(p.2
            .iter()
            .map(|t| Template {
                id: TemplateId::new(t.0),
                project_id: project,
                name: t.1.to_owned(),
                ..Template::default()
            })
            .collect())
    });
    sem.expect_task().returning(|project, id| match TASKS.iter().find(|t| t.0 == id.get()) {
        Some(t) if t.1 == project.get() => Ok(task(t.0)),
        _ => Err(SemaphoreError::NotFound(format!("task {id}"))),
    });
    sem.expect_recent_tasks()
        .returning(|project, _| Ok(TASKS.iter().filter(|t| t.1 == project.get()).map(|t| task(t.0)).collect()));
    sem.expect_task_log_text().returning(|_, _| Ok(String::new()));
    sem.expect_recent_events().returning(|_| Ok(Vec::new()));
    sem.expect_environments().returning(|_| Ok(Vec::new()));
    sem.expect_inventories().returning(|_| Ok(Vec::new()));
    sem.expect_task_url().returning(|_, _, _| None);
    let (log_start, next) = (Arc::clone(log), Arc::clone(next_task));
    sem.expect_start_task().returning(move |project, request| {
        log_start.lock().unwrap().push(Call::Start {
            instance,
            project: project.get(),
            template: request.template_id.get(),
        });
        let id = TaskId::new(next.fetch_add(1, Ordering::Relaxed));
        Ok(Task { template_id: request.template_id, ..crate::testing::bare_task(project, id, TaskStatus::Waiting) })
    });
    let log_stop = Arc::clone(log);
    sem.expect_stop_task().returning(move |project, task, mode| {
        log_stop.lock().unwrap().push(Call::Stop {
            instance,
            project: project.get(),
            task: task.get(),
            force: mode == StopMode::Force,
        });
        Ok(())
    });
    let log_confirm = Arc::clone(log);
    sem.expect_confirm_task().returning(move |project, task| {
        log_confirm.lock().unwrap().push(Call::Confirm { instance, project: project.get(), task: task.get() });
        Ok(())
    });
    sem
}

/// The settings of the world: `root` is the only admin, no viewers; `lint` runs without a
/// question, `deploy-web` on prod needs a second person, anything else asks the requester; prod
/// is protected; three custom roles beside the built-in ones.
fn world_settings(grants: Vec<Grant>) -> Settings {
    let mut s = settings();
    s.admins = vec![user(ROOT)];
    s.viewers = Vec::new();
    s.grants = grants;
    s.protected_instances = vec![inst("prod")];
    s.roles = vec![
        Role::custom("oncall", [Permission::Read, Permission::Logs, Permission::Stop]),
        // Without `read`: may answer plans, and be the second person of a run.
        Role::custom("gatekeeper", [Permission::Approve]),
        // Without `read`: the projects it could run are invisible to it (docs/permissions.md:
        // "A role that runs things should include `read`").
        Role::custom("launcher", [Permission::Run]),
    ];
    s.default_policy = ConfirmPolicy::Confirm;
    s.policies = vec![
        PolicyRule { instance: None, project: None, template: Some("lint".into()), policy: ConfirmPolicy::None },
        PolicyRule {
            instance: Some(inst("prod")),
            project: None,
            template: Some("deploy-web".into()),
            policy: ConfirmPolicy::TwoPerson,
        },
    ];
    s
}

struct World {
    bot: Bot,
    chat: Arc<RecordingChat>,
    clock: ManualClock,
    log: Log,
    /// The policy the bot starts with, for the oracle.
    policy: Policy,
    settings: Settings,
    next_event: u64,
}

impl World {
    async fn new(grants: Vec<Grant>, now: DateTime<Utc>) -> Self {
        let clock = ManualClock::new(now);
        let log: Log = Arc::default();
        let next_task = Arc::new(AtomicU64::new(1000));
        let list = INSTANCES
            .iter()
            .map(|&name| Instance {
                id: inst(name),
                url: format!("https://{name}.semaphore.test"),
                semaphore: Arc::new(semaphore(name, &log, &next_task)),
            })
            .collect();
        let store = Arc::new(MemoryStore::new());
        for (plan, &(i, task, r)) in PLANS.iter().enumerate() {
            let (_, project, template, _, _) = fixture_task(task);
            store
                .track(TrackedTask {
                    instance: inst(INSTANCES[i]),
                    project: ProjectId::new(project),
                    task: TaskId::new(task),
                    template: TemplateId::new(template),
                    template_name: template_name(template).to_owned(),
                    room: room(r),
                    requester: user(ROOT),
                    status_event: Some(plan_event(plan)),
                    last_status: TaskStatus::WaitingConfirmation,
                    started_at: now,
                    stop_requested_by: None,
                })
                .await
                .unwrap();
        }
        let chat = Arc::new(RecordingChat::default());
        let deps = Deps {
            chat: chat.clone(),
            instances: Instances::new(list, InstanceId::default()).unwrap(),
            store,
            clock: Arc::new(clock.clone()),
            sealer: None,
        };
        let settings = world_settings(grants);
        let policy = settings.policy();
        let bot = Bot::new(deps, settings.clone(), Personality::with_seed(7), Redactor::new(Vec::new()));
        Self { bot, chat, clock, log, policy, settings, next_event: 0 }
    }

    fn meta(&mut self, who: &UserId, room: &RoomId) -> Incoming {
        self.next_event += 1;
        Incoming {
            room: room.clone(),
            sender: who.clone(),
            sender_name: None,
            event_id: EventId(format!("$in{}", self.next_event)),
            timestamp: self.clock.now(),
        }
    }

    /// `who` says `body` in `room`, and everything it leads to is done; returns the mutating
    /// calls it made and what the bot posted.
    async fn say(&mut self, who: &UserId, room: &RoomId, body: &str) -> (Vec<Call>, Vec<Posted>) {
        let meta = self.meta(who, room);
        self.event(ChatEvent::Message { meta, body: body.to_owned(), thread_root: None }).await
    }

    async fn react(&mut self, who: &UserId, room: &RoomId, to: &EventId, key: &str) -> (Vec<Call>, Vec<Posted>) {
        let meta = self.meta(who, room);
        self.event(ChatEvent::Reaction { meta, relates_to: to.clone(), key: key.to_owned() }).await
    }

    async fn event(&mut self, event: ChatEvent) -> (Vec<Call>, Vec<Posted>) {
        let before = self.log.lock().unwrap().len();
        self.bot.handle(event).await;
        let calls = self.log.lock().unwrap()[before..].to_vec();
        (calls, self.chat.take())
    }
}

fn bodies(posted: &[Posted]) -> Vec<&str> {
    posted
        .iter()
        .filter_map(|p| match p {
            Posted::Message(_, m) | Posted::Edit(_, m) => Some(m.body.as_str()),
            _ => None,
        })
        .collect()
}

/// The questions the bot asked (their event ids), as `Ctx::ask` words them.
fn questions(posted: &[Posted]) -> Vec<EventId> {
    posted
        .iter()
        .filter_map(|p| match p {
            Posted::Message(id, m) if m.body.contains("to go ahead") || m.body.contains("must answer 👍") => {
                Some(id.clone())
            }
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Random grants.

const ROLES: [&str; 12] = [
    "admin",
    "operator",
    "operator",
    "operator",
    "developer",
    "developer",
    "developer",
    "viewer",
    "viewer",
    "oncall",
    "gatekeeper",
    "launcher",
];

const SCOPES: [Option<&str>; 18] = [
    None,
    None,
    None,
    None,
    None,
    None,
    Some("default"),
    Some("default:ops"),
    Some("default:web:lint"),
    Some("default:*:deploy-*"),
    Some("default:1"),
    Some("default:?eb"),
    Some("prod"),
    Some("prod:ops"),
    Some("prod:web:8"),
    Some("*:*:lint"),
    Some("*"),
    Some("*:ops:deploy-web"),
];

/// Seconds from the case's now to the grant's expiry.
const UNTILS: [Option<i64>; 9] = [None, None, None, None, None, Some(-1), Some(0), Some(100), Some(3600)];

/// The case's now is Wednesday 2026-03-04 10:00 UTC, 11:00 in Berlin (CET).
const NOW: &str = "2026-03-04T10:00:00Z";
const WINDOWS: [Option<&str>; 11] = [
    None,
    None,
    None,
    None,
    None,
    None,
    Some("Mon-Fri 08:00-18:00 UTC"),
    Some("Sat,Sun"),
    // Open on Berlin's clock (11:00), which would be closed if read as UTC (10:00)...
    Some("Wed 10:30-11:30 Europe/Berlin"),
    // ...and the other way round.
    Some("Wed 09:30-10:30 Europe/Berlin"),
    Some("Thu"),
];

#[derive(Debug, Clone)]
struct GrantSpec {
    user: usize,
    role: &'static str,
    scope: Option<&'static str>,
    room: Option<usize>,
    until: Option<i64>,
    window: Option<&'static str>,
    second_person: bool,
}

impl GrantSpec {
    fn grant(&self, now: DateTime<Utc>) -> Grant {
        Grant {
            room: self.room.map(room),
            until: self.until.map(|s| now + Duration::seconds(s)),
            window: self.window.map(|w| Window::parse(w).unwrap()),
            second_person: self.second_person,
            ..Grant::new(user(USERS[self.user]), self.role, self.scope.map(|s| Scope::parse(s).unwrap()))
        }
    }
}

fn grant_spec() -> impl Strategy<Value = GrantSpec> {
    (
        0..GRANTED,
        prop::sample::select(ROLES.to_vec()),
        prop::sample::select(SCOPES.to_vec()),
        prop::option::weighted(0.25, 0..ROOMS.len()),
        prop::sample::select(UNTILS.to_vec()),
        prop::sample::select(WINDOWS.to_vec()),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(user, role, scope, room, until, window, second_person)| GrantSpec {
            user,
            role,
            scope,
            room,
            until,
            window,
            second_person,
        })
}

// ---------------------------------------------------------------------------------------------
// Random steps.

#[derive(Debug, Clone)]
enum Action {
    /// `run`: project and template by index into `PROJECTS`, by id or by name, qualified with
    /// the instance or not (only the default instance can go without), with `--yes` or not.
    Run {
        instance: usize,
        project: usize,
        template: usize,
        by_id: bool,
        qualified: bool,
        yes: bool,
    },
    Stop {
        instance: usize,
        task: usize,
        yes: bool,
    },
    Approve {
        instance: usize,
        task: usize,
    },
    Reject {
        instance: usize,
        task: usize,
    },
    Tasks {
        instance: Option<usize>,
    },
    Status {
        instance: usize,
        task: usize,
    },
    /// A plain message (an answer, or chatter), aimed at the open question at `pick`.
    Say {
        word: &'static str,
        pick: usize,
        aim: Aim,
    },
    /// A reaction to the open question at `pick` (to an unknown event if none is open).
    ReactQuestion {
        key: &'static str,
        pick: usize,
        aim: Aim,
    },
    /// A reaction to the status message of a watched plan; `here`: in the plan's own room.
    ReactPlan {
        plan: usize,
        key: &'static str,
        here: bool,
    },
    /// Time passes (and the bot runs what came due): grants expire, windows close, questions
    /// time out.
    Wait {
        seconds: i64,
    },
}

/// Who answers an open question, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aim {
    /// The step's user, in the step's room.
    Anyone,
    /// The step's user, in the question's room.
    Room,
    /// The question's requester, in its room.
    Requester,
}

#[derive(Debug, Clone)]
struct Step {
    user: usize,
    room: usize,
    action: Action,
}

const WORDS: [&str; 5] = ["yes", "no", "ok", "nope", "hello"];
const KEYS: [&str; 6] = ["👍", "✅", "👎", "❌", "✅\u{fe0f}", "🎉"];

fn action() -> impl Strategy<Value = Action> {
    let i = || 0..INSTANCES.len();
    let aim = || prop_oneof![1 => Just(Aim::Anyone), 2 => Just(Aim::Room), 2 => Just(Aim::Requester)];
    let t = || 0..TASKS.len();
    // Mostly the tasks waiting for approval (at 1 and 3), now and then another.
    let plans = || prop_oneof![3 => prop::sample::select(vec![1usize, 3]), 1 => 0..TASKS.len()];
    prop_oneof![
        5 => (i(), 0..2usize, 0..2usize, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(instance, project, template, by_id, qualified, yes)| Action::Run {
                instance, project, template, by_id, qualified, yes
            }
        ),
        3 => (i(), t(), any::<bool>()).prop_map(|(instance, task, yes)| Action::Stop { instance, task, yes }),
        2 => (i(), plans()).prop_map(|(instance, task)| Action::Approve { instance, task }),
        2 => (i(), plans()).prop_map(|(instance, task)| Action::Reject { instance, task }),
        1 => prop::option::of(i()).prop_map(|instance| Action::Tasks { instance }),
        1 => (i(), t()).prop_map(|(instance, task)| Action::Status { instance, task }),
        4 => (prop::sample::select(WORDS.to_vec()), 0..4usize, aim())
            .prop_map(|(word, pick, aim)| Action::Say { word, pick, aim }),
        4 => (prop::sample::select(KEYS.to_vec()), 0..4usize, aim())
            .prop_map(|(key, pick, aim)| Action::ReactQuestion { key, pick, aim }),
        2 => (0..PLANS.len(), prop::sample::select(KEYS.to_vec()), prop::bool::weighted(0.7))
            .prop_map(|(plan, key, here)| Action::ReactPlan { plan, key, here }),
    ]
}

/// A step; `time`: some steps let time pass.
fn step(time: bool) -> impl Strategy<Value = Step> {
    // Mostly the users who may hold grants; now and then the stranger.
    let who = prop_oneof![9 => 0..GRANTED, 1 => Just(GRANTED)];
    let wait = prop::sample::select(vec![10i64, 45, 70, 200, 400]).prop_map(|seconds| Action::Wait { seconds });
    let action = if time { prop_oneof![8 => action(), 1 => wait].boxed() } else { action().boxed() };
    (who, 0..ROOMS.len(), action).prop_map(|(user, room, action)| Step { user, room, action })
}

// ---------------------------------------------------------------------------------------------
// The oracle.

/// What a question, once answered yes, makes Semaphore do.
#[derive(Debug, Clone)]
struct Question {
    room: usize,
    requester: usize,
    /// Approver::OtherAdmin: a second person who may approve must say yes.
    two_person: bool,
    /// What the requester needs (`run` or `stop`) on the instance, project and template, which
    /// a second person of a run needs `approve` on.
    needs: Permission,
    target: (usize, u64, u64),
    call: Call,
    event: EventId,
    /// When it expires unanswered.
    deadline: DateTime<Utc>,
}

/// The exact target of an action on `template` of `project` on instance `i`.
fn target(i: usize, project: u64, template: u64) -> Target<'static> {
    Target {
        instance: Some(inst(INSTANCES[i])),
        project_id: Some(project),
        project: Some(project_name(project)),
        template_id: Some(template),
        template: Some(template_name(template)),
        some_of: false,
    }
}

struct Oracle<'a> {
    policy: &'a Policy,
    settings: &'a Settings,
    now: DateTime<Utc>,
    open: Vec<Question>,
}

/// What the oracle expects of a step: the mutating calls, and a question it opens.
#[derive(Debug, Default)]
struct Expect {
    calls: Vec<Call>,
    /// A question (its event id is filled in from what the bot posts).
    asks: Option<Question>,
}

impl Oracle<'_> {
    fn allows(&self, who: usize, r: usize, action: Permission, target: &Target<'_>) -> bool {
        self.policy.authorize(&user(USERS[who]), &room(r), action, target, self.now).is_allowed()
    }

    /// What a yes to `q` makes Semaphore do: its call, if its requester still may (a grant may
    /// have expired, or its window closed, since they asked).
    fn perform(&self, q: Question) -> Vec<Call> {
        let (i, project, template) = q.target;
        if self.allows(q.requester, q.room, q.needs, &target(i, project, template)) { vec![q.call] } else { Vec::new() }
    }

    /// Whether `who` may be the second person of `q`, answering in its room.
    fn may_approve(&self, who: usize, q: &Question) -> bool {
        let (i, project, template) = q.target;
        self.allows(who, q.room, Permission::Approve, &target(i, project, template))
    }

    /// The step's command text, or `None` for a step that is not a command.
    fn command(step: &Step) -> Option<String> {
        let inst_prefix = |i: usize| if i == 0 { String::new() } else { format!("{}:", INSTANCES[i]) };
        Some(match step.action {
            Action::Run { instance, project, template, by_id, qualified, yes } => {
                let (pid, pname, templates) = PROJECTS[project];
                let (tid, tname) = templates[template];
                let (p, t) = if by_id { (pid.to_string(), tid.to_string()) } else { (pname.into(), tname.into()) };
                let reference = if qualified || instance != 0 {
                    format!("{}:{p}:{t}", INSTANCES[instance])
                } else {
                    format!("{p} {t}")
                };
                format!("!cd run {reference}{}", if yes { " --yes" } else { "" })
            }
            Action::Stop { instance, task, yes } => {
                format!("!cd stop {}{}{}", inst_prefix(instance), TASKS[task].0, if yes { " --yes" } else { "" })
            }
            Action::Approve { instance, task } => format!("!cd approve {}{}", inst_prefix(instance), TASKS[task].0),
            Action::Reject { instance, task } => format!("!cd reject {}{}", inst_prefix(instance), TASKS[task].0),
            Action::Tasks { instance: None } => "!cd tasks".into(),
            Action::Tasks { instance: Some(i) } => format!("!cd tasks {}", INSTANCES[i]),
            Action::Status { instance, task } => format!("!cd status {}{}", inst_prefix(instance), TASKS[task].0),
            Action::Say { .. } | Action::ReactQuestion { .. } | Action::ReactPlan { .. } | Action::Wait { .. } => {
                return None;
            }
        })
    }

    /// A step that asks `q` and calls nothing yet (`run_case` files it, in place of the
    /// requester's open question in that room).
    fn ask(&self, q: Question) -> Expect {
        Expect { calls: Vec::new(), asks: Some(q) }
    }

    fn command_expect(&mut self, who: usize, r: usize, action: &Action) -> Expect {
        match *action {
            Action::Run { instance, project, template, yes, .. } => {
                let (pid, pname, templates) = PROJECTS[project];
                let (tid, tname) = templates[template];
                let exact = target(instance, pid, tid);
                // The project must be readable to be found at all (docs/permissions.md).
                let readable = Target { template_id: None, template: None, some_of: true, ..exact };
                let decision = self.policy.authorize(&user(USERS[who]), &room(r), Permission::Run, &exact, self.now);
                let crate::permissions::Decision::Allow { second_person, .. } = decision else {
                    return Expect::default();
                };
                if !self.allows(who, r, Permission::Read, &readable) {
                    return Expect::default();
                }
                let call = Call::Start { instance: INSTANCES[instance], project: pid, template: tid };
                let project = Project { id: ProjectId::new(pid), name: pname.into() };
                let template = Template { id: TemplateId::new(tid), name: tname.into(), ..Template::default() };
                let policy = match self.settings.policy_for(inst(INSTANCES[instance]), &project, &template) {
                    _ if second_person => ConfirmPolicy::TwoPerson,
                    policy => policy,
                };
                let question = |two_person| Question {
                    room: r,
                    requester: who,
                    two_person,
                    needs: Permission::Run,
                    target: (instance, pid, tid),
                    call: call.clone(),
                    event: EventId(String::new()),
                    deadline: self.now + self.settings.run_confirm_timeout,
                };
                match policy {
                    ConfirmPolicy::None => Expect { calls: vec![call.clone()], asks: None },
                    ConfirmPolicy::Confirm if yes => Expect { calls: vec![call.clone()], asks: None },
                    ConfirmPolicy::Confirm => self.ask(question(false)),
                    ConfirmPolicy::TwoPerson => self.ask(question(true)),
                }
            }
            Action::Stop { instance, task, yes } => {
                let (id, project, template, state, _) = TASKS[task];
                if state == State::Done || !self.allows(who, r, Permission::Stop, &target(instance, project, template))
                {
                    return Expect::default();
                }
                let call = Call::Stop { instance: INSTANCES[instance], project, task: id, force: state == State::Plan };
                if yes {
                    return Expect { calls: vec![call], asks: None };
                }
                self.ask(Question {
                    room: r,
                    requester: who,
                    two_person: false,
                    needs: Permission::Stop,
                    target: (instance, project, template),
                    call,
                    event: EventId(String::new()),
                    deadline: self.now + self.settings.short_confirm_timeout,
                })
            }
            Action::Approve { instance, task } | Action::Reject { instance, task } => {
                let (id, project, template, state, _) = TASKS[task];
                if state != State::Plan
                    || !self.allows(who, r, Permission::Approve, &target(instance, project, template))
                {
                    return Expect::default();
                }
                let instance = INSTANCES[instance];
                let call = match action {
                    Action::Approve { .. } => Call::Confirm { instance, project, task: id },
                    _ => Call::Stop { instance, project, task: id, force: true },
                };
                Expect { calls: vec![call], asks: None }
            }
            Action::Tasks { .. } | Action::Status { .. } => Expect::default(),
            Action::Say { .. } | Action::ReactQuestion { .. } | Action::ReactPlan { .. } | Action::Wait { .. } => {
                unreachable!()
            }
        }
    }

    /// A plain message `word` from `who` in `r` (`Confirmations::answer_text`).
    fn say_expect(&mut self, who: usize, r: usize, word: &str) -> Expect {
        let Some(answer) = classify_text(word) else { return Expect::default() };
        if let Some(at) = self.open.iter().position(|q| q.room == r && q.requester == who) {
            let q = &self.open[at];
            // The requester confirms their own question, and may withdraw a two-person one,
            // never approve it.
            if !q.two_person || answer == Answer::No {
                let q = self.open.remove(at);
                return Expect { calls: if answer == Answer::Yes { self.perform(q) } else { Vec::new() }, asks: None };
            }
            return Expect::default();
        }
        // Another's two-person question, when it is the only one waiting in the room.
        let waiting: Vec<usize> = (0..self.open.len())
            .filter(|&i| self.open[i].room == r && self.open[i].two_person && self.open[i].requester != who)
            .collect();
        match waiting.as_slice() {
            [only] if self.may_approve(who, &self.open[*only]) => {
                let q = self.open.remove(*only);
                Expect { calls: if answer == Answer::Yes { self.perform(q) } else { Vec::new() }, asks: None }
            }
            _ => Expect::default(),
        }
    }

    /// A reaction `key` from `who` in `r` to the question `event` (`answer_reaction`).
    fn react_question_expect(&mut self, who: usize, r: usize, event: &EventId, key: &str) -> Expect {
        let Some(at) = self.open.iter().position(|q| q.room == r && &q.event == event) else {
            return Expect::default();
        };
        let Some(answer) = classify_reaction(key) else { return Expect::default() };
        let q = &self.open[at];
        let may = if q.two_person {
            (q.requester == who && answer == Answer::No) || (q.requester != who && self.may_approve(who, q))
        } else {
            q.requester == who
        };
        if !may {
            return Expect::default();
        }
        let q = self.open.remove(at);
        Expect { calls: if answer == Answer::Yes { self.perform(q) } else { Vec::new() }, asks: None }
    }

    /// A reaction `key` from `who` in `r` on the status message of watched plan `plan`.
    fn react_plan_expect(&mut self, who: usize, r: usize, plan: usize, key: &str) -> Expect {
        let (i, task, plan_room) = PLANS[plan];
        let verdict = crate::commands::approve::Verdict::from_reaction(key);
        let Some(verdict) = verdict.filter(|_| r == plan_room) else {
            // Not an answer to the plan: it goes to the questions, none of which it answers.
            return self.react_question_expect(who, r, &plan_event(plan), key);
        };
        let (id, project, template, _, _) = fixture_task(task);
        if !self.allows(who, r, Permission::Approve, &target(i, project, template)) {
            return Expect::default();
        }
        let instance = INSTANCES[i];
        let call = match verdict {
            crate::commands::approve::Verdict::Approve => Call::Confirm { instance, project, task: id },
            crate::commands::approve::Verdict::Reject => Call::Stop { instance, project, task: id, force: true },
        };
        Expect { calls: vec![call], asks: None }
    }
}

/// Who answers question `q` in which room, for a step by `who` in `r`.
fn aimed(aim: Aim, q: &Question, who: usize, r: usize) -> (usize, usize) {
    match aim {
        Aim::Anyone => (who, r),
        Aim::Room => (who, q.room),
        Aim::Requester => (q.requester, q.room),
    }
}

/// Runs a case: the grants, then the steps; every step's calls must be the oracle's.
async fn run_case(specs: &[GrantSpec], steps: &[Step]) -> Result<(), TestCaseError> {
    let now = at(NOW);
    let grants: Vec<Grant> = specs.iter().map(|g| g.grant(now)).collect();
    let mut world = World::new(grants, now).await;
    let (policy, settings) = (world.policy.clone(), world.settings.clone());
    let mut oracle = Oracle { policy: &policy, settings: &settings, now, open: Vec::new() };
    let mut transcript = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let (mut who, mut r) = (step.user, step.room);
        let (text, expect, (calls, posted)) = match &step.action {
            Action::Say { word, pick, aim } => {
                if let Some(q) = oracle.open.get(pick % oracle.open.len().max(1)) {
                    (who, r) = aimed(*aim, q, who, r);
                }
                let expect = oracle.say_expect(who, r, word);
                (format!("says {word:?}"), expect, world.say(&user(USERS[who]), &room(r), word).await)
            }
            Action::ReactQuestion { key, pick, aim } => {
                let picked = oracle.open.get(pick % oracle.open.len().max(1)).cloned();
                if let Some(q) = &picked {
                    (who, r) = aimed(*aim, q, who, r);
                }
                let event = picked.map_or_else(|| EventId("$nothing".into()), |q| q.event);
                let expect = oracle.react_question_expect(who, r, &event, key);
                let text = format!("reacts {key} to question {}", event.0);
                (text, expect, world.react(&user(USERS[who]), &room(r), &event, key).await)
            }
            Action::ReactPlan { plan, key, here } => {
                if *here {
                    r = PLANS[*plan].2;
                }
                let expect = oracle.react_plan_expect(who, r, *plan, key);
                let text = format!("reacts {key} to plan {}", plan_event(*plan).0);
                (text, expect, world.react(&user(USERS[who]), &room(r), &plan_event(*plan), key).await)
            }
            Action::Wait { seconds } => {
                oracle.now += Duration::seconds(*seconds);
                let now = oracle.now;
                oracle.open.retain(|q| q.deadline > now);
                world.clock.set(now);
                let before = world.log.lock().unwrap().len();
                world.bot.tick().await;
                let calls = world.log.lock().unwrap()[before..].to_vec();
                (format!("waits {seconds}s"), Expect::default(), (calls, world.chat.take()))
            }
            command => {
                let text = Oracle::command(step).unwrap();
                let expect = oracle.command_expect(who, r, command);
                let said = world.say(&user(USERS[who]), &room(r), &text).await;
                (text, expect, said)
            }
        };
        transcript.push(format!("{n}: {} in {}: {text}\n    -> {:?}", USERS[who], ROOMS[r], bodies(&posted)));
        let history = || transcript.join("\n");
        prop_assert_eq!(&calls, &expect.calls, "step {}: {} in {}: {}\n{}", n, USERS[who], ROOMS[r], text, history());
        let asked = questions(&posted);
        match expect.asks {
            Some(mut q) => {
                prop_assert_eq!(asked.len(), 1, "step {} should ask one question\n{}", n, history());
                q.event = asked[0].clone();
                oracle.open.retain(|o| !(o.room == q.room && o.requester == q.requester));
                oracle.open.push(q);
            }
            None => prop_assert!(asked.is_empty(), "step {} asked a question\n{}", n, history()),
        }
    }
    Ok(())
}

fn block_on<T>(work: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(work)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random grants, random streams of commands, answers and reactions: Semaphore receives
    /// exactly the mutating calls the grants allow, no more and no fewer.
    #[test]
    fn semaphore_sees_exactly_the_mutating_calls_the_grants_allow(
        grants in prop::collection::vec(grant_spec(), 0..16),
        steps in prop::collection::vec(step(false), 1..=24),
    ) {
        block_on(run_case(&grants, &steps))?;
    }

    /// The same with time passing between the steps, so grants expire and windows close while
    /// questions are open: a yes from a requester who no longer may do what they asked must
    /// start nothing.
    #[test]
    fn semaphore_sees_exactly_the_mutating_calls_the_grants_allow_as_time_passes(
        grants in prop::collection::vec(grant_spec(), 0..16),
        steps in prop::collection::vec(step(true), 1..=24),
    ) {
        block_on(run_case(&grants, &steps))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Tables.

/// One unscoped grant of each built-in role, and what each may make Semaphore do.
#[tokio::test]
async fn each_built_in_role_over_the_bot() {
    let people =
        [("@ann:test", "admin"), ("@ben:test", "operator"), ("@cat:test", "developer"), ("@dan:test", "viewer")];
    let now = at(NOW);
    let grants = people.iter().map(|(who, role)| Grant::new(user(who), role, None)).collect();
    let mut world = World::new(grants, now).await;
    let ops = room(0);
    let start = |instance, project, template| Call::Start { instance, project, template };
    // (command, the calls it makes for admin, operator, developer, viewer; the permission a
    // denial names, and where)
    let table: &[(&str, [bool; 4], Call, &str, &str)] = &[
        ("!cd run ops lint", [true, true, true, false], start("default", 1, 6), "run", "default"),
        ("!cd run prod:web:lint", [true, true, false, false], start("prod", 2, 8), "run", "prod"),
        (
            "!cd stop 11 --yes",
            [true, true, false, false],
            Call::Stop { instance: "default", project: 1, task: 11, force: false },
            "stop",
            "default",
        ),
        (
            "!cd stop prod:12 --yes",
            [true, true, false, false],
            Call::Stop { instance: "prod", project: 1, task: 12, force: true },
            "stop",
            "prod",
        ),
        (
            "!cd approve 12",
            [true, true, false, false],
            Call::Confirm { instance: "default", project: 1, task: 12 },
            "approve",
            "default",
        ),
        (
            "!cd reject prod:21",
            [true, true, false, false],
            Call::Stop { instance: "prod", project: 2, task: 21, force: true },
            "approve",
            "prod",
        ),
    ];
    for (command, allowed, call, permission, scope) in table {
        for ((who, role), allowed) in people.iter().zip(allowed) {
            let (calls, posted) = world.say(&user(who), &ops, command).await;
            let said = bodies(&posted);
            if *allowed {
                assert_eq!(calls, vec![call.clone()], "{role}: {command}: {said:?}");
                assert!(said.iter().all(|b| !b.starts_with("🔒")), "{role}: {command}: {said:?}");
            } else {
                assert_eq!(calls, vec![], "{role}: {command}: {said:?}");
                let denial = format!(
                    "🔒 This needs the `{permission}` permission on {scope}. @ann:test or {ROOT} can grant it."
                );
                assert_eq!(said, vec![denial.as_str()], "{role}: {command}");
            }
        }
    }
    // Reading is for everybody holding a role; it never changes anything.
    for command in ["!cd tasks", "!cd tasks prod", "!cd status 11", "!cd status prod:22"] {
        for (who, role) in people {
            let (calls, posted) = world.say(&user(who), &ops, command).await;
            let said = bodies(&posted);
            assert_eq!(calls, vec![], "{role}: {command}");
            assert!(said.len() == 1 && !said[0].starts_with("🔒"), "{role}: {command}: {said:?}");
        }
    }
    // Strangers are brushed off, whatever they ask, and nothing happens.
    for command in ["!cd run ops lint", "!cd stop 11 --yes", "!cd approve 12", "!cd tasks"] {
        let (calls, posted) = world.say(&user("@eve:test"), &ops, command).await;
        assert_eq!(calls, vec![], "{command}");
        assert_eq!(bodies(&posted).len(), 1, "one brush-off for {command}");
    }
    // A reaction on a plan's status message: only those who may approve answer it.
    for ((who, role), allowed) in people.iter().zip([true, true, false, false]) {
        let (calls, _) = world.react(&user(who), &ops, &plan_event(0), "✅").await;
        let expected = if allowed { vec![Call::Confirm { instance: "default", project: 1, task: 12 }] } else { vec![] };
        assert_eq!(calls, expected, "{role}");
    }
}

/// A scoped grant: the denial of a template outside it names the template by id (its names are
/// not readable by the requester), and the template inside runs.
#[tokio::test]
async fn a_scope_narrower_than_the_project_lets_through_only_its_templates() {
    let now = at(NOW);
    let grants = vec![Grant::new(user(USERS[0]), "operator", Some(Scope::parse("default:*:lint").unwrap()))];
    let mut world = World::new(grants, now).await;
    let (calls, posted) = world.say(&user(USERS[0]), &room(0), "!cd run ops deploy-web --yes").await;
    assert_eq!(calls, vec![]);
    let denial = format!("🔒 This needs the `run` permission on default:1:5. {ROOT} can grant it.");
    assert_eq!(bodies(&posted), vec![denial.as_str()]);
    let (calls, _) = world.say(&user(USERS[0]), &room(0), "!cd run ops lint").await;
    assert_eq!(calls, vec![Call::Start { instance: "default", project: 1, template: 6 }]);
    let (calls, _) = world.say(&user(USERS[0]), &room(0), "!cd run prod:web:lint").await;
    assert_eq!(calls, vec![], "the scope is on default only");
}

/// A grant within office hours in Berlin, through the bot: the window follows Berlin's wall
/// clock across the spring change (2026-03-29), not a fixed offset from UTC.
#[tokio::test]
async fn a_windowed_grant_follows_the_local_wall_clock_across_dst() {
    let ann = user(USERS[0]);
    let window = Window::parse("Mon-Fri 08:00-18:00 Europe/Berlin").unwrap();
    // Ann may always read (so a closed window reads as a denial, not as a stranger's brush-off).
    let grants = vec![
        Grant { window: Some(window), ..Grant::new(ann.clone(), "operator", None) },
        Grant::new(ann.clone(), "viewer", None),
    ];
    let start = at("2026-03-27T00:00:00Z");
    let mut world = World::new(grants, start).await;
    let policy = world.policy.clone();
    let table = [
        ("2026-03-27T06:30:00Z", false, "Fri 07:30 CET"),
        ("2026-03-27T07:30:00Z", true, "Fri 08:30 CET"),
        ("2026-03-27T16:59:00Z", true, "Fri 17:59 CET"),
        ("2026-03-27T17:00:00Z", false, "Fri 18:00 CET"),
        ("2026-03-28T10:00:00Z", false, "Sat 11:00 CET"),
        ("2026-03-30T05:30:00Z", false, "Mon 07:30 CEST"),
        ("2026-03-30T06:30:00Z", true, "Mon 08:30 CEST (07:30 at the winter offset)"),
        ("2026-03-30T07:30:00Z", true, "Mon 09:30 CEST"),
        ("2026-03-30T15:59:00Z", true, "Mon 17:59 CEST"),
        ("2026-03-30T16:30:00Z", false, "Mon 18:30 CEST (17:30 at the winter offset)"),
    ];
    for (instant, allowed, local) in table {
        let now = at(instant);
        world.clock.set(now);
        let target = target(0, 1, 6);
        assert_eq!(
            policy.authorize(&ann, &room(0), Permission::Run, &target, now).is_allowed(),
            allowed,
            "the policy at {local}"
        );
        let (calls, posted) = world.say(&ann, &room(0), "!cd run ops lint").await;
        let said = bodies(&posted);
        if allowed {
            assert_eq!(calls, vec![Call::Start { instance: "default", project: 1, template: 6 }], "{local}: {said:?}");
        } else {
            assert_eq!(calls, vec![], "{local}: {said:?}");
            let denial = format!("🔒 This needs the `run` permission on default. {ROOT} can grant it.");
            assert_eq!(said, vec![denial.as_str()], "{local}");
        }
    }
}

/// Runs that need a second person: the requester may only withdraw, and only someone else who
/// holds `approve` on the run's template, in the room, can make it start.
#[tokio::test]
async fn two_person_runs_need_someone_else_who_may_approve() {
    let [ann, ben, cat, dan] = [0, 1, 2, 3].map(|i| user(USERS[i]));
    let grants = vec![
        // Everything ann runs needs a second person, even what needs no question at all.
        Grant { second_person: true, ..Grant::new(ann.clone(), "operator", None) },
        Grant::new(ben.clone(), "developer", None),
        Grant::new(cat.clone(), "gatekeeper", Some(Scope::parse("*:ops").unwrap())),
        Grant { room: Some(room(1)), ..Grant::new(dan.clone(), "operator", None) },
    ];
    let mut world = World::new(grants, at(NOW)).await;
    let ops = room(0);
    let (calls, posted) = world.say(&ann, &ops, "!cd run ops lint --yes").await;
    assert_eq!(calls, vec![]);
    let question = questions(&posted);
    assert_eq!(question.len(), 1, "{:?}", bodies(&posted));
    assert!(bodies(&posted)[0].contains("needs a second person's approval"), "{:?}", bodies(&posted));
    let (calls, posted) = world.say(&ann, &ops, "yes").await;
    assert_eq!(calls, vec![]);
    assert_eq!(
        bodies(&posted),
        vec!["✋ This needs a second person's approval; you can only withdraw it (👎 or \"no\")."]
    );
    // Ben may run but not approve; dan may approve, but only in the other room.
    for who in [&ben, &dan] {
        let (calls, posted) = world.say(who, &ops, "yes").await;
        assert_eq!((calls, bodies(&posted).len()), (vec![], 0), "{who}: not an answer from them");
        let (calls, posted) = world.react(who, &ops, &question[0], "👍").await;
        assert_eq!(calls, vec![], "{who}");
        assert_eq!(
            bodies(&posted),
            vec!["✋ Only someone other than the requester who may approve this can answer it."],
            "{who}"
        );
    }
    let (calls, posted) = world.react(&cat, &ops, &question[0], "👍").await;
    assert_eq!(calls, vec![Call::Start { instance: "default", project: 1, template: 6 }]);
    assert!(bodies(&posted)[0].contains("Approved by @cat:test."), "{:?}", bodies(&posted));
    // Cat's scope is the ops project: a run of web's lint waits for someone else.
    let (_, posted) = world.say(&ann, &ops, "!cd run web lint").await;
    assert_eq!(questions(&posted).len(), 1);
    let (calls, _) = world.say(&cat, &ops, "yes").await;
    assert_eq!(calls, vec![], "cat may not approve on web");
    let (calls, _) = world.say(&ann, &ops, "no").await;
    assert_eq!(calls, vec![], "ann withdraws it");
    // By the template's policy (prod's deploy-web), in the room where dan may approve.
    let dev = room(1);
    let (calls, posted) = world.say(&dan, &dev, "!cd run prod:ops:deploy-web --yes").await;
    assert_eq!(calls, vec![]);
    assert!(bodies(&posted)[0].contains("(--yes cannot skip that.)"), "{:?}", bodies(&posted));
    let (calls, _) = world.say(&cat, &dev, "ok").await;
    assert_eq!(calls, vec![Call::Start { instance: "prod", project: 1, template: 5 }]);
}

/// A yes is an answer to a question asked while the requester held a grant; if the grant has
/// expired or been revoked by the time they answer, nothing may start.
///
/// Today both starts happen: `on_answer` performs the pending action (`commands::perform`)
/// without asking the policy again, so a run (or stop) confirmed after the grant is gone still
/// reaches Semaphore; the same holds for a window that closes meanwhile and for a second person's
/// approval of a run whose requester lost the grant.
#[tokio::test]
async fn a_yes_after_the_grant_is_gone_starts_nothing() {
    let now = at(NOW);
    let [ann, ben] = [0, 1].map(|i| user(USERS[i]));
    let root = user(ROOT);
    let ops = room(0);
    // Expired: a grant until a minute from now, answered two minutes later (within the five
    // minutes the question waits).
    let grants = vec![Grant { until: Some(now + Duration::seconds(60)), ..Grant::new(ann.clone(), "operator", None) }];
    let mut world = World::new(grants, now).await;
    let (calls, posted) = world.say(&ann, &ops, "!cd run ops deploy-web").await;
    assert_eq!((calls, questions(&posted).len()), (vec![], 1));
    world.clock.advance(Duration::seconds(120));
    let (expired, _) = world.say(&ann, &ops, "yes").await;
    // Revoked in chat between the question and the answer.
    for (who, text) in [(&root, "!cd grant @ben:test operator"), (&root, "yes"), (&ben, "!cd run ops deploy-web")] {
        world.say(who, &ops, text).await;
    }
    for (who, text) in [(&root, "!cd revoke @ben:test operator"), (&root, "yes")] {
        world.say(who, &ops, text).await;
    }
    let (revoked, _) = world.say(&ben, &ops, "yes").await;
    assert_eq!((expired, revoked), (vec![], vec![]), "(after the grant expired, after it was revoked)");
}
