//! `verify …`: device verification for end-to-end encryption, driven from chat.
//!
//! The bot never trusts a device by itself: it shows the emojis and waits until an admin who has
//! compared them with the other device says `verify confirm`. ChatrixCD's `verify auto` confirmed
//! without looking, which defeats the point; there is no such command here. Progress arrives as
//! chat events (see [`on_progress`]) and is reported in the room where the verification was
//! started or accepted.

use chatrixcd_ports::UserId;
use chatrixcd_ports::encryption::{EncryptionPort, SasEmoji, Verification, VerificationStage};

use crate::permissions::{Permission, Target};
use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::render::Reply;

const ID_ARG: ArgSpec =
    ArgSpec { name: "id", kind: ValueKind::Word, required: true, help: "the verification id (see `verify pending`)" };

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "verify",
    aliases: &[],
    summary: "Verify devices for end-to-end encryption",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec {
            name: "status",
            aliases: &["info"],
            summary: "Show the bot's device, cross-signing, key backup and recovery",
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "list",
            aliases: &["ls", "devices"],
            summary: "List a user's devices and whether they are verified (default: yours)",
            args: &[ArgSpec { name: "user", kind: ValueKind::Word, required: false, help: "a Matrix user id" }],
            examples: &["verify list @alice:example.org"],
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "start",
            summary: "Start an emoji verification with a device",
            args: &[
                ArgSpec { name: "user", kind: ValueKind::Word, required: true, help: "the device owner's Matrix id" },
                ArgSpec { name: "device", kind: ValueKind::Word, required: true, help: "the device id" },
            ],
            examples: &["verify start @alice:example.org ABCDEFGH"],
            permission: Some(Permission::Verify),
            ..CommandSpec::BASE
        },
        CommandSpec { name: "pending", summary: "List verifications that are not finished", ..CommandSpec::BASE },
        CommandSpec {
            name: "accept",
            summary: "Accept a verification someone asked for",
            args: &[ID_ARG],
            examples: &["verify accept 1f2e3d"],
            permission: Some(Permission::Verify),
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "confirm",
            aliases: &["match"],
            summary: "Say the emojis match (only after comparing them!)",
            args: &[ID_ARG],
            examples: &["verify confirm 1f2e3d"],
            permission: Some(Permission::Verify),
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "mismatch",
            aliases: &["nomatch"],
            summary: "Say the emojis differ; the verification is cancelled",
            args: &[ID_ARG],
            examples: &["verify mismatch 1f2e3d"],
            permission: Some(Permission::Verify),
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "cancel",
            summary: "Cancel a verification",
            args: &[ID_ARG],
            examples: &["verify cancel 1f2e3d"],
            permission: Some(Permission::Verify),
            ..CommandSpec::BASE
        },
    ],
    examples: &["verify status", "verify list", "verify start @alice:example.org ABCDEFGH", "verify confirm 1f2e3d"],
    hidden: false,
    permission: Some(Permission::Read),
};

