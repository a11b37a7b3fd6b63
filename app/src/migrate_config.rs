//! `chatrixcd config migrate --config config.json`: rewrites ChatrixCD's one `semaphore` section
//! as the instance `default` of `semaphore_instances`, so more instances can be added beside it.
//!
//! The file is edited as text, not parsed and printed again: comments, key order, quoting and
//! indentation stay as the operator wrote them (ChatrixCD's own migration lost every comment).
//! The result is read back and must mean the same configuration before anything is written;
//! the old file is kept beside it as `config.json.backup` (or `.backup.<unix time>`).

// A report for a person at a terminal.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MigrateArgs {
    /// The configuration file to rewrite in place (a backup is left beside it).
    #[arg(long, short, default_value = "config.json")]
    config: PathBuf,
}

/// Why a file could not be migrated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MigrateError {
    #[error("not valid HJSON/JSON: {0}")]
    Unreadable(String),
    #[error("it has both `semaphore` and `semaphore_instances`: move the `semaphore` section by hand")]
    Both,
    #[error("the top level is not an object")]
    NotAnObject,
    #[error("{0} (nothing was changed)")]
    Scan(String),
}

/// A member of the top-level object: where its key and value sit in the text.
#[derive(Debug, Clone)]
struct Member {
    key: String,
    key_start: usize,
    key_end: usize,
    quoted: bool,
    value_start: usize,
    value_end: usize,
}

/// Just enough of HJSON to find where things are: strings (all three kinds), comments,
/// quoteless strings (to the end of the line), objects and arrays.
struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn at(&self, s: &str) -> bool {
        self.text[self.pos..].starts_with(s.as_bytes())
    }

    fn error(&self, what: &str) -> MigrateError {
        let line = self.text[..self.pos.min(self.text.len())].iter().filter(|b| **b == b'\n').count() + 1;
        MigrateError::Scan(format!("{what} at line {line}"))
    }

    fn skip_line(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    /// Skips white space, comments and, where members or items are separated, commas.
    fn skip(&mut self, commas: bool) -> Result<(), MigrateError> {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || (commas && b == b',') {
                self.pos += 1;
            } else if b == b'#' || self.at("//") {
                self.skip_line();
            } else if self.at("/*") {
                let rest = &self.text[self.pos + 2..];
                let close = rest.windows(2).position(|w| w == b"*/").ok_or_else(|| self.error("unclosed comment"))?;
                self.pos += 2 + close + 2;
            } else {
                break;
            }
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), MigrateError> {
        if self.at("'''") {
            let rest = &self.text[self.pos + 3..];
            let close = rest.windows(3).position(|w| w == b"'''").ok_or_else(|| self.error("unclosed '''"))?;
            self.pos += 3 + close + 3;
            return Ok(());
        }
        let quote = self.peek().ok_or_else(|| self.error("missing string"))?;
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b'\\' {
                self.pos += 1;
            } else if b == quote {
                return Ok(());
            }
        }
        Err(self.error("unclosed string"))
    }

    fn value(&mut self) -> Result<(), MigrateError> {
        match self.peek() {
            Some(b'{') => self.members(b'}').map(|_| ()),
            Some(b'[') => self.items(),
            Some(b'"' | b'\'') => self.string(),
            Some(_) => {
                // JSON literals end at a separator; anything else is a quoteless string, which
                // HJSON runs to the end of the line.
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b == b',' || b == b'}' || b == b']' || b.is_ascii_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
                let word = String::from_utf8_lossy(&self.text[start..self.pos]);
                let literal = matches!(word.as_ref(), "true" | "false" | "null") || word.parse::<f64>().is_ok();
                if !literal {
                    self.pos = start;
                    self.skip_line();
                }
                Ok(())
            }
            None => Err(self.error("missing value")),
        }
    }

    fn items(&mut self) -> Result<(), MigrateError> {
        self.pos += 1;
        loop {
            self.skip(true)?;
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => self.value()?,
                None => return Err(self.error("unclosed [")),
            }
        }
    }

    /// The members of an object, from its `{` to its `close`.
    fn members(&mut self, close: u8) -> Result<Vec<Member>, MigrateError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            self.skip(true)?;
            match self.peek() {
                None => return Err(self.error("unclosed {")),
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => {}
            }
            let key_start = self.pos;
            let quoted = matches!(self.peek(), Some(b'"' | b'\''));
            if quoted {
                self.string()?;
            } else {
                while let Some(b) = self.peek() {
                    if b == b':' || b.is_ascii_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
            }
            let key_end = self.pos;
            let raw = String::from_utf8_lossy(&self.text[key_start..key_end]).into_owned();
            let key = if quoted { raw[1..raw.len().saturating_sub(1)].to_owned() } else { raw };
            self.skip(false)?;
            if self.peek() != Some(b':') {
                return Err(self.error(&format!("no `:` after the key `{key}`")));
            }
            self.pos += 1;
            self.skip(false)?;
            let value_start = self.pos;
            self.value()?;
            out.push(Member { key, key_start, key_end, quoted, value_start, value_end: self.pos });
        }
    }
}

