//! `chatrixcd verify …`: the bot's encryption from a terminal, for when no admin room exists yet
//! or the recovery key is involved (which must never be posted in a room). Emoji verification is
//! interactive: the operator compares the emojis printed here with the other device and answers.
//!
//! It runs as the bot's own device, so the bot must be stopped meanwhile (the data directory lock
//! says so if it is not). Messages that arrive while it runs are not answered later.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chatrixcd_domain::redact::Redactor;
use chatrixcd_ports::chat::ChatEvent;
use chatrixcd_ports::encryption::{EncryptionPort as _, VerificationStage};
use chatrixcd_ports::{UserId, Verification};
use chatrixcd_store_redb::RedbStore;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines, Stdin};

use crate::serve;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The configuration file (ChatrixCD's config.json works as it is).
    #[arg(long, short, default_value = "config.json", global = true)]
    config: PathBuf,
    /// Where state is kept; default: the config's matrix.store_path.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    action: VerifyAction,
}

#[derive(Debug, Clone, clap::Subcommand)]
enum VerifyAction {
    /// The bot's device, fingerprint, cross-signing, key backup and recovery.
    Status,
    /// A user's devices and whether the bot has verified them.
    Devices { user: String },
    /// Ask a device to verify with the bot, then compare the emojis here.
    Start {
        user: String,
        device: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Wait for someone to ask the bot's device for verification, and answer here.
    Wait {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Key backup and the recovery key that makes a lost store survivable.
    #[command(subcommand)]
    Recovery(RecoveryAction),
}

#[derive(Debug, Clone, clap::Subcommand)]
enum RecoveryAction {
    /// Create the recovery key (printed once: store it like a password) and keep the bot's keys on
    /// the server under it.
    Enable {
        /// Replace an existing recovery key; the old one stops working.
        #[arg(long)]
        reset: bool,
    },
    /// After a lost store: restore the bot's identity and room keys with its recovery key, read
    /// from standard input so it stays out of the shell history.
    Restore,
}

pub(crate) async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let config = serve::load_config(&args.config)?;
    let m = &config.raw.matrix;
    let secrets: Vec<String> =
        [m.password.clone(), m.access_token.clone(), m.store_passphrase.clone()].into_iter().flatten().collect();
    crate::logging::init("warn", std::sync::Arc::new(Redactor::new(secrets)));
    let data_dir = serve::data_dir(&config, args.data_dir.as_deref());
    chatrixcd::private_files::secure_and_log(&data_dir)?;
    // Holding the store proves the bot is not running: one device must not run twice.
    let _lock = RedbStore::open(&data_dir).context("opening the data directory (is the bot running?)")?;
    let mut matrix = serve::matrix_config(&config, &data_dir);
    // Some steps (backup uploads, secrets arriving) complete with the next sync: keep it short.
    matrix.sync_timeout = Duration::from_secs(1);
    let (chat, mut events) = chatrixcd_matrix::connect(matrix).await.context("connecting to Matrix")?;
    chatrixcd::private_files::secure_what_was_made(&data_dir)?;
    let encryption = chat.encryption_layer().clone();
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    match args.action {
        VerifyAction::Status => {
            let s = encryption.status().await?;
            let yes_no = |b| if b { "yes" } else { "no" };
            println!("Device:                      {}", s.device_id);
            println!("Fingerprint (Ed25519):       {}", s.fingerprint.unwrap_or_else(|| "unknown".into()));
            println!("Cross-signing keys here:     {}", yes_no(s.cross_signing));
            println!("Device signed by account:    {}", yes_no(s.device_verified));
            println!("Key backup:                  {}", s.key_backup);
            println!("Recovery key:                {}", s.recovery);
        }
        VerifyAction::Devices { user } => {
            let user = UserId::parse(&user).map_err(|e| anyhow::anyhow!("`{user}` is not a Matrix user id: {e}"))?;
            let devices = encryption.devices(&user).await?;
            if devices.is_empty() {
                println!(
                    "No devices of {user} are known; they appear once the bot shares an encrypted room with them."
                );
            }
            for d in devices {
                let state = if d.verified { "verified" } else { "NOT verified" };
                println!("{}  {:<30}  {state}", d.device_id, d.display_name.unwrap_or_default());
            }
        }
        VerifyAction::Start { user, device, timeout } => {
            let user = UserId::parse(&user).map_err(|e| anyhow::anyhow!("`{user}` is not a Matrix user id: {e}"))?;
            let started = encryption.request(&user, &device).await?;
            println!("Asked {user}'s device {device} to verify (id {}). Accept it on that device.", started.id);
            let followed = follow(&encryption, &mut events, &mut input, Some(started.id), timeout).await;
            encryption.settle().await;
            followed?;
        }
        VerifyAction::Wait { timeout } => {
            let s = encryption.status().await?;
            println!(
                "Waiting for a verification request to {} (device {}, fingerprint {}).",
                config.raw.matrix.user_id,
                s.device_id,
                s.fingerprint.unwrap_or_default()
            );
            let followed = follow(&encryption, &mut events, &mut input, None, timeout).await;
            encryption.settle().await;
            followed?;
        }
        VerifyAction::Recovery(RecoveryAction::Enable { reset }) => {
            let key = encryption.enable_recovery(reset).await?;
            println!("Recovery is on. This is the recovery key; it is shown only now. Keep it like a password:");
            println!();
            println!("    {key}");
            println!();
            println!("With it, `chatrixcd verify recovery restore` brings the bot's identity and old room keys back.");
        }
        VerifyAction::Recovery(RecoveryAction::Restore) => {
            println!("Paste the recovery key and press Enter:");
            let key = input.next_line().await?.context("no recovery key on standard input")?;
            encryption.recover(&key).await?;
            println!("Restored: the device holds the account's keys again and reads old messages from the backup.");
        }
    }
    Ok(())
}

async fn ask(input: &mut Lines<BufReader<Stdin>>, question: &str) -> anyhow::Result<bool> {
    println!("{question} [y/N]");
    let answer = input.next_line().await?.unwrap_or_default();
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Answers the steps of one verification (the given one, or the first request that arrives)
/// until it ends.
async fn follow(
    encryption: &chatrixcd_matrix::MatrixEncryption,
    events: &mut tokio::sync::mpsc::Receiver<ChatEvent>,
    input: &mut Lines<BufReader<Stdin>>,
    mut flow: Option<String>,
    timeout_secs: u64,
) -> anyhow::Result<()> {
    let deadline = tokio::time::sleep(Duration::from_secs(timeout_secs));
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            event = events.recv() => event.context("the Matrix connection ended")?,
            () = &mut deadline => bail!("no verification finished within {timeout_secs} s"),
        };
        let ChatEvent::Verification(v) = event else { continue };
        if flow.as_ref().is_some_and(|f| f != &v.id) {
            continue;
        }
        if step(encryption, input, &v).await? {
            return Ok(());
        }
        flow = Some(v.id);
    }
}