#[derive(Debug, Clone)]
pub(crate) enum Args {
    Status,
    List { user: Option<String> },
    Start { user: String, device: String },
    Pending,
    Answer { action: Action, id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Accept,
    Confirm,
    Mismatch,
    Cancel,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        let id = p.arg("id").unwrap_or_default().to_owned();
        match p.sub() {
            Some("list") => Self::List { user: p.arg("user").map(str::to_owned) },
            Some("start") => Self::Start {
                user: p.arg("user").unwrap_or_default().to_owned(),
                device: p.arg("device").unwrap_or_default().to_owned(),
            },
            Some("pending") => Self::Pending,
            Some("accept") => Self::Answer { action: Action::Accept, id },
            Some("confirm") => Self::Answer { action: Action::Confirm, id },
            Some("mismatch") => Self::Answer { action: Action::Mismatch, id },
            Some("cancel") => Self::Answer { action: Action::Cancel, id },
            _ => Self::Status,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::List { .. } => "list",
            Self::Start { .. } => "start",
            Self::Pending => "pending",
            Self::Answer { action: Action::Accept, .. } => "accept",
            Self::Answer { action: Action::Confirm, .. } => "confirm",
            Self::Answer { action: Action::Mismatch, .. } => "mismatch",
            Self::Answer { action: Action::Cancel, .. } => "cancel",
        }
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p);
    let Some(encryption) = ctx.chat().encryption() else {
        return Err(needs_encryption(ctx, &format!("verify {}", args.name())));
    };
    let reply = match args {
        Args::Status => status_reply(encryption.as_ref()).await?,
        Args::List { user } => {
            let user = match user {
                Some(u) => parse_user(&u)?,
                None => req.sender.clone(),
            };
            devices_reply(encryption.as_ref(), &user).await?
        }
        Args::Start { user, device } => {
            let user = parse_user(&user)?;
            let verification = encryption.request(&user, &device).await?;
            crate::core::lock(&ctx.core().verification_rooms).insert(verification.id.clone(), req.room.clone());
            ctx.audit(req, "verify.start", format!("{user} {device}")).await;
            Reply::notice()
                .push(&format!("🔐 Asked {user}'s device {device} to verify with me (id "))
                .code(&verification.id)
                .push("). Accept the request on that device; I will post the emojis to compare here.")
        }
        Args::Pending => {
            let pending = encryption.pending().await;
            // Flows no room follows (to-device requests, and the bot's own request to a device it
            // had not heard of) are followed here from now on, when an admin asks: the emojis
            // to compare then arrive where someone can confirm them.
            let mut adopted = Vec::new();
            if ctx.may(req, Permission::Verify, &Target::bot()) {
                for v in pending.iter().filter(|v| v.room.is_none() && !v.stage.is_finished()) {
                    if !crate::core::lock(&ctx.core().verification_rooms).contains_key(&v.id) {
                        crate::core::lock(&ctx.core().verification_rooms).insert(v.id.clone(), req.room.clone());
                        adopted.push(v.clone());
                    }
                }
            }
            let mut reply = pending_reply(&pending);
            if !adopted.is_empty() {
                reply = reply.line().push("I will post how these go on here.");
                let ids: Vec<&str> = adopted.iter().map(|v| v.id.as_str()).collect();
                ctx.audit(req, "verify.follow", ids.join(" ")).await;
            }
            ctx.reply(req, reply).await;
            // Emojis that were shown while no room followed the flow are shown now.
            for v in adopted.into_iter().filter(|v| matches!(v.stage, VerificationStage::CompareEmojis(_))) {
                on_progress(ctx, v).await;
            }
            return Ok(());
        }
        Args::Answer { action, id } => {
            let verification = match action {
                Action::Accept => encryption.accept(&id).await?,
                Action::Confirm => encryption.confirm(&id).await?,
                Action::Mismatch => encryption.mismatch(&id).await?,
                Action::Cancel => encryption.cancel(&id).await?,
            };
            crate::core::lock(&ctx.core().verification_rooms).insert(verification.id.clone(), req.room.clone());
            let name = match action {
                Action::Accept => "accept",
                Action::Confirm => "confirm",
                Action::Mismatch => "mismatch",
                Action::Cancel => "cancel",
            };
            ctx.audit(req, &format!("verify.{name}"), format!("{} {}", verification.user, id)).await;
            match action {
                Action::Accept => Reply::notice()
                    .push("🤝 Accepted. The emojis follow as soon as the other device starts the comparison."),
                Action::Confirm => {
                    Reply::notice().push("👍 Noted that the emojis match; waiting for the other device to confirm too.")
                }
                Action::Mismatch => Reply::notice().push(
                    "🛑 Cancelled as a mismatch: the device stays unverified. If the emojis really differed, someone may \
                     be intercepting; tell your homeserver admin.",
                ),
                Action::Cancel => Reply::notice().push("❎ Verification cancelled."),
            }
        }
    };
    ctx.reply(req, reply).await;
    Ok(())
}

