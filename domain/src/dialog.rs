//! Questions about a run's variables, one at a time, with the requester only.
//!
//! `run 1 8` without a required variable opens a dialog in a thread under the request: one
//! question per variable not given (enum choices numbered, numbers checked, defaults offered,
//! `skip`, `back`, `cancel`), each answer checked with the rules `--var` follows. A secret is
//! never asked in a shared room: the question goes to a direct room with the requester, and the
//! answer is deleted there once read. When every question is answered the usual preview and
//! confirmation follow; nothing runs before that. A dialog expires like a confirmation (its
//! clock restarts at each answer), and a new `run` by the same person in the room replaces it.
//!
//! The state machine ([`Dialog::answer`]) is pure; [`start`] and [`on_message`] post.

use chatrixcd_ports::semaphore::{SurveyVar, SurveyVarType};
use chatrixcd_ports::{EventId, Incoming, InstanceId, RoomId, UserId};
use chrono::{DateTime, Utc};

use crate::commands::run::{Args, Resolved};
use crate::core::{Core, Ctx, Request};
use crate::render::Reply;
use crate::survey::{self, Given};

/// What the answers are for.
#[derive(Debug, Clone)]
pub(crate) enum Purpose {
    Run,
    /// A schedule being added: its answers become its variables (secrets are never asked: a
    /// schedule keeps its variables as they are, so secrets go in presets).
    Schedule(Box<crate::commands::schedule::Draft>),
}

/// One open dialog.
#[derive(Clone)]
pub(crate) struct Dialog {
    pub id: u64,
    pub purpose: Purpose,
    /// The run's request: its room, requester and event (questions thread under it).
    pub req: Request,
    /// The thread the questions are posted in.
    pub thread_root: EventId,
    pub deadline: DateTime<Utc>,
    pub resolved: Resolved,
    /// What was typed with the command (its `--var`s included).
    pub args: Args,
    /// The variables asked about, in the template's order.
    pub questions: Vec<SurveyVar>,
    pub step: usize,
    /// Per question: `None` not answered yet, `Some(None)` skipped, `Some(Some(v))` the value.
    answers: Vec<Option<Option<String>>>,
    /// The direct room secrets are asked in, once opened.
    pub direct: Option<RoomId>,
}

