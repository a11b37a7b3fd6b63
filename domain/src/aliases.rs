//! Command aliases in ChatrixCD's `aliases.json` format: `{"deploy-prod": "run 1 5"}`. An alias
//! is the first word of a command; words typed after it are appended to its expansion.

use std::collections::BTreeMap;

use crate::grammar::{self, CommandSpec};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("aliases.json is not a JSON object of alias → command strings: {0}")]
    BadFile(String),
    #[error("alias names are one word of letters, digits, '-' or '_' (got `{0}`)")]
    BadName(String),
    #[error("`{0}` is a built-in command and cannot be an alias")]
    Reserved(String),
    #[error("an alias must expand to a command; `{0}` is not one")]
    UnknownTarget(String),
    #[error("an alias needs a command to expand to")]
    EmptyTarget,
}

/// Reads `aliases.json`. Values are stored without the command prefix.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, String>, AliasError> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_str(text).map_err(|e| AliasError::BadFile(e.to_string()))
}

/// Writes `aliases.json` as ChatrixCD does: a 2-space indented object.
pub fn to_file(aliases: &BTreeMap<String, String>) -> String {
    // A map of strings always serialises.
    let mut text = serde_json::to_string_pretty(aliases).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// Checks a new alias; returns the normalised command (prefix removed).
pub fn validate(
    name: &str,
    command: &str,
    prefix: &str,
    registry: &[&'static CommandSpec],
) -> Result<String, AliasError> {
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
        return Err(AliasError::BadName(name.to_owned()));
    }
    if grammar::find(registry, name).is_some() {
        return Err(AliasError::Reserved(name.to_owned()));
    }
    let command = command.trim();
    let command = command.strip_prefix(prefix).map(str::trim_start).unwrap_or(command);
    let first = command.split_whitespace().next().ok_or(AliasError::EmptyTarget)?;
    // Aliases expand to built-ins only: no chains, no loops.
    if grammar::find(registry, first).is_none() {
        return Err(AliasError::UnknownTarget(first.to_owned()));
    }
    Ok(command.to_owned())
}

/// Expands the first word when it is an alias. Built-in commands always win over aliases.
pub fn expand(
    words: Vec<String>,
    aliases: &BTreeMap<String, String>,
    registry: &[&'static CommandSpec],
) -> Vec<String> {
    let Some(first) = words.first() else { return words };
    if grammar::find(registry, first).is_some() {
        return words;
    }
    match aliases.get(first.as_str()) {
        Some(expansion) => {
            let mut expanded = grammar::split_words(expansion);
            expanded.extend(words.into_iter().skip(1));
            expanded
        }
        None => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::REGISTRY;

    #[test]
    fn file_round_trip_and_errors() {
        let map = parse_file(r#"{"deploy-prod": "run 1 5"}"#).unwrap();
        assert_eq!(map["deploy-prod"], "run 1 5");
        assert_eq!(parse_file(&to_file(&map)).unwrap(), map);
        assert!(to_file(&map).contains("\n  \"deploy-prod\""));
        assert!(parse_file("").unwrap().is_empty());
        assert!(matches!(parse_file("[1]"), Err(AliasError::BadFile(_))));
        assert!(matches!(parse_file(r#"{"a": 1}"#), Err(AliasError::BadFile(_))));
    }

    #[test]
    fn validation_table() {
        let ok = |n, c| validate(n, c, "!cd", REGISTRY);
        assert_eq!(ok("dp", "!cd run 1 5"), Ok("run 1 5".into()));
        assert_eq!(ok("dp", "run 1 5 --tags=web"), Ok("run 1 5 --tags=web".into()));
        assert_eq!(ok("run", "status"), Err(AliasError::Reserved("run".into())));
        assert_eq!(ok("x y", "status"), Err(AliasError::BadName("x y".into())));
        assert_eq!(ok("dp", "dp"), Err(AliasError::UnknownTarget("dp".into())));
        assert_eq!(ok("dp", ""), Err(AliasError::EmptyTarget));
    }

    #[test]
    fn expansion_appends_extra_words_and_never_shadows_builtins() {
        let mut aliases = BTreeMap::new();
        aliases.insert("dp".to_owned(), "run 1 5".to_owned());
        aliases.insert("status".to_owned(), "run 9 9".to_owned());
        let words = |s: &str| grammar::split_words(s);
        assert_eq!(expand(words("dp web,db"), &aliases, REGISTRY), words("run 1 5 web,db"));
        assert_eq!(expand(words("status"), &aliases, REGISTRY), words("status"));
        assert_eq!(expand(words("other"), &aliases, REGISTRY), words("other"));
    }
}