fn parse_user(text: &str) -> Result<UserId, CommandError> {
    UserId::parse(text).map_err(|e| CommandError::Usage(format!("`{text}` is not a Matrix user id: {e}")))
}

pub(crate) async fn status_reply(encryption: &dyn EncryptionPort) -> Result<Reply, CommandError> {
    let status = encryption.status().await?;
    let yes_no = |b: bool| if b { "yes ✅" } else { "no ⚠️" }.to_owned();
    let rows = vec![
        vec!["Device".to_owned(), status.device_id.clone()],
        vec!["Fingerprint (Ed25519)".to_owned(), status.fingerprint.clone().unwrap_or_else(|| "unknown".into())],
        vec!["Cross-signing keys here".to_owned(), yes_no(status.cross_signing)],
        vec!["Device signed by its account".to_owned(), yes_no(status.device_verified)],
        vec!["Key backup".to_owned(), status.key_backup.clone()],
        vec!["Recovery key".to_owned(), status.recovery.clone()],
    ];
    Ok(Reply::notice().bold("🔐 Encryption").table(&["", ""], &rows))
}

pub(crate) async fn devices_reply(encryption: &dyn EncryptionPort, user: &UserId) -> Result<Reply, CommandError> {
    let devices = encryption.devices(user).await?;
    if devices.is_empty() {
        return Ok(Reply::notice().push(&format!(
            "I know no devices of {user}. They appear once we share an encrypted room and the homeserver has told me about them."
        )));
    }
    let unverified = devices.iter().filter(|d| !d.verified).count();
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            vec![
                d.device_id.clone(),
                d.display_name.clone().unwrap_or_default(),
                if d.verified { "✅ verified" } else { "⚠️ not verified" }.to_owned(),
            ]
        })
        .collect();
    let head = if unverified == 0 {
        format!("All {} known devices of {user} are verified. ✅", devices.len())
    } else {
        format!("{unverified} of {} known devices of {user} are not verified.", devices.len())
    };
    Ok(Reply::notice().push(&head).table(&["Device", "Name", "State"], &rows))
}

fn pending_reply(pending: &[Verification]) -> Reply {
    if pending.is_empty() {
        return Reply::notice().push("No verification is waiting. 📭");
    }
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|v| {
            vec![
                v.id.clone(),
                v.user.to_string(),
                v.device.clone().unwrap_or_else(|| "any".into()),
                if v.we_started { "me" } else { "them" }.to_owned(),
                stage_name(&v.stage).to_owned(),
            ]
        })
        .collect();
    Reply::notice().bold("Verifications in progress").table(&["Id", "User", "Device", "Started by", "Stage"], &rows)
}

fn stage_name(stage: &VerificationStage) -> &'static str {
    match stage {
        VerificationStage::Requested => "requested",
        VerificationStage::Ready => "ready",
        VerificationStage::CompareEmojis(_) => "compare emojis",
        VerificationStage::Confirmed => "confirmed by me",
        VerificationStage::Done => "done",
        VerificationStage::Cancelled(_) => "cancelled",
    }
}

fn emoji_line(emojis: &[SasEmoji]) -> String {
    emojis.iter().map(|e| format!("{} {}", e.symbol, e.name)).collect::<Vec<_>>().join(" · ")
}