impl std::fmt::Debug for Dialog {
    // Answers may be secrets: only their names are ever shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialog")
            .field("id", &self.id)
            .field("room", &self.req.room)
            .field("requester", &self.req.sender)
            .field("template", &self.resolved.template.name)
            .field("step", &self.step)
            .field("questions", &self.questions.iter().map(|q| q.name.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What an answer leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Ask question `n` (the next, or the previous after `back`).
    Ask(usize),
    /// The answer was not accepted; the text says why. The same question stands.
    Retry(String),
    /// Every question is answered.
    Done,
    Cancelled,
}

impl Dialog {
    fn new(
        id: u64,
        purpose: Purpose,
        req: Request,
        thread_root: EventId,
        deadline: DateTime<Utc>,
        resolved: Resolved,
        args: Args,
    ) -> Self {
        let for_schedule = matches!(purpose, Purpose::Schedule(_));
        let questions: Vec<SurveyVar> = resolved
            .template
            .survey_vars
            .iter()
            .filter(|v| !args.vars.iter().any(|(k, _)| k == &v.name))
            .filter(|v| !(for_schedule && v.var_type == SurveyVarType::Secret))
            .cloned()
            .collect();
        let answers = vec![None; questions.len()];
        Self { id, purpose, req, thread_root, deadline, resolved, args, questions, step: 0, answers, direct: None }
    }

    /// The answers given, as variables (skipped ones left out, so their defaults apply).
    pub(crate) fn answered_vars(&self) -> Vec<(String, String)> {
        self.questions
            .iter()
            .zip(&self.answers)
            .filter_map(|(var, answer)| answer.clone().flatten().map(|value| (var.name.clone(), value)))
            .collect()
    }

    pub(crate) fn template_name(&self) -> &str {
        &self.resolved.template.name
    }

    pub(crate) fn instance(&self) -> InstanceId {
        self.resolved.instance
    }

    /// The question now standing.
    pub(crate) fn current(&self) -> Option<&SurveyVar> {
        self.questions.get(self.step)
    }

    pub(crate) fn asks_secret(&self) -> bool {
        self.current().is_some_and(|q| q.var_type == SurveyVarType::Secret)
    }

    /// Takes an answer to the question standing. `skip`, `back` and `cancel` are words of the
    /// dialog; to give one of them as a value, quote it (`"skip"`).
    pub(crate) fn answer(&mut self, text: &str) -> Step {
        let Some(var) = self.current().cloned() else { return Step::Done };
        let trimmed = text.trim();
        match trimmed.to_lowercase().as_str() {
            "cancel" | "abort" => return Step::Cancelled,
            "back" => {
                self.step = self.step.saturating_sub(1);
                self.answers[self.step] = None;
                return Step::Ask(self.step);
            }
            "skip" if var.required && var.default_value.is_none() => {
                return Step::Retry(format!("`{}` is required: give a value, or `cancel`.", var.name));
            }
            "skip" => {
                self.answers[self.step] = Some(None);
                return self.advance();
            }
            _ => {}
        }
        let literal = trimmed
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .or_else(|| trimmed.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))
            .unwrap_or(if var.var_type == SurveyVarType::Secret { text } else { trimmed });
        if literal.is_empty() {
            return Step::Retry(format!("`{}` needs a value (or `skip`, `back`, `cancel`).", var.name));
        }
        match survey::check(&var, literal, Given::Answer) {
            Ok(value) => {
                self.answers[self.step] = Some(Some(value));
                self.advance()
            }
            Err(why) => Step::Retry(why),
        }
    }

    fn advance(&mut self) -> Step {
        self.step += 1;
        if self.step >= self.questions.len() { Step::Done } else { Step::Ask(self.step) }
    }

    /// The run's options with every answer added as a variable (skipped ones left out, so their
    /// defaults apply).
    pub(crate) fn completed_args(&self) -> Args {
        let mut args = self.args.clone();
        args.vars.extend(self.answered_vars());
        args
    }
}

/// The open dialogs: at most one per requester and room.
#[derive(Debug, Default)]
pub(crate) struct Dialogs {
    next_id: u64,
    open: Vec<Dialog>,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Not for a dialog: handle it normally.
    Elsewhere,
    /// An answer to dialog `id`.
    Answer(u64),
    /// Someone else wrote in a dialog's thread.
    NotYours { requester: UserId },
}

impl Dialogs {
    /// Opens a dialog. A person has at most one, in any room: their direct room is shared by
    /// all their dialogs, so two could not tell whose secret an answer there is. The one
    /// replaced is returned.
    fn open(
        &mut self,
        purpose: Purpose,
        req: Request,
        thread_root: EventId,
        deadline: DateTime<Utc>,
        resolved: Resolved,
        args: Args,
    ) -> (Dialog, Option<Dialog>) {
        let replaced = self.open.iter().position(|d| d.req.sender == req.sender).map(|i| self.open.remove(i));
        self.next_id += 1;
        let dialog = Dialog::new(self.next_id, purpose, req, thread_root, deadline, resolved, args);
        self.open.push(dialog.clone());
        (dialog, replaced)
    }

    /// Closes the requester's dialog in `room`, if any.
    pub(crate) fn close(&mut self, room: &RoomId, requester: &UserId) -> Option<Dialog> {
        let i = self.open.iter().position(|d| &d.req.room == room && &d.req.sender == requester)?;
        Some(self.open.remove(i))
    }

    fn take(&mut self, id: u64) -> Option<Dialog> {
        let i = self.open.iter().position(|d| d.id == id)?;
        Some(self.open.remove(i))
    }

