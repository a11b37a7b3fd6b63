//! `chatrixcd login --config config.json`: single sign-on for accounts without a password. Prints
//! the homeserver's SSO URL, takes the `loginToken` the browser is sent back with (or the whole
//! redirect address), logs in and saves the session; `chatrixcd run` reuses it and its device.
//!
//! ChatrixCD asked for the token inside the running bot, which blocked it and made daemon mode
//! impossible; here it is a separate step, done once.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use anyhow::Context as _;
use chatrixcd_store_redb::RedbStore;
use tokio::io::AsyncBufReadExt as _;

use crate::serve;

#[derive(Clone, clap::Args)]
pub(crate) struct LoginArgs {
    /// The configuration file (ChatrixCD's config.json works as it is).
    #[arg(long, short, default_value = "config.json")]
    config: PathBuf,
    /// Where state is kept; default: the config's matrix.store_path.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The `loginToken` from the redirect, or the whole redirect address; asked for when missing.
    /// The prompt or the variable keep it out of the process list, which other users can read.
    #[arg(long, env = "CHATRIXCD_LOGIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl std::fmt::Debug for LoginArgs {
    // The login token is a credential (for a minute or two): never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginArgs")
            .field("config", &self.config)
            .field("data_dir", &self.data_dir)
            .field("token", &crate::config::hidden(&self.token))
            .finish()
    }
}

/// Where ChatrixCD sent the browser back to when `matrix.oidc_redirect_url` is unset. Nothing needs
/// to listen there: the token is read from the address bar.
const DEFAULT_REDIRECT: &str = "http://localhost:8080/callback";

pub(crate) async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let config = serve::load_config(&args.config)?;
    let m = &config.raw.matrix;
    let secrets: Vec<String> =
        [m.password.clone(), m.access_token.clone(), m.store_passphrase.clone()].into_iter().flatten().collect();
    crate::logging::init("warn", std::sync::Arc::new(chatrixcd_domain::redact::Redactor::new(secrets)));
    let data_dir = serve::data_dir(&config, args.data_dir.as_deref());
    chatrixcd::private_files::secure_and_log(&data_dir)?;
    // Holding the store proves the bot is not running: two processes must never share a device.
    let _lock = RedbStore::open(&data_dir).context("opening the data directory")?;
    let matrix = serve::matrix_config(&config, &data_dir);
    let (input, state) = match args.token {
        // Given on the command line (a script): there is no login of ours for it to answer.
        Some(token) => (token, None),
        None => {
            let redirect = config.raw.matrix.oidc_redirect_url.clone().unwrap_or_else(|| DEFAULT_REDIRECT.into());
            // A one-time value in the address the browser comes back to: an address pasted from
            // another login (one somebody else started, to get the bot into their account) is
            // refused. The homeserver keeps the query of the redirect and adds `loginToken`.
            let state = chatrixcd_sealer::random_hex(16).context("no randomness for the login's state")?;
            let redirect = with_state(&redirect, &state);
            let urls = chatrixcd_matrix::sso_login_urls(&matrix, &redirect).await?;
            println!("Open one of these in a browser and log in as {}:", matrix.user_id);
            for (name, url) in urls {
                println!("  {name}: {url}");
            }
            println!(
                "The browser is then sent to {redirect}?loginToken=…; that page need not load. Paste its address (or \
                 just the token) here and press Enter:"
            );
            let mut line = String::new();
            tokio::io::BufReader::new(tokio::io::stdin()).read_line(&mut line).await?;
            (line, Some(state))
        }
    };
    if let Some(state) = &state {
        answers_this_login(&input, state).map_err(anyhow::Error::msg)?;
    }
    let token = login_token_from(&input).context("no loginToken in what was given")?;
    let device = chatrixcd_matrix::login_with_token(&matrix, &token).await?;
    chatrixcd::private_files::secure_what_was_made(&data_dir)?;
    println!(
        "Logged in as {}, device {device}. The session is saved in {}; `chatrixcd run` uses it from now on.",
        matrix.user_id,
        matrix.store_dir.display()
    );
    Ok(())
}

