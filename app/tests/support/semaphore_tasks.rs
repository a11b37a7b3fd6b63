//! Reading a simulated Semaphore's tasks over its API, for tests that check what the bot
//! started there.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // each test uses a part

use std::collections::BTreeMap;

/// `GET <semaphore><path>` with the token, as JSON.
pub async fn get_json(semaphore: &str, token: &str, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{semaphore}{path}"))
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How many of project 1's tasks carry each slot of `schedule` in their message.
pub async fn tasks_per_slot(semaphore: &str, token: &str, schedule: u64) -> BTreeMap<String, usize> {
    let tasks = get_json(semaphore, token, "/api/project/1/tasks").await;
    let marker = format!("chatrixcd schedule #{schedule} slot ");
    let mut per_slot = BTreeMap::new();
    for task in tasks.as_array().into_iter().flatten() {
        if let Some(slot) = task["message"].as_str().and_then(|m| m.strip_prefix(marker.as_str())) {
            *per_slot.entry(slot.to_owned()).or_default() += 1;
        }
    }
    per_slot
}