    pub(crate) fn instance_of(&self, id: u64) -> Option<InstanceId> {
        self.open.iter().find(|d| d.id == id).map(Dialog::instance)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Dialog> {
        self.open.iter_mut().find(|d| d.id == id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    pub(crate) fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.open.iter().map(|d| d.deadline).min()
    }

    /// Removes and returns the dialogs whose time is up.
    pub(crate) fn expire(&mut self, now: DateTime<Utc>) -> Vec<Dialog> {
        let (expired, open) = std::mem::take(&mut self.open).into_iter().partition(|d| d.deadline <= now);
        self.open = open;
        expired
    }

    pub(crate) fn take_all(&mut self) -> Vec<Dialog> {
        std::mem::take(&mut self.open)
    }

    /// Where a message from `sender` in `room` goes. Commands are never answers. In a dialog's
    /// own room, the requester's messages in its thread or outside any thread answer it; a
    /// secret is answered in the dialog's direct room (a secret typed in the shared room is
    /// still taken, and deleted, so that it does not stay there).
    pub(crate) fn route(
        &self,
        room: &RoomId,
        sender: &UserId,
        thread: Option<&EventId>,
        is_command: bool,
        now: DateTime<Utc>,
    ) -> Route {
        if is_command {
            return Route::Elsewhere;
        }
        let open = self.open.iter().filter(|d| d.deadline > now);
        for d in open {
            let mine = &d.req.sender == sender;
            if mine && d.asks_secret() && d.direct.as_ref() == Some(room) {
                return Route::Answer(d.id);
            }
            if &d.req.room != room {
                continue;
            }
            let in_thread = thread == Some(&d.thread_root);
            // While a secret is asked in the direct room, only the thread speaks to the dialog
            // here: other chatter of the requester stays theirs (and is not deleted).
            if mine && (in_thread || (thread.is_none() && !d.asks_secret())) {
                return Route::Answer(d.id);
            }
            if !mine && in_thread {
                return Route::NotYours { requester: d.req.sender.clone() };
            }
        }
        Route::Elsewhere
    }
}

/// Opens a dialog for a run that lacks variables, and asks its first question.
pub(crate) async fn start(ctx: Ctx<'_>, req: &Request, resolved: Resolved, args: Args, replaced: Option<Dialog>) {
    open(ctx, req, Purpose::Run, resolved, args, replaced).await;
}

/// Opens a dialog for a schedule whose template lacks variables.
pub(crate) async fn start_schedule(
    ctx: Ctx<'_>,
    req: &Request,
    resolved: Resolved,
    args: Args,
    draft: crate::commands::schedule::Draft,
) {
    let replaced = ctx.close_dialog(&req.room, &req.sender);
    open(ctx, req, Purpose::Schedule(Box::new(draft)), resolved, args, replaced).await;
}

async fn open(ctx: Ctx<'_>, req: &Request, purpose: Purpose, resolved: Resolved, args: Args, replaced: Option<Dialog>) {
    let core = ctx.core();
    let thread_root = req.thread.clone().unwrap_or_else(|| req.event_id.clone());
    let deadline = core.now() + core.settings.run_confirm_timeout;
    let (dialog, elsewhere) =
        crate::core::lock(&core.dialogs).open(purpose, req.clone(), thread_root, deadline, resolved, args);
    let replaced = replaced.or(elsewhere);
    let count = dialog.questions.len();
    let what = match dialog.purpose {
        Purpose::Run => dialog.template_name().to_owned(),
        Purpose::Schedule(_) => format!("The schedule of {}", dialog.template_name()),
    };
    let mut intro = ctx
        .greeting(req)
        .bold(&format!("📝 {what} needs a few answers first ({count} question{}).", if count == 1 { "" } else { "s" }));
    let nothing = match dialog.purpose {
        Purpose::Run => "Nothing runs before you confirm.",
        Purpose::Schedule(_) => "Nothing is scheduled before you confirm.",
    };
    intro = backticked(
        intro.line(),
        &format!("Answer here; `skip` leaves out an optional one, `back` goes back, `cancel` stops. {nothing}"),
    );
    if let Some(old) = replaced {
        let place = if old.req.room == dialog.req.room { String::new() } else { format!(" in {}", old.req.room) };
        intro = intro.line().push(&format!("(This replaces your open questions for {}{place}.)", old.template_name()));
    }
    if let Some(warning) = secrets_warning(&dialog) {
        intro = intro.line().push(&warning);
    }
    post_in_thread(core, &dialog, intro).await;
    ask(core, dialog.id).await;
}

fn secrets_warning(dialog: &Dialog) -> Option<String> {
    let secrets: Vec<&str> =
        dialog.questions.iter().filter(|q| q.var_type == SurveyVarType::Secret).map(|q| q.name.as_str()).collect();
    survey::secrets_warning(&dialog.resolved.template, &secrets)
}

pub(crate) async fn post_in_thread(core: &Core, dialog: &Dialog, reply: Reply) -> Option<EventId> {
    let mut message = reply.build();
    message.thread_root = Some(dialog.thread_root.clone());
    message.reply_to = Some(dialog.req.event_id.clone());
    core.out.post(&dialog.req.room, message).await
}

/// The text of question `var`, number `n` of `of`.
fn question(var: &SurveyVar, n: usize, of: usize) -> Reply {
    let required = if var.required { "required" } else { "optional" };
    let mut reply = Reply::notice()
        .push(&format!("❓ {n}/{of} · "))
        .bold(survey::title(var))
        .push(" (")
        .code(&var.name)
        .push(&format!(", {}, {required})", survey::kind(var)));
    if !var.description.trim().is_empty() {
        reply = reply.push(&format!(": {}", var.description.trim()));
    }
    if var.var_type == SurveyVarType::Enum {
        let choices: Vec<String> = var
            .values
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if c.name == c.value {
                    format!("{}. {}", i + 1, c.name)
                } else {
                    format!("{}. {} ({})", i + 1, c.name, c.value)
                }
            })
            .collect();
        reply = reply.line().push(&choices.join("   "));
    }
    let mut words = Vec::new();
    match &var.default_value {
        Some(default) if var.var_type != SurveyVarType::Secret => {
            words.push(format!("`skip` keeps the default, {default}"));
        }
        Some(_) => words.push("`skip` keeps the default".to_owned()),
        None if !var.required => words.push("`skip` leaves it out".to_owned()),
        None => {}
    }
    if n > 1 {
        words.push("`back`".to_owned());
    }
    words.push("`cancel`".to_owned());
    backticked(reply.line(), &format!("Answer, or {}.", words.join(", ")))
}

/// Pushes `text`, its `backticked` words as code (plain text keeps the backticks).
fn backticked(mut reply: Reply, text: &str) -> Reply {
    for (i, part) in text.split('`').enumerate() {
        if part.is_empty() {
            continue;
        }
        reply = if i % 2 == 1 { reply.code(part) } else { reply.push(part) };
    }
    reply
}

/// Posts the question standing: in the thread, or for a secret in the direct room.
async fn ask(core: &Core, id: u64) {
    let Some(dialog) = crate::core::lock(&core.dialogs).get_mut(id).map(|d| d.clone()) else { return };
    let Some(var) = dialog.current().cloned() else { return };
    let of = dialog.questions.len();
    let text = question(&var, dialog.step + 1, of);
    if var.var_type != SurveyVarType::Secret {
        post_in_thread(core, &dialog, text).await;
        return;
    }
    let direct = match &dialog.direct {
        Some(room) => Ok(room.clone()),
        None => core.deps.chat.direct_room(&dialog.req.sender).await.map(|d| d.room),
    };
    match direct {
        Ok(room) => {
            if let Some(d) = crate::core::lock(&core.dialogs).get_mut(id) {
                d.direct = Some(room.clone());
            }
            let here = room == dialog.req.room;
            let intro = Reply::notice().push(&format!(
                "🔒 For {} in {}: this one is secret. I delete your answer once I have read it, and it never appears in chat, logs or history.",
                dialog.template_name(),
                dialog.req.room
            ));
            core.out.post(&room, intro.line().push_rich(text.plain(), text.html()).build()).await;
            if !here {
                let pointer = Reply::notice()
                    .push(&format!("🔒 {}/{of} · ", dialog.step + 1))
                    .bold(survey::title(&var))
                    .push(" is a secret, so I asked you in a direct message (")
                    .push(room.as_str())
                    .push("). Accept my invite there if you have not yet; `back` and `cancel` still work here.");
                post_in_thread(core, &dialog, pointer).await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not open a direct room for a secret question");
            let reply = Reply::notice().push(&format!(
                "🔒 `{}` is secret, and I could not open a direct room with you to ask for it ({}). ",
                var.name,
                crate::bot::shown(core, &e)
            ));
            let reply = if var.required {
                // Nothing could answer it: the dialog ends here rather than wait for its timeout.
                crate::core::lock(&core.dialogs).take(id);
                reply.push("Nothing was run; give it with --var in a direct room with me.")
            } else {
                reply.push("`skip` leaves it out, `cancel` stops.")
            };
            post_in_thread(core, &dialog, reply).await;
        }
    }
}

/// Takes a message that [`Dialogs::route`] sent to dialog `id`.
pub(crate) async fn on_message(core: &Core, meta: Incoming, body: String, id: u64) {
    let now = core.now();
    let is_word = matches!(body.trim().to_lowercase().as_str(), "back" | "cancel" | "abort" | "skip");
    let (step, dialog, secret) = {
        let mut dialogs = crate::core::lock(&core.dialogs);
        let Some(d) = dialogs.get_mut(id) else { return };
        let secret = d.asks_secret() && !is_word;
        // A secret typed in the shared room is not taken (others have seen it); it is deleted.
        let step = if secret && d.direct.as_ref() != Some(&meta.room) {
            None
        } else {
            d.deadline = now + core.settings.run_confirm_timeout;
            Some(d.answer(&body))
        };
        (step, d.clone(), secret)
    };
    if secret {
        // Deleted where the server lets the bot (in a room it made, it may).
        if let Err(e) = core.deps.chat.redact(&meta.room, &meta.event_id, Some("secret answer".into())).await {
            tracing::debug!(error = %e, "could not delete a secret answer");
        }
    }
    let Some(step) = step else {
        let reply = Reply::notice().push(
            "🔒 That question is a secret one; answer it in our direct room, not here. I deleted your message if this room lets me.",
        );
        say(core, &dialog, &meta.room, reply).await;
        return;
    };
    if secret && !matches!(step, Step::Retry(_)) {
        say(core, &dialog, &meta.room, Reply::notice().push("🔒 Got it.")).await;
    }
    match step {
        Step::Ask(_) => ask(core, id).await,
        Step::Retry(why) => say(core, &dialog, &meta.room, Reply::notice().push(&format!("🤔 {why}"))).await,
        Step::Cancelled => {
            crate::core::lock(&core.dialogs).take(id);
            let reply = Reply::notice().push(&format!("❎ Cancelled: nothing was run of {}.", dialog.template_name()));
            post_in_thread(core, &dialog, reply).await;
        }
        Step::Done => {
            let Some(dialog) = crate::core::lock(&core.dialogs).take(id) else { return };
            finish(core, dialog).await;
        }
    }
}

/// Answers where the message came from: the dialog's thread, or the direct room.
async fn say(core: &Core, dialog: &Dialog, room: &RoomId, reply: Reply) {
    if room == &dialog.req.room {
        post_in_thread(core, dialog, reply).await;
    } else {
        core.out.post(room, reply.build()).await;
    }
}

/// Every answer is in: the usual preview and confirmation (or the start, where none is needed).
async fn finish(core: &Core, dialog: Dialog) {
    let ctx = core.ctx();
    let args = dialog.completed_args();
    let req = dialog.req.clone();
    let (result, path): (_, &[&'static str]) = match dialog.purpose.clone() {
        Purpose::Run => {
            let result = match crate::commands::run::plan(ctx, dialog.resolved.clone(), &args) {
                // Values typed one by one are shown whole before anything starts: `--yes`
                // does not skip this confirmation (a `none` policy still does).
                Ok((plan, policy)) => {
                    crate::commands::run::confirm_or_launch(ctx, &req, plan, policy, false, None).await
                }
                Err(e) => Err(e),
            };
            (result, &["run"])
        }
        Purpose::Schedule(mut draft) => {
            draft.vars.extend(dialog.answered_vars());
            draft.yes = false;
            let result = crate::commands::schedule::finish_add(ctx, &req, *draft, dialog.resolved.clone(), &args).await;
            (result, &["schedule", "add"])
        }
    };
    if let Err(e) = result {
        crate::bot::report_error(core, &req, path, e).await;
    }
}

/// Someone other than the requester wrote in a dialog's thread.
pub(crate) async fn not_yours(core: &Core, meta: &Incoming, requester: &UserId) {
    let mut message =
        Reply::notice().push(&format!("✋ These questions are for {requester}; start your own with `run`.")).build();
    message.reply_to = Some(meta.event_id.clone());
    core.out.post(&meta.room, message).await;
}

/// Says in each expired dialog's thread that nothing ran.
pub(crate) async fn announce_expired(core: &Core, expired: Vec<Dialog>) {
    for dialog in expired {
        let mut text =
            format!("⌛ The questions for {} expired without an answer; nothing was run.", dialog.template_name());
        if dialog.asks_secret() && dialog.direct.as_ref().is_some_and(|d| d != &dialog.req.room) {
            text.push_str(" (The last one waited in our direct room: accept my invite there next time.)");
        }
        post_in_thread(core, &dialog, Reply::notice().push(&text)).await;
    }
}
