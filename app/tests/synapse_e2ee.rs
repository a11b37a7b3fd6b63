#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly
#![recursion_limit = "256"]

//! The bot in an end-to-end encrypted room on a real Synapse, with a matrix-sdk client as the
//! person: the command is encrypted, and so is the answer, which the person must be able to read.
//! Then the bot restarts: same device, and it still reads and answers.

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_tests::synapse::Synapse;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoom, RoomPreset};
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::{MessageType, OriginalSyncRoomMessageEvent, RoomMessageEventContent};
use tokio::sync::mpsc;

fn start_bot(config: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn stop_bot(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}

#[test]
fn the_bot_reads_and_answers_in_an_encrypted_room_across_a_restart() {
    let synapse = Synapse::start().expect("a local Synapse (see tests/src/synapse.rs)");
    let bot = synapse.register("bot", "botpass", false).unwrap();
    let alice = synapse.register("alice", "alicepass", false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let semaphore_url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(http::serve(
            listener,
            SimSemaphore::demo(SimConfig::default(), Arc::new(SystemClock)),
            HttpConfig::new("sim-token"),
        ));
        url
    });
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{ "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", "password": "botpass", "store_path": "{store}" }},
                 "semaphore": {{ "url": "{semaphore_url}", "api_token": "sim-token" }},
                 "bot": {{ "admin_users": ["{alice}"], "greetings_enabled": false }} }}"#,
            hs = synapse.url,
            store = dir.path().join("store").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("bot.log");
    struct ShowLog(std::path::PathBuf);
    impl Drop for ShowLog {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("--- bot log ---\n{}", std::fs::read_to_string(&self.0).unwrap_or_default());
            }
        }
    }
    let _show = ShowLog(log.clone());
    let mut child = Some(start_bot(&config, &log));

    runtime.block_on(async {
        // Alice, with her own matrix-sdk client and crypto store.
        let human = Client::builder()
            .homeserver_url(&synapse.url)
            .sqlite_store(dir.path().join("alice"), None)
            .build()
            .await
            .unwrap();
        human.matrix_auth().login_username("alice", "alicepass").send().await.unwrap();
        let first = human.sync_once(SyncSettings::default()).await.unwrap();
        let (answers_tx, mut answers) = mpsc::unbounded_channel::<(String, bool)>();
        let bot_id: OwnedUserId = bot.as_str().try_into().unwrap();
        let from_bot = bot_id.clone();
        human.add_event_handler(
            move |ev: OriginalSyncRoomMessageEvent,
                  encryption: Option<matrix_sdk::deserialized_responses::EncryptionInfo>| {
                let tx = answers_tx.clone();
                let from_bot = from_bot.clone();
                async move {
                    if ev.sender == from_bot
                        && let MessageType::Notice(n) = &ev.content.msgtype
                    {
                        let _ = tx.send((n.body.clone(), encryption.is_some()));
                    }
                }
            },
        );
        let syncing = human.clone();
        let sync = tokio::spawn(async move {
            let mut settings = SyncSettings::default().token(first.next_batch).timeout(Duration::from_secs(1));
            loop {
                if let Ok(r) = syncing.sync_once(settings.clone()).await {
                    settings = settings.token(r.next_batch);
                }
            }
        });

        let mut request = CreateRoom::new();
        request.preset = Some(RoomPreset::PrivateChat);
        request.invite = vec![bot_id.clone()];
        request.initial_state = vec![
            InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                .to_raw_any(),
        ];
        let room = human.create_room(request).await.unwrap();

        // Waits for the bot to join, then asks and expects an encrypted answer.
        let mut joined = false;
        for _ in 0..300 {
            if let Ok(Some(member)) = room.get_member_no_sync(&bot_id).await
                && member.membership() == &matrix_sdk::ruma::events::room::member::MembershipState::Join
            {
                joined = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(joined, "the bot never joined the encrypted room");
        let ask = |text: &'static str| {
            let room = room.clone();
            async move { room.send(RoomMessageEventContent::text_plain(text)).await.unwrap() }
        };
        ask("!cd ping").await;
        let (answer, encrypted) =
            tokio::time::timeout(Duration::from_secs(60), answers.recv()).await.expect("an answer in time").unwrap();
        assert!(answer.contains("Semaphore is up"), "{answer}");
        assert!(encrypted, "the answer in an encrypted room is encrypted");

        // Restart: the same device (the session is reused), and it still decrypts.
        let devices_before = human.encryption().get_user_devices(&bot_id).await.unwrap().devices().count();
        // The old process must be gone before the new one opens the same stores.
        stop_bot(child.take().expect("the bot is running"));
        child = Some(start_bot(&config, &log));
        tokio::time::sleep(Duration::from_secs(2)).await;
        ask("!cd projects").await;
        let (answer, encrypted) = tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("an answer after the restart")
            .unwrap();
        assert!(answer.contains("ops"), "{answer}");
        assert!(encrypted);
        let devices_after = human.encryption().get_user_devices(&bot_id).await.unwrap().devices().count();
        assert_eq!(devices_before, devices_after, "a restart must not add a device");
        sync.abort();
    });
    stop_bot(child.expect("the bot is running"));
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log.contains("botpass"), "the password reached the log");
}