fn top_members(text: &str) -> Result<Vec<Member>, MigrateError> {
    let mut scanner = Scanner { text: text.as_bytes(), pos: 0 };
    scanner.skip(false)?;
    // The reader (deser_hjson) needs the root's braces too, so a file without them never gets here.
    match scanner.peek() {
        Some(b'{') => scanner.members(b'}'),
        _ => Err(MigrateError::NotAnObject),
    }
}

/// The migrated text, or `None` when the file is already in the new layout.
pub(crate) fn migrate_text(text: &str) -> Result<Option<String>, MigrateError> {
    let before: Value = chatrixcd_domain::hjson::from_str(text).map_err(|e| MigrateError::Unreadable(e.to_string()))?;
    let Value::Object(top) = &before else { return Err(MigrateError::NotAnObject) };
    match (top.contains_key("semaphore"), top.contains_key("semaphore_instances")) {
        (false, _) => return Ok(None),
        (true, true) => return Err(MigrateError::Both),
        (true, false) => {}
    }
    let members = top_members(text)?;
    let semaphore = members
        .iter()
        .find(|m| m.key == "semaphore")
        .ok_or_else(|| MigrateError::Scan("the `semaphore` key was not found in the text".into()))?;
    let line_start = text[..semaphore.key_start].rfind('\n').map_or(0, |n| n + 1);
    let indent = &text[line_start..semaphore.key_start];
    let indent = if indent.trim().is_empty() { indent.to_owned() } else { String::new() };
    let step = if indent.is_empty() { "  ".to_owned() } else { indent.clone() };
    let value = &text[semaphore.value_start..semaphore.value_end];
    // Lines of the section move one level in; a multi-line string would change if they did.
    let value = if value.contains("'''") { value.to_owned() } else { value.replace('\n', &format!("\n{step}")) };
    let q = |name: &str| if semaphore.quoted { format!("\"{name}\"") } else { name.to_owned() };
    let mut out = String::with_capacity(text.len() + 128);
    out.push_str(&text[..semaphore.key_start]);
    out.push_str(&format!("{}: \"default\",\n{indent}", q("default_instance")));
    out.push_str(&q("semaphore_instances"));
    out.push_str(&text[semaphore.key_end..semaphore.value_start]);
    out.push_str(&format!("{{\n{indent}{step}{}: {value}\n{indent}}}", q("default")));
    out.push_str(&text[semaphore.value_end..]);

    // The new text must say the same: the section moved whole, nothing else touched.
    let after: Value = chatrixcd_domain::hjson::from_str(&out)
        .map_err(|e| MigrateError::Scan(format!("the rewritten file would not read back ({e})")))?;
    let mut expected = top.clone();
    let section = expected.remove("semaphore").unwrap_or(Value::Null);
    expected.insert("default_instance".into(), Value::String("default".into()));
    expected.insert("semaphore_instances".into(), serde_json::json!({ "default": section }));
    if after != Value::Object(expected) {
        return Err(MigrateError::Scan("the rewritten file would not mean the same configuration".into()));
    }
    Ok(Some(out))
}