/// Reports a verification's progress in the room it belongs to: the room where it was started or
/// accepted from chat, or the room of an in-room request. A request nobody has touched from chat
/// (a to-device request) is only logged: the bot cannot know whom to ask, and `verify pending`
/// lists it.
pub(crate) async fn on_progress(ctx: Ctx<'_>, verification: Verification) {
    let room = crate::core::lock(&ctx.core().verification_rooms)
        .get(&verification.id)
        .cloned()
        .or_else(|| verification.room.clone());
    if verification.stage.is_finished() {
        crate::core::lock(&ctx.core().verification_rooms).remove(&verification.id);
    }
    let Some(room) = room else {
        tracing::info!(
            id = %verification.id,
            user = %verification.user,
            stage = stage_name(&verification.stage),
            "verification progress (answer with `verify accept|confirm|mismatch|cancel <id>` from chat, or `chatrixcd verify`)"
        );
        return;
    };
    if crate::grants::gate(ctx.core(), &room, &verification.user, ctx.now()) == crate::grants::Gate::Silent {
        return;
    }
    let prefix = ctx.settings().prefix.clone();
    let id = verification.id.clone();
    let device = verification.device.clone().unwrap_or_else(|| "?".into());
    let reply = match &verification.stage {
        VerificationStage::Requested if !verification.we_started => Reply::notice()
            .push(&format!("🔐 {} asks to verify with me. An admin can answer with ", verification.user))
            .code(&format!("{prefix} verify accept {id}"))
            .push(" or ")
            .code(&format!("{prefix} verify cancel {id}"))
            .push("."),
        VerificationStage::Requested | VerificationStage::Ready | VerificationStage::Confirmed => return,
        VerificationStage::CompareEmojis(emojis) => Reply::notice()
            .push(&format!("🔐 Compare these emojis with the ones {}'s device {device} shows:", verification.user))
            .line()
            .bold(&emoji_line(emojis))
            .line()
            .push("If they are the same, in the same order: ")
            .code(&format!("{prefix} verify confirm {id}"))
            .push(". If not: ")
            .code(&format!("{prefix} verify mismatch {id}"))
            .push("."),
        VerificationStage::Done => {
            Reply::notice().push(&format!("✅ {}'s device {device} is verified.", verification.user))
        }
        VerificationStage::Cancelled(reason) => Reply::notice()
            .push(&format!("❎ The verification with {} ended without verifying: {reason}", verification.user)),
    };
    ctx.out().post(&room, reply.build()).await;
}