/// The name of the one-time value added to the redirect address.
const STATE: &str = "chatrixcd_state";

/// `redirect` with the login's state in its query.
fn with_state(redirect: &str, state: &str) -> String {
    let (address, fragment) = redirect.split_once('#').map_or((redirect, None), |(a, f)| (a, Some(f)));
    let joiner = if address.contains('?') { '&' } else { '?' };
    let mut out = format!("{address}{joiner}{STATE}={state}");
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// A pasted redirect address must carry this login's state; a bare token (typed or copied by the
/// operator from the address bar) is taken as it is.
fn answers_this_login(input: &str, state: &str) -> Result<(), String> {
    let input = input.trim();
    if !input.contains("loginToken=") {
        return Ok(());
    }
    let query = input.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or_default();
    let given = query.split('&').find_map(|pair| pair.strip_prefix(STATE).and_then(|v| v.strip_prefix('=')));
    // Compared in constant time: an equal length is all a timing difference could tell.
    let same = |g: &str| bool::from(subtle::ConstantTimeEq::ct_eq(g.as_bytes(), state.as_bytes()));
    if given.is_some_and(same) {
        Ok(())
    } else {
        Err(format!(
            "that address is not the answer to this login (its {STATE} is missing or different): run `chatrixcd login` \
             again and paste the address the browser is sent to after it"
        ))
    }
}

/// The login token in a redirect address (`…?loginToken=abc&…`), or the input itself when it is
/// a bare token.
pub(crate) fn login_token_from(input: &str) -> Option<String> {
    let input = input.trim();
    if let Some(start) = input.find("loginToken=") {
        let value = &input[start + "loginToken=".len()..];
        let end = value.find(['&', '#']).unwrap_or(value.len());
        return percent_decode(&value[..end]).filter(|t| !t.is_empty());
    }
    let bare = !input.is_empty() && !input.contains(|c: char| c.is_whitespace() || "/?=&#:".contains(c));
    bare.then(|| input.to_owned())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::login_token_from;

    #[test]
    fn a_pasted_address_must_answer_this_login() {
        use super::{answers_this_login, with_state};
        let state = "0123456789abcdef0123456789abcdef";
        let redirect = with_state("http://localhost:8080/callback", state);
        assert_eq!(redirect, format!("http://localhost:8080/callback?chatrixcd_state={state}"));
        assert_eq!(with_state("https://x.example/cb?a=1#f", "s"), "https://x.example/cb?a=1&chatrixcd_state=s#f");
        // What the homeserver sends the browser to: our address with `loginToken` added.
        assert_eq!(answers_this_login(&format!("{redirect}&loginToken=syl_abc\n"), state), Ok(()));
        assert_eq!(answers_this_login("syl_abc", state), Ok(()), "a bare token is the operator's own");
        for foreign in [
            "http://localhost:8080/callback?loginToken=syl_abc".to_owned(),
            format!("http://localhost:8080/callback?chatrixcd_state={}&loginToken=syl_abc", "f".repeat(32)),
            format!("http://localhost:8080/callback?chatrixcd_state={}&loginToken=syl_abc", &state[..31]),
        ] {
            let refused = answers_this_login(&foreign, state).unwrap_err();
            assert!(refused.contains("not the answer to this login") && !refused.contains("syl_abc"), "{refused}");
        }
    }

    #[test]
    fn the_token_is_found_in_what_people_paste() {
        let cases: &[(&str, Option<&str>)] = &[
            ("syl_abc123_XYZ", Some("syl_abc123_XYZ")),
            ("  syl_abc123  \n", Some("syl_abc123")),
            ("http://localhost:8080/callback?loginToken=syl_abc", Some("syl_abc")),
            ("http://localhost:8080/callback?state=1&loginToken=a%2Bb&x=2", Some("a+b")),
            ("https://example.org/cb?loginToken=tok#fragment", Some("tok")),
            ("http://localhost:8080/callback", None),
            ("http://localhost:8080/callback?loginToken=", None),
            ("http://localhost:8080/callback?loginToken=%zz", None),
            ("two words", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(login_token_from(input).as_deref(), *expected, "{input:?}");
        }
    }
}