/// Where the old file goes: `config.json.backup`, or with the time when that exists already.
fn backup_path(path: &Path) -> PathBuf {
    let plain = PathBuf::from(format!("{}.backup", path.display()));
    if !plain.exists() {
        return plain;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    PathBuf::from(format!("{}.backup.{now}", path.display()))
}

/// A new file readable by its owner only from its first byte (it holds the config's secrets until
/// it takes the old file's permissions).
fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    // A leftover of an interrupted migration is replaced, never reused with its mode.
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

pub(crate) fn run(args: &MigrateArgs) -> anyhow::Result<()> {
    let path = &args.config;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(migrated) = migrate_text(&text).with_context(|| format!("cannot migrate {}", path.display()))? else {
        println!("{} is already in the current layout; nothing to do", path.display());
        return Ok(());
    };
    let backup = backup_path(path);
    std::fs::copy(path, &backup).with_context(|| format!("cannot write the backup {}", backup.display()))?;
    // Written beside the file and renamed over it, so a crash leaves the old or the new file,
    // never half of one; the permissions (the file holds secrets) are kept.
    let temporary = PathBuf::from(format!("{}.migrating", path.display()));
    write_owner_only(&temporary, &migrated).with_context(|| format!("cannot write {}", temporary.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&temporary, meta.permissions())
            .with_context(|| format!("cannot set the permissions of {}", temporary.display()))?;
    }
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))?;
    println!(
        "✓ {}: `semaphore` is now the instance `default` of `semaphore_instances` (default_instance: \"default\"); \
         the old file is {}",
        path.display(),
        backup.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHATRIXCD: &str = r#"{
  // Written by ChatrixCD's wizard, then edited by hand
  "_config_version": 5,
  "matrix": {
    "homeserver": "https://matrix.example.org", // our homeserver
    "user_id": "@bot:example.org",
    "password": "pw",
  },
  /* the one Semaphore */
  "semaphore": {
    "url": "https://semaphore.example.org", # production
    "api_token": "tok",
    "ssl_verify": true
  },
  "bot": { "admin_users": ["@alice:example.org"] }
}
"#;

    /// Found by the `config_migrate` fuzz target: the HJSON reader panicked on it.
    #[test]
    fn a_file_the_reader_trips_over_is_unreadable() {
        assert!(matches!(migrate_text("{\"\"\u{2026}"), Err(MigrateError::Unreadable(_))));
    }

    #[test]
    fn the_semaphore_section_becomes_the_default_instance_and_comments_stay() {
        let out = migrate_text(CHATRIXCD).unwrap().unwrap();
        for comment in ["// Written by ChatrixCD", "// our homeserver", "/* the one Semaphore */", "# production"] {
            assert!(out.contains(comment), "{comment} lost:\n{out}");
        }
        assert!(
            out.contains(
                "  \"default_instance\": \"default\",\n  \"semaphore_instances\": {\n    \"default\": {\n      \"url\""
            ),
            "{out}"
        );
        let (config, _) = crate::config::parse(&out).unwrap();
        assert_eq!(config.instances[0].id.as_str(), "default");
        assert_eq!(config.instances[0].token, "tok");
        assert_eq!(migrate_text(&out).unwrap(), None, "a migrated file is left alone");
    }

    #[test]
    fn bare_keys_and_quoteless_values_work() {
        let text = "{\nmatrix: {\n  homeserver: https://m.example/{x}\n  user_id: \"@b:m.example\"\n  password: p\n}\nsemaphore: {\n  url: https://s.example/ # not a comment: HJSON reads the line\n  api_token: t\n}\nbot: { admin_users: [\"@a:m.example\"] }\n}\n";
        let out = migrate_text(text).unwrap().unwrap();
        assert!(out.contains("default_instance: \"default\",\nsemaphore_instances: {\n  default: {"), "{out}");
    }

    #[test]
    fn a_file_with_both_layouts_or_broken_text_is_refused() {
        assert_eq!(migrate_text(r#"{ semaphore: {}, semaphore_instances: {} }"#), Err(MigrateError::Both));
        assert!(matches!(migrate_text("{ semaphore: "), Err(MigrateError::Unreadable(_))));
        assert_eq!(migrate_text("{ bot: {} }"), Ok(None));
    }

    #[test]
    fn the_command_leaves_a_backup_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, CHATRIXCD).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        run(&MigrateArgs { config: path.clone() }).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("config.json.backup")).unwrap(), CHATRIXCD);
        assert!(std::fs::read_to_string(&path).unwrap().contains("semaphore_instances"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        run(&MigrateArgs { config: path.clone() }).unwrap();
        assert!(!dir.path().join("config.json.migrating").exists());
    }

    proptest! {
        /// Whatever the section holds and however it is laid out, it moves whole.
        #[test]
        fn any_section_moves_whole(
            url in "https://[a-z]{1,8}\\.example(/[a-z{}]{0,5})?",
            token in "[A-Za-z0-9_=-]{1,20}",
            verify in any::<bool>(),
            quoted in any::<bool>(),
            comment in prop::sample::select(vec!["", " // c", " # c", " /* c */"]),
        ) {
            let key = |k: &str| if quoted { format!("\"{k}\"") } else { k.to_owned() };
            let text = format!(
                "{{\n  {}: {{{comment}\n    {}: \"{url}\",\n    {}: \"{token}\",{comment}\n    {}: {verify}\n  }},\n  {}: {{ {}: \"!cd\" }}\n}}\n",
                key("semaphore"), key("url"), key("api_token"), key("ssl_verify"), key("bot"), key("command_prefix"),
            );
            let out = migrate_text(&text).unwrap().unwrap();
            let value: Value = deser_hjson::from_str(&out).unwrap();
            prop_assert_eq!(&value["semaphore_instances"]["default"]["url"], &Value::String(url));
            prop_assert_eq!(&value["semaphore_instances"]["default"]["ssl_verify"], &Value::Bool(verify));
            prop_assert_eq!(&value["default_instance"], &Value::String("default".into()));
            if !comment.is_empty() {
                prop_assert_eq!(out.matches(comment).count(), text.matches(comment).count());
            }
        }
    }
}
