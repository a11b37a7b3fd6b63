#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! A schedule over a real Synapse, through `chatrixcd run` from a config.json: Alice adds an
//! every-minute schedule in her encrypted room; its slot posts a status message and the run ends
//! in chat; `schedule show` lists the run; after a restart the next slot runs and no slot runs
//! twice (the simulator's tasks carry each slot's marker once). Real time: about two minutes.

use crate::support::semaphore_tasks;

use std::future::Future;
use std::time::Duration;

use crate::support::{Person, Setup, stop_bot};

async fn within<T>(what: &str, limit: u64, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(limit), step)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn reply(person: &mut Person, needle: &str) -> String {
    within(needle, 100, person.message_containing(needle)).await
}

#[test]
fn an_every_minute_schedule_fires_in_an_encrypted_room_and_not_twice_across_a_restart() {
    let setup = Setup::new();
    let child = setup.start_bot();
    let (mut alice, room) =
        setup.runtime.block_on(async { within("alice's room", 120, Box::pin(setup.alice_with_the_bot())).await });
    let first = setup.runtime.block_on(async {
        alice.say(&room, "!cd schedule add \"* * * * *\" ops deploy-web \"every minute\" --yes").await;
        reply(&mut alice, "⏰ Schedule #1 “every minute” added").await;
        let slot = reply(&mut alice, "(* * * * * UTC): slot").await;
        reply(&mut alice, "finished successfully").await;
        alice.say(&room, "!cd schedule show 1").await;
        let shown = reply(&mut alice, "⏰ Schedule #1 “every minute”").await;
        assert!(shown.contains("task #"), "{shown}");
        slot
    });
    stop_bot(child);
    let child = setup.start_bot();
    // Alice and her room are moved in and dropped there: their client needs the runtime.
    let second = setup.runtime.block_on(async move {
        let (mut alice, _room) = (alice, room);
        let slot = reply(&mut alice, "(* * * * * UTC): slot").await;
        reply(&mut alice, "finished successfully").await;
        slot
    });
    assert_ne!(first, second, "the slot after the restart is a new one");
    let per_slot = setup.runtime.block_on(semaphore_tasks::tasks_per_slot(setup.semaphore_url(), "sim-token", 1));
    assert!(per_slot.len() >= 2, "{per_slot:?}");
    assert!(per_slot.values().all(|n| *n == 1), "a slot ran twice: {per_slot:?}");
    stop_bot(child);
}
