//! The configuration file tests and benchmarks give the real bot: ChatrixCD's keys, pointing at
//! the harness's Synapse and a simulated Semaphore, with one admin and no greetings.

use std::path::Path;

/// Where the bot finds its servers, and who it answers.
#[derive(Debug, Clone, Copy)]
pub struct BotConfig<'a> {
    pub homeserver: &'a str,
    pub bot: &'a str,
    /// The `matrix` keys that log in, e.g. `"password": "botpass"`.
    pub login: &'a str,
    pub store: &'a Path,
    pub semaphore_url: &'a str,
    /// The simulated Semaphore's API token.
    pub semaphore_token: &'a str,
    pub admin: &'a str,
}

impl BotConfig<'_> {
    /// The file's text (JSON, which ChatrixCD's HJSON reader takes as it is).
    pub fn text(&self) -> String {
        format!(
            r#"{{ "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", {login}, "store_path": "{store}" }},
                 "semaphore": {{ "url": "{semaphore}", "api_token": "{token}" }},
                 "bot": {{ "admin_users": ["{admin}"], "greetings_enabled": false }} }}"#,
            hs = self.homeserver,
            bot = self.bot,
            login = self.login,
            store = self.store.display(),
            semaphore = self.semaphore_url,
            token = self.semaphore_token,
            admin = self.admin,
        )
    }
}