/// The answer of the encryption commands on a connection without end-to-end encryption.
pub(crate) fn needs_encryption(ctx: Ctx<'_>, command: &str) -> CommandError {
    let info = ctx.chat().connection_info();
    CommandError::Refused(format!(
        "`{command}` needs an end-to-end encrypted chat connection; this one ({}) has no encryption, so there are no devices or sessions to manage.",
        info.network
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chatrixcd_clock::ManualClock;
    use chatrixcd_ports::chat::ChatEvent;
    use chatrixcd_ports::encryption::{DeviceSummary, SasEmoji, Verification, VerificationStage};
    use chatrixcd_ports::semaphore::MockSemaphorePort;
    use chatrixcd_ports::{Clock, UserId};
    use chatrixcd_store_memory::MemoryStore;

    use crate::Bot;
    use crate::testing::{FakeEncryption, RecordingChat, admin, bot_with, message_from, room, settings};

    fn carol() -> UserId {
        UserId::parse("@carol:test").unwrap()
    }

    fn encrypted_bot() -> (Bot, Arc<RecordingChat>, Arc<FakeEncryption>, ManualClock) {
        let clock = ManualClock::at_epoch();
        let (bot, chat) = bot_with(
            Arc::new(MockSemaphorePort::new()),
            Arc::new(MemoryStore::default()),
            Arc::new(clock.clone()),
            settings(),
        );
        let encryption = Arc::new(FakeEncryption::default());
        *chat.encryption.lock().unwrap() = Some(encryption.clone());
        (bot, chat, encryption, clock)
    }

    async fn say(bot: &Bot, clock: &ManualClock, who: &UserId, text: &str) {
        bot.handle(message_from(who, text, clock.now())).await;
    }

    fn emojis() -> Vec<SasEmoji> {
        [
            ("🐶", "Dog"),
            ("🔑", "Key"),
            ("🎸", "Guitar"),
            ("🌽", "Corn"),
            ("⚓", "Anchor"),
            ("🐧", "Penguin"),
            ("📕", "Book"),
        ]
        .iter()
        .map(|(s, n)| SasEmoji { symbol: (*s).into(), name: (*n).into() })
        .collect()
    }

    #[tokio::test]
    async fn a_verification_started_in_chat_shows_the_emojis_there_and_trusts_only_after_confirm() {
        let (bot, chat, encryption, clock) = encrypted_bot();
        say(&bot, &clock, &admin(), "!cd verify start @carol:test PHONE").await;
        let started = chat.bodies().join("\n");
        assert!(started.contains("Asked @carol:test's device PHONE") && started.contains("flow1"), "{started}");
        assert_eq!(encryption.calls.lock().unwrap().as_slice(), ["request @carol:test PHONE"]);

        let mut progress = encryption.verifications.lock().unwrap()[0].clone();
        progress.stage = VerificationStage::CompareEmojis(emojis());
        bot.handle(ChatEvent::Verification(progress.clone())).await;
        let shown = chat.bodies().join("\n");
        assert!(shown.contains("🐶 Dog · 🔑 Key · 🎸 Guitar"), "{shown}");
        assert!(shown.contains("!cd verify confirm flow1") && shown.contains("!cd verify mismatch flow1"), "{shown}");
        assert!(
            !encryption.calls.lock().unwrap().iter().any(|c| c.starts_with("confirm")),
            "no trust without a person"
        );

        say(&bot, &clock, &admin(), "!cd verify confirm flow1").await;
        assert!(chat.bodies().join("\n").contains("emojis match"));
        assert_eq!(encryption.calls.lock().unwrap().last().unwrap(), "confirm flow1");

        progress.stage = VerificationStage::Done;
        bot.handle(ChatEvent::Verification(progress)).await;
        assert_eq!(chat.bodies(), ["✅ @carol:test's device PHONE is verified."]);
        assert!(crate::core::lock(&bot.core.verification_rooms).is_empty(), "a finished verification is forgotten");
    }

    #[tokio::test]
    async fn viewers_may_look_but_not_verify_and_strangers_get_nothing() {
        let (bot, chat, encryption, clock) = encrypted_bot();
        let viewer = UserId::parse("@victor:test").unwrap();
        say(&bot, &clock, &viewer, "!cd verify status").await;
        assert!(chat.bodies().join("\n").contains("BOTDEVICE"));
        say(&bot, &clock, &viewer, "!cd verify start @carol:test PHONE").await;
        assert!(chat.bodies().join("\n").contains("needs the `verify` permission on the bot"));
        say(&bot, &clock, &carol(), "!cd verify confirm flow1").await;
        assert!(encryption.calls.lock().unwrap().is_empty(), "{:?}", encryption.calls);
    }

    #[tokio::test]
    async fn an_in_room_request_is_announced_and_a_to_device_one_only_logged() {
        let (bot, chat, encryption, clock) = encrypted_bot();
        let request = |id: &str, room| Verification {
            id: id.into(),
            user: carol(),
            device: None,
            we_started: false,
            room,
            stage: VerificationStage::Requested,
        };
        encryption.verifications.lock().unwrap().push(request("todevice", None));
        bot.handle(ChatEvent::Verification(request("todevice", None))).await;
        assert!(chat.bodies().is_empty(), "nobody to ask for a to-device request");
        say(&bot, &clock, &admin(), "!cd verify pending").await;
        let listed = chat.bodies().join("\n");
        assert!(listed.contains("todevice") && listed.contains("@carol:test"), "{listed}");
        say(&bot, &clock, &admin(), "!cd verify accept todevice").await;
        assert!(chat.bodies().join("\n").contains("Accepted"));
        assert_eq!(
            crate::core::lock(&bot.core.verification_rooms).get("todevice"),
            Some(&room()),
            "accepting ties it to the room"
        );

        bot.handle(ChatEvent::Verification(request("inroom", Some(room())))).await;
        let announced = chat.bodies().join("\n");
        assert!(announced.contains("asks to verify") && announced.contains("!cd verify accept inroom"), "{announced}");
    }

    #[tokio::test]
    async fn an_admin_listing_pending_flows_gets_their_emojis_in_that_room() {
        let (bot, chat, encryption, clock) = encrypted_bot();
        // The bot asked a device it had just heard of (the adapter does when matrix-sdk drops a
        // request from an unknown device): no room follows it yet.
        let mut asked = Verification {
            id: "askedback".into(),
            user: carol(),
            device: Some("PHONE".into()),
            we_started: true,
            room: None,
            stage: VerificationStage::Requested,
        };
        encryption.verifications.lock().unwrap().push(asked.clone());
        bot.handle(ChatEvent::Verification(asked.clone())).await;
        assert!(chat.bodies().is_empty());

        // Someone who may only look lists it: nothing is tied to their room.
        say(&bot, &clock, &UserId::parse("@victor:test").unwrap(), "!cd verify pending").await;
        assert!(chat.bodies().join("\n").contains("askedback"));
        assert!(crate::core::lock(&bot.core.verification_rooms).is_empty());

        // The phone accepted and the emojis exist before anyone looked.
        asked.stage = VerificationStage::CompareEmojis(vec![SasEmoji { symbol: "🐶".into(), name: "Dog".into() }]);
        *encryption.verifications.lock().unwrap() = vec![asked.clone()];
        bot.handle(ChatEvent::Verification(asked.clone())).await;
        assert!(!chat.bodies().join("\n").contains("Compare these emojis"));

        say(&bot, &clock, &admin(), "!cd verify pending").await;
        let posted = chat.bodies().join("\n");
        assert!(posted.contains("I will post how these go on here"), "{posted}");
        assert!(posted.contains("Compare these emojis") && posted.contains("🐶 Dog"), "{posted}");
        assert!(posted.contains("!cd verify confirm askedback"), "{posted}");
        let audit = bot.core.deps.store.audit(chatrixcd_ports::Page { limit: 5, before: None }).await.unwrap();
        assert!(audit.iter().any(|e| e.action == "verify.follow" && e.detail == "askedback"), "{audit:?}");
        asked.stage = VerificationStage::Done;
        bot.handle(ChatEvent::Verification(asked)).await;
        assert!(chat.bodies().join("\n").contains("✅ @carol:test's device PHONE is verified."));
    }

    #[tokio::test]
    async fn unknown_ids_bad_users_and_plain_connections_get_clear_answers() {
        let (bot, chat, encryption, clock) = encrypted_bot();
        say(&bot, &clock, &admin(), "!cd verify confirm nope").await;
        assert!(chat.bodies().join("\n").contains("no verification nope is known"));
        say(&bot, &clock, &admin(), "!cd verify start carol PHONE").await;
        assert!(chat.bodies().join("\n").contains("`carol` is not a Matrix user id"));
        encryption.devices.lock().unwrap().push(DeviceSummary {
            user: admin(),
            device_id: "LAPTOP".into(),
            display_name: Some("Element".into()),
            verified: false,
        });
        say(&bot, &clock, &admin(), "!cd verify list").await;
        let listed = chat.bodies().join("\n");
        assert!(listed.contains("1 of 1 known devices of @alice:test are not verified") && listed.contains("LAPTOP"));
        say(&bot, &clock, &admin(), "!cd sessions").await;
        assert!(chat.bodies().join("\n").contains("I know no devices of @bot:test"));

        *chat.encryption.lock().unwrap() = None;
        say(&bot, &clock, &admin(), "!cd verify pending").await;
        assert!(chat.bodies().join("\n").contains("needs an end-to-end encrypted chat connection"));
    }
}
