#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The bot's account and device on a real Synapse: single sign-on by login token; emoji
//! verification with a matrix-sdk client as the person on the other side, from chat (an admin
//! compares the emojis the bot posts with her own device's) and from the command line (the
//! operator answers on the terminal); then the bot's store is lost and its recovery key brings its
//! identity back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Setup, stop_bot};
use matrix_sdk::Client;
use matrix_sdk::encryption::verification::{SasVerification, VerificationRequest, VerificationRequestState};
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::ruma::events::key::verification::request::ToDeviceKeyVerificationRequestEvent;

async fn eventually<F: Fn() -> bool>(what: &str, done: F) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

fn emoji_line(sas: &SasVerification) -> String {
    sas.emoji()
        .expect("emojis")
        .iter()
        .map(|e| format!("{} {}", e.symbol, e.description))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[test]
fn an_admin_verifies_the_bot_from_chat_by_comparing_emojis() {
    let setup = Setup::new();
    let child = setup.start_bot();
    setup.runtime.block_on(async {
        let (mut alice, room) = setup.alice_with_the_bot().await;

        let bot_id: OwnedUserId = setup.bot.as_str().try_into().unwrap();
        let devices = alice.client.encryption().get_user_devices(&bot_id).await.unwrap();
        let bot_device = devices.devices().next().expect("alice knows the bot's device");
        assert!(!bot_device.is_verified());
        let request = bot_device.request_verification().await.unwrap();
        let flow = request.flow_id().to_owned();

        // A to-device request names no room, so the bot waits until an admin looks for it.
        let mut listed = false;
        for _ in 0..20 {
            alice.say(&room, "!cd verify pending").await;
            if alice.next_message().await.0.contains(&flow) {
                listed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(listed, "the request never showed in `verify pending`");
        alice.say(&room, &format!("!cd verify accept {flow}")).await;
        alice.message_containing("Accepted").await;
        eventually("the bot accepted", || request.is_ready()).await;

        let sas = request.start_sas().await.unwrap().expect("both sides can do emojis");
        let posted = alice.message_containing("Compare these emojis").await;
        eventually("alice has the emojis", || sas.emoji().is_some()).await;
        assert!(
            posted.contains(&emoji_line(&sas)),
            "the bot's emojis differ from alice's:\n{posted}\n{}",
            emoji_line(&sas)
        );
        assert!(!sas.is_done(), "nothing is trusted before people compare");

        sas.confirm().await.unwrap();
        alice.say(&room, &format!("!cd verify confirm {flow}")).await;
        alice.message_containing("is verified").await;
        eventually("alice's side finished", || sas.is_done()).await;
        let bot_device = alice.client.encryption().get_device(&bot_id, bot_device.device_id()).await.unwrap().unwrap();
        assert!(bot_device.is_verified(), "alice trusts the bot's device now");

        alice.say(&room, "!cd verify list").await;
        let listed = alice.message_containing("known devices of").await;
        assert!(listed.contains("All 1 known devices of @alice:localhost are verified"), "{listed}");
    });
    stop_bot(child);
}

#[test]
fn a_verification_asked_in_a_room_is_announced_there_and_verifies_the_bot() {
    let setup = Setup::new();
    let _context = setup.runtime.enter();
    let child = setup.start_bot();
    setup.runtime.block_on(async {
        let mut alice = setup.alice_on("alice").await;
        alice.set_up_cross_signing("alicepass").await;
        let room = alice.encrypted_room_with(&setup.bot).await;
        alice.say(&room, "!cd ping").await;
        alice.message_containing("Semaphore is up").await;

        // Element's "Verify user": a request inside the direct-message room, to the bot's identity.
        let bot_id: OwnedUserId = setup.bot.as_str().try_into().unwrap();
        let mut identity = None;
        for _ in 0..100 {
            identity = alice.client.encryption().request_user_identity(&bot_id).await.unwrap();
            if identity.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let identity = identity.expect("the bot set up cross-signing at start");
        let request = identity.request_verification().await.unwrap();
        let flow = request.flow_id().to_owned();
        assert!(request.room_id().is_some(), "an in-room request");
        let announced = alice.message_containing("asks to verify").await;
        assert!(announced.contains(&flow), "{announced}");

        alice.say(&room, &format!("!cd verify accept {flow}")).await;
        eventually("the bot accepted", || request.is_ready()).await;
        let sas = request.start_sas().await.unwrap().expect("both sides can do emojis");
        let posted = alice.message_containing("Compare these emojis").await;
        eventually("alice has the emojis", || sas.emoji().is_some()).await;
        assert!(posted.contains(&emoji_line(&sas)), "{posted}\n{}", emoji_line(&sas));
        sas.confirm().await.unwrap();
        alice.say(&room, &format!("!cd verify confirm {flow}")).await;
        alice.message_containing("is verified").await;
        eventually("alice's side finished", || sas.is_done()).await;
        let mut verified = false;
        for _ in 0..100 {
            let identity = alice.client.encryption().get_user_identity(&bot_id).await.unwrap().unwrap();
            if identity.is_verified() {
                verified = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(verified, "alice trusts the bot's identity now");
    });
    stop_bot(child);
}

#[test]
fn a_phone_the_bot_never_saw_is_asked_back_and_verified_from_chat() {
    let setup = Setup::new();
    let _context = setup.runtime.enter();
    let child = setup.start_bot();
    let (mut alice, room) = setup.runtime.block_on(setup.alice_with_the_bot());
    stop_bot(child);

    // While the bot is down, alice logs in on her phone and asks the bot's device at once. The
    // bot hears of the phone and of its request in the same sync when it starts; matrix-sdk
    // drops a request from a device it does not know, so the bot asks the phone in turn.
    let phone = setup.runtime.block_on(setup.alice_on("alice-phone"));
    let emojis = Arc::new(Mutex::new(None));
    alice_answers_requests(&phone.client, Arc::clone(&emojis));
    let bot_id: OwnedUserId = setup.bot.as_str().try_into().unwrap();
    setup.runtime.block_on(async {
        phone.client.encryption().request_user_identity(&bot_id).await.unwrap();
        let devices = phone.client.encryption().get_user_devices(&bot_id).await.unwrap();
        let bot_device = devices.devices().next().expect("the phone knows the bot's device");
        bot_device.request_verification().await.unwrap();
    });
    let child = setup.start_bot();
    setup.runtime.block_on(async {
        // The phone accepts the bot's request and compares; an admin lists what is pending in the
        // room, and the bot posts the emojis there.
        let mut posted = None;
        for _ in 0..40 {
            alice.say(&room, "!cd verify pending").await;
            let (listed, _) = alice.next_message().await;
            if listed.contains("I will post how these go on here") || listed.contains("Compare these emojis") {
                posted = Some(alice.message_containing("Compare these emojis").await);
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let posted = posted.expect("the bot's request to the phone showed in `verify pending`");
        let flow = posted
            .split("verify confirm ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_alphanumeric() && c != '$' && c != '_' && c != '-').next())
            .expect("the confirm command names the flow")
            .to_owned();
        alice.say(&room, &format!("!cd verify confirm {flow}")).await;
        alice.message_containing("is verified").await;
        eventually("the phone finished", || emojis.lock().unwrap().is_some()).await;
        let phone_saw = emojis.lock().unwrap().clone().unwrap();
        assert!(posted.contains(&phone_saw), "the bot's emojis differ from the phone's:\n{posted}\n{phone_saw}");
    });
    assert!(setup.bot_log().contains("asked back a device the bot had not heard of"), "{}", setup.bot_log());
    stop_bot(child);
    drop(phone);
}

/// Alice's client answers every verification request: accepts it, accepts the emoji exchange,
/// writes down the emojis and confirms them (she compares them with the terminal afterwards).
fn alice_answers_requests(client: &Client, seen: Arc<Mutex<Option<String>>>) {
    client.add_event_handler(move |ev: ToDeviceKeyVerificationRequestEvent, client: Client| {
        let seen = Arc::clone(&seen);
        async move {
            let request: VerificationRequest =
                client.encryption().get_verification_request(&ev.sender, &ev.content.transaction_id).await.unwrap();
            tokio::spawn(async move {
                request.accept().await.unwrap();
                let sas = loop {
                    if let VerificationRequestState::Transitioned { verification } = request.state()
                        && let Some(sas) = verification.sas()
                    {
                        break sas;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                sas.accept().await.unwrap();
                while sas.emoji().is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let line = emoji_line(&sas);
                sas.confirm().await.unwrap();
                while !sas.is_done() && !sas.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                assert!(sas.is_done(), "{:?}", sas.cancel_info());
                *seen.lock().unwrap() = Some(line);
            });
        }
    });
}

#[test]
fn the_terminal_verifies_a_device_and_the_recovery_key_survives_a_lost_store() {
    let setup = Setup::new();
    // The people's clients are dropped in the runtime's context, even when a check fails.
    let _context = setup.runtime.enter();
    // The bot runs once and shares an encrypted room with alice, so it knows her device.
    let child = setup.start_bot();
    let (alice, _room) = setup.runtime.block_on(setup.alice_with_the_bot());
    stop_bot(child);

    // While the bot runs, the terminal cannot take its device.
    let running = setup.start_bot();
    let refused = setup.cli(&["verify", "status"], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use"), "{refused:?}");
    stop_bot(running);

    let emojis = Arc::new(Mutex::new(None));
    alice_answers_requests(&alice.client, Arc::clone(&emojis));
    let alice_device = alice.client.device_id().unwrap().to_string();
    let out = setup.cli(&["verify", "start", &setup.alice, &alice_device, "--timeout", "120"], "y\n");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{printed}\n{}", String::from_utf8_lossy(&out.stderr));
    // Alice's side finishes too (the terminal sent its last message before exiting).
    for _ in 0..100 {
        if emojis.lock().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let alice_saw = emojis.lock().unwrap().clone().expect("alice finished the verification");
    for (symbol_and_name, n) in alice_saw.split(" · ").zip(1..) {
        let name = symbol_and_name.split_once(' ').unwrap().1;
        assert!(printed.contains(name), "emoji {n} ({name}) not on the terminal:\n{printed}");
    }
    assert!(printed.contains("Verified"), "{printed}");

    let status = String::from_utf8_lossy(&setup.cli(&["verify", "status"], "").stdout).to_string();
    assert!(status.contains("Cross-signing keys here:     yes"), "{status}");

    // The other way round, from alice's second device (her phone): she asks, the operator accepts
    // and compares on the terminal.
    let phone = setup.runtime.block_on(setup.alice_on("alice-phone"));
    let mut waiting = setup.spawn_cli(&["verify", "wait", "--timeout", "120"], "y\ny\n");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = waiting.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // The phone asks once the terminal listens: a request from a device the bot has not heard of
    // yet is ignored by matrix-sdk, and the terminal's first sync is what tells it of the phone.
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.contains("Waiting for a verification request")) {
        printed.push(lines.recv_timeout(Duration::from_secs(60)).expect("the terminal starts listening"));
    }
    let alice_saw = setup.runtime.block_on(async {
        let bot_id: OwnedUserId = setup.bot.as_str().try_into().unwrap();
        let devices = phone.client.encryption().get_user_devices(&bot_id).await.unwrap();
        let request = devices.devices().next().unwrap().request_verification().await.unwrap();
        eventually("the terminal accepted", || request.is_ready()).await;
        let sas = request.start_sas().await.unwrap().unwrap();
        eventually("alice has the emojis", || sas.emoji().is_some()).await;
        let line = emoji_line(&sas);
        sas.confirm().await.unwrap();
        eventually("both confirmed", || sas.is_done()).await;
        line
    });
    let out = crate::support::wait_with_timeout(&mut waiting, Duration::from_secs(60));
    printed.extend(lines.try_iter());
    let printed = printed.join("\n");
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("asks to verify") && printed.contains("Verified"), "{printed}");
    for symbol_and_name in alice_saw.split(" · ") {
        assert!(printed.contains(symbol_and_name.split_once(' ').unwrap().1), "{alice_saw}\n{printed}");
    }

    // The recovery key is printed once; then the store is lost, and the key restores the identity.
    let enabled = setup.cli(&["verify", "recovery", "enable"], "");
    let text = String::from_utf8_lossy(&enabled.stdout).to_string();
    assert!(enabled.status.success(), "{text}\n{}", String::from_utf8_lossy(&enabled.stderr));
    let key = text.lines().find(|l| l.starts_with("    ")).expect("the key line").trim().to_owned();
    assert!(key.split(' ').count() >= 12, "a recovery key is groups of four characters: {key}");

    std::fs::remove_dir_all(setup.store().join("matrix")).unwrap();
    let restored = setup.cli(&["verify", "recovery", "restore"], &format!("{key}\n"));
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    let status = String::from_utf8_lossy(&setup.cli(&["verify", "status"], "").stdout).to_string();
    assert!(status.contains("Cross-signing keys here:     yes"), "{status}");
    assert!(status.contains("Device signed by account:    yes"), "{status}");
    assert!(status.contains("Recovery key:                enabled"), "{status}");

    let wrong =
        setup.cli(&["verify", "recovery", "restore"], "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd\n");
    assert!(!wrong.status.success(), "a wrong key must fail");
    drop(phone);
    drop(alice);
}

#[test]
fn single_sign_on_by_login_token_saves_a_session_the_bot_reuses() {
    let setup = Setup::new();
    let _context = setup.runtime.enter();
    // Synapse here has no identity provider; a login token is what SSO hands back, and an existing
    // session can mint one (MSC3882), so that is how the test gets it.
    let token = setup.runtime.block_on(async {
        let session = crate::support::access_token(&setup.synapse.url, "bot", "botpass").await;
        let minted: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/_matrix/client/v1/login/get_token", setup.synapse.url))
            .bearer_auth(session)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        minted["login_token"].as_str().expect("a login token").to_owned()
    });
    setup.write_config(r#""auth_type": "oidc""#);

    // Without a session the bot says how to log in instead of trying an empty password.
    let out = setup.cli(&["verify", "status"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chatrixcd login"), "{out:?}");
    // The homeserver offers no SSO: the URL step says so by name.
    let out = setup.cli(&["login"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("offers no single sign-on"), "{out:?}");

    // People paste the whole redirect address.
    let pasted = format!("http://localhost:8080/callback?loginToken={token}\n");
    let out = setup.cli(&["login", "--token", pasted.trim()], "");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{printed}\n{}", String::from_utf8_lossy(&out.stderr));
    let device = printed.split("device ").nth(1).unwrap().split('.').next().unwrap().to_owned();
    assert!(setup.store().join("matrix/session.json").exists());

    // The bot (here: its terminal side) uses the saved session and device; a used token is spent.
    let status = String::from_utf8_lossy(&setup.cli(&["verify", "status"], "").stdout).to_string();
    assert!(status.contains(&format!("Device:                      {device}")), "{status}");
    std::fs::remove_dir_all(setup.store().join("matrix")).unwrap();
    let again = setup.cli(&["login", "--token", &token], "");
    assert!(!again.status.success(), "a login token works once");
}