/// One step; true when the verification succeeded.
async fn step(
    encryption: &chatrixcd_matrix::MatrixEncryption,
    input: &mut Lines<BufReader<Stdin>>,
    v: &Verification,
) -> anyhow::Result<bool> {
    let device = v.device.clone().unwrap_or_else(|| "?".into());
    match &v.stage {
        VerificationStage::Requested if !v.we_started => {
            if ask(input, &format!("{} (device {device}) asks to verify with the bot. Accept?", v.user)).await? {
                encryption.accept(&v.id).await?;
                println!("Accepted; start the emoji comparison on the other device if it does not start by itself.");
            } else {
                encryption.cancel(&v.id).await?;
                bail!("declined");
            }
        }
        VerificationStage::CompareEmojis(emojis) => {
            println!("Compare with {}'s device {device}:", v.user);
            println!();
            println!("    {}", emojis.iter().map(|e| e.symbol.as_str()).collect::<Vec<_>>().join("   "));
            println!("    {}", emojis.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(" · "));
            println!();
            if ask(input, "Does the other device show the same emojis, in the same order?").await? {
                encryption.confirm(&v.id).await?;
                println!("Confirmed; waiting for the other device to confirm too.");
            } else {
                encryption.mismatch(&v.id).await?;
                bail!("the emojis did not match: the device stays unverified (someone may be intercepting)");
            }
        }
        VerificationStage::Done => {
            println!("Verified: {}'s device {device} and the bot trust each other now.", v.user);
            return Ok(true);
        }
        VerificationStage::Cancelled(reason) => bail!("the verification ended without verifying: {reason}"),
        VerificationStage::Requested | VerificationStage::Ready | VerificationStage::Confirmed => {}
    }
    Ok(false)
}
