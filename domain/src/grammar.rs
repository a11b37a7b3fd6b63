//! The command grammar: one static definition per command drives the parser, `help`, usage
//! errors and "did you mean" suggestions, so they can never disagree.

use crate::permissions::Permission;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What kind of value an argument or flag takes; checked by the generic parser so that every
/// command reports bad input the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Any single word.
    Word,
    /// A non-negative integer.
    Number,
    /// A task id (digits, optionally with a leading `#`), optionally qualified: `prod:42`.
    TaskId,
    /// All remaining words, joined by single spaces.
    Rest,
    /// The remaining positional words (the last argument), joined by single spaces; unlike
    /// `Rest`, flags written among or after them are still flags.
    Words,
}

#[derive(Debug)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: ValueKind,
    pub required: bool,
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    /// Other spellings accepted for compatibility (e.g. ChatrixCD's `--arg`).
    pub aliases: &'static [&'static str],
    /// `None` for a switch (`--yes`), otherwise the kind of its value (`--tags=a,b` or `--tags a,b`).
    pub value: Option<ValueKind>,
    /// May be given several times (`--var a=1 --var b=2`).
    pub repeatable: bool,
    pub help: &'static str,
}

impl FlagSpec {
    /// A flag with one word as its value, no other spelling, given at most once.
    pub const fn word(name: &'static str, help: &'static str) -> Self {
        Self { name, aliases: &[], value: Some(ValueKind::Word), repeatable: false, help }
    }
}

/// The definition of one command (or sub-command).
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub summary: &'static str,
    pub args: &'static [ArgSpec],
    pub flags: &'static [FlagSpec],
    /// Sub-commands chosen by the first word (`aliases add ...`); when the first word matches none,
    /// the command's own arguments apply.
    pub subcommands: &'static [CommandSpec],
    pub examples: &'static [&'static str],
    /// Not listed in `help` (the playful ones); still documented by `help <name>`.
    pub hidden: bool,
    /// The permission it needs; `None`: anybody the bot knows (holding any grant in the room).
    /// A command on a project or task asks again about that project once it knows it.
    pub permission: Option<Permission>,
}

impl CommandSpec {
    /// Defaults for the fields a (sub-)command leaves out: `CommandSpec { name, summary, ..CommandSpec::BASE }`.
    pub const BASE: CommandSpec = CommandSpec {
        name: "",
        aliases: &[],
        summary: "",
        args: &[],
        flags: &[],
        subcommands: &[],
        examples: &[],
        hidden: false,
        permission: Some(Permission::Read),
    };

    pub fn matches(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }

    /// The arguments only, for lists: `run [project] [template] [tags] [options]`.
    pub fn short_usage(&self, prefix: &str, path: &[&str]) -> String {
        let mut line = format!("{prefix} {}", path.join(" "));
        // Past a few choices the list would swamp the overview; `help <command>` lists them all.
        const LISTED_SUBCOMMANDS: usize = 4;
        if !self.subcommands.is_empty() && self.args.is_empty() {
            let subs: Vec<_> = self.subcommands.iter().map(|s| s.name).collect();
            if subs.len() <= LISTED_SUBCOMMANDS {
                let _ = write!(line, " [{}]", subs.join("|"));
            } else {
                let _ = write!(line, " [{}|…]", subs[..LISTED_SUBCOMMANDS - 1].join("|"));
            }
        }
        for arg in self.args {
            let _ = if arg.required { write!(line, " <{}>", arg.name) } else { write!(line, " [{}]", arg.name) };
        }
        if !self.flags.is_empty() {
            line.push_str(" [options]");
        }
        line
    }

    /// One line: `run <project> <template> [tags] [--tags=…]`.
    pub fn usage(&self, prefix: &str, path: &[&str]) -> String {
        let mut line = format!("{prefix} {}", path.join(" "));
        // Past a few choices the list would swamp the overview; `help <command>` lists them all.
        const LISTED_SUBCOMMANDS: usize = 4;
        if !self.subcommands.is_empty() && self.args.is_empty() {
            let subs: Vec<_> = self.subcommands.iter().map(|s| s.name).collect();
            if subs.len() <= LISTED_SUBCOMMANDS {
                let _ = write!(line, " [{}]", subs.join("|"));
            } else {
                let _ = write!(line, " [{}|…]", subs[..LISTED_SUBCOMMANDS - 1].join("|"));
            }
        }
        for arg in self.args {
            let shown = if matches!(arg.kind, ValueKind::Rest | ValueKind::Words) {
                format!("{}…", arg.name)
            } else {
                arg.name.to_owned()
            };
            if arg.required {
                let _ = write!(line, " <{shown}>");
            } else {
                let _ = write!(line, " [{shown}]");
            }
        }
        for flag in self.flags {
            match flag.value {
                Some(_) => {
                    let _ = write!(line, " [--{}=…]", flag.name);
                }
                None => {
                    let _ = write!(line, " [--{}]", flag.name);
                }
            }
        }
        line
    }
}

/// A command line checked against its spec, values still as text for the command to type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Command name then sub-command names, canonical spelling.
    pub path: Vec<&'static str>,
    pub args: BTreeMap<&'static str, String>,
    /// Flag name → values (one per occurrence; a switch has one empty value).
    pub flags: BTreeMap<&'static str, Vec<String>>,
}

impl Parsed {
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args.get(name).map(String::as_str)
    }
    pub fn switch(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).and_then(|v| v.last()).map(String::as_str)
    }
    pub fn flag_all(&self, name: &str) -> &[String] {
        self.flags.get(name).map(Vec::as_slice).unwrap_or_default()
    }
    pub fn sub(&self) -> Option<&'static str> {
        self.path.get(1).copied()
    }
}

/// Why a command line does not fit its command's grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarError {
    UnknownCommand { word: String, suggestion: Option<&'static str> },
    UnknownSubcommand { path: Vec<&'static str>, word: String, suggestion: Option<&'static str> },
    MissingArg { path: Vec<&'static str>, arg: &'static str },
    BadValue { path: Vec<&'static str>, what: String, value: String, expected: &'static str },
    UnknownFlag { path: Vec<&'static str>, flag: String, suggestion: Option<&'static str> },
    FlagNeedsValue { path: Vec<&'static str>, flag: &'static str },
    SwitchTakesNoValue { path: Vec<&'static str>, flag: &'static str },
    RepeatedFlag { path: Vec<&'static str>, flag: &'static str },
    TooManyArgs { path: Vec<&'static str>, extra: String },
}

impl GrammarError {
    /// The command path the error belongs to, to show its usage.
    pub fn path(&self) -> &[&'static str] {
        match self {
            Self::UnknownCommand { .. } => &[],
            Self::UnknownSubcommand { path, .. }
            | Self::MissingArg { path, .. }
            | Self::BadValue { path, .. }
            | Self::UnknownFlag { path, .. }
            | Self::FlagNeedsValue { path, .. }
            | Self::SwitchTakesNoValue { path, .. }
            | Self::RepeatedFlag { path, .. }
            | Self::TooManyArgs { path, .. } => path,
        }
    }

    /// What was wrong, in one sentence.
    pub fn describe(&self) -> String {
        fn hint(s: &Option<&'static str>) -> String {
            s.map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default()
        }
        match self {
            Self::UnknownCommand { word, suggestion } => format!("Unknown command `{word}`.{}", hint(suggestion)),
            Self::UnknownSubcommand { path, word, suggestion } => {
                format!("`{}` has no action `{word}`.{}", path.join(" "), hint(suggestion))
            }
            Self::MissingArg { arg, .. } => format!("Missing <{arg}>."),
            Self::BadValue { what, value, expected, .. } => {
                format!("`{value}` is not a valid {what}: expected {expected}.")
            }
            Self::UnknownFlag { flag, suggestion, .. } => format!("Unknown option `{flag}`.{}", hint(suggestion)),
            Self::FlagNeedsValue { flag, .. } => format!("Option `--{flag}` needs a value (`--{flag}=…`)."),
            Self::SwitchTakesNoValue { flag, .. } => format!("Option `--{flag}` takes no value."),
            Self::RepeatedFlag { flag, .. } => format!("Option `--{flag}` was given more than once."),
            Self::TooManyArgs { extra, .. } => format!("Unexpected `{extra}`."),
        }
    }
}

/// The closest name within a small edit distance, for "did you mean": the first of the
/// nearest candidates whose Damerau-Levenshtein distance (on lowercase) is at most about a third
/// of its length.
///
/// Most candidates are ruled out without computing the distance (zone names alone are ~600, and
/// a mistyped zone is checked against each of them): a cheap lower bound of the distance, the
/// difference of the two words' letter counts, is compared first with the best distance still
/// worth having.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let counts = LetterCounts::of(&word);
    let word_chars = word.chars().count();
    let mut best: Option<(usize, &'a str)> = None;
    let mut lowered = String::new();
    for candidate in candidates {
        let limit = (candidate.len() / 3).max(1) + usize::from(word.len() > 4);
        // Only a strictly nearer candidate replaces the best one: the first of equals wins.
        let worth = match best {
            Some((0, _)) => break,
            Some((d, _)) => limit.min(d - 1),
            None => limit,
        };
        // The difference in length is a lower bound of the edit distance, known before any
        // lowering for an ASCII name (lowering keeps its length; other letters may not).
        if candidate.is_ascii() && word_chars.abs_diff(candidate.len()) > worth {
            continue;
        }
        lowered.clear();
        if candidate.is_ascii() {
            lowered.extend(candidate.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            lowered.push_str(&candidate.to_lowercase());
        }
        if counts.distance_to(&lowered) > worth {
            continue;
        }
        let distance = strsim::damerau_levenshtein(&word, &lowered);
        if distance <= worth {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// How often each letter occurs in a word, letters folded into 64 buckets.
///
/// The difference of two words' counts (the larger of "letters only the first has" and
/// "letters only the second has") is at most their edit distance: an insertion or a deletion
/// changes one count by one, a substitution moves one letter's count to another's, a
/// transposition changes nothing. Folding letters into buckets only makes differences cancel,
/// so the bound stays a lower one.
struct LetterCounts([i32; 64]);

impl LetterCounts {
    fn of(word: &str) -> Self {
        let mut counts = [0; 64];
        for c in word.chars() {
            counts[bucket(c)] += 1;
        }
        Self(counts)
    }

    fn distance_to(&self, other: &str) -> usize {
        let mut counts = self.0;
        for c in other.chars() {
            counts[bucket(c)] -= 1;
        }
        let only_here: i32 = counts.iter().filter(|&&n| n > 0).sum();
        let only_there: i32 = counts.iter().filter(|&&n| n < 0).map(|n| -n).sum();
        usize::try_from(only_here.max(only_there)).unwrap_or(usize::MAX)
    }
}

fn bucket(c: char) -> usize {
    // A char is at most 0x10FFFF, so the remainder always fits.
    (u32::from(c) % 64) as usize
}

/// Finds the command spec for the first word.
pub fn find<'a>(specs: &[&'a CommandSpec], word: &str) -> Option<&'a CommandSpec> {
    specs.iter().copied().find(|s| s.matches(word))
}

/// Parses the words after the prefix against the registry.
pub fn parse(specs: &[&'static CommandSpec], words: &[String]) -> Result<Parsed, GrammarError> {
    let Some((first, rest)) = words.split_first() else {
        return Err(GrammarError::UnknownCommand { word: String::new(), suggestion: None });
    };
    let spec = find(specs, first).ok_or_else(|| GrammarError::UnknownCommand {
        word: first.clone(),
        suggestion: suggest(first, specs.iter().filter(|s| !s.hidden).flat_map(|s| std::iter::once(s.name))),
    })?;
    let mut parsed = Parsed { path: vec![spec.name], ..Parsed::default() };
    parse_into(spec, rest, &mut parsed)?;
    Ok(parsed)
}

fn parse_into(spec: &'static CommandSpec, words: &[String], parsed: &mut Parsed) -> Result<(), GrammarError> {
    if let Some(first) = words.first().filter(|w| !w.starts_with("--")) {
        if let Some(sub) = spec.subcommands.iter().find(|s| s.matches(first)) {
            parsed.path.push(sub.name);
            return parse_into(sub, &words[1..], parsed);
        }
        if spec.args.is_empty() && !spec.subcommands.is_empty() {
            return Err(GrammarError::UnknownSubcommand {
                path: parsed.path.clone(),
                word: first.clone(),
                suggestion: suggest(first, spec.subcommands.iter().map(|s| s.name)),
            });
        }
    }
    let path = parsed.path.clone();
    // A trailing `Rest` argument takes everything after it verbatim, flags included, so that
    // `aliases add dw run 1 1 --tags=web` stores the whole command.
    let rest_at = spec.args.iter().position(|a| a.kind == ValueKind::Rest);
    let mut positionals = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if rest_at == Some(positionals.len()) {
            positionals.push(words[i..].iter().map(|w| quote_word(w)).collect::<Vec<_>>().join(" "));
            break;
        }
        let word = &words[i];
        i += 1;
        let Some(flag_text) = word.strip_prefix("--").filter(|f| !f.is_empty()) else {
            positionals.push(word.clone());
            continue;
        };
        let (name, inline_value) = match flag_text.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag_text, None),
        };
        let flag = spec
            .flags
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name) || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
            .ok_or_else(|| GrammarError::UnknownFlag {
                path: path.clone(),
                flag: format!("--{name}"),
                suggestion: suggest(name, spec.flags.iter().map(|f| f.name)),
            })?;
        let value = match (flag.value, inline_value) {
            (None, None) => String::new(),
            (None, Some(_)) => return Err(GrammarError::SwitchTakesNoValue { path, flag: flag.name }),
            (Some(kind), Some(v)) => check_value(&path, flag.name, kind, v)?,
            (Some(kind), None) => {
                let v = words.get(i).filter(|w| !w.starts_with("--")).cloned();
                let Some(v) = v else { return Err(GrammarError::FlagNeedsValue { path, flag: flag.name }) };
                i += 1;
                check_value(&path, flag.name, kind, v)?
            }
        };
        let values = parsed.flags.entry(flag.name).or_default();
        if !values.is_empty() && !flag.repeatable {
            return Err(GrammarError::RepeatedFlag { path, flag: flag.name });
        }
        values.push(value);
    }
    let mut remaining = positionals.into_iter();
    for arg in spec.args {
        let value = if arg.kind == ValueKind::Words {
            let all: Vec<String> = remaining.by_ref().collect();
            (!all.is_empty()).then(|| all.join(" "))
        } else {
            remaining.next()
        };
        match value {
            Some(v) => {
                let v = check_value(&path, arg.name, arg.kind, v)?;
                parsed.args.insert(arg.name, v);
            }
            None if arg.required => return Err(GrammarError::MissingArg { path, arg: arg.name }),
            None => {}
        }
    }
    let extra: Vec<String> = remaining.collect();
    if !extra.is_empty() {
        return Err(GrammarError::TooManyArgs { path, extra: extra.join(" ") });
    }
    Ok(())
}

fn check_value(path: &[&'static str], what: &str, kind: ValueKind, value: String) -> Result<String, GrammarError> {
    let bad = |expected| GrammarError::BadValue {
        path: path.to_vec(),
        what: what.to_owned(),
        value: value.clone(),
        expected,
    };
    match kind {
        ValueKind::Word | ValueKind::Rest | ValueKind::Words => Ok(value),
        ValueKind::Number => {
            if value.parse::<u32>().is_ok() {
                Ok(value)
            } else {
                Err(bad("a whole number"))
            }
        }
        // `42`, `#42`, or qualified by its instance: `prod:42`.
        ValueKind::TaskId => match value.rsplit_once(':') {
            None => match value.parse::<chatrixcd_ports::TaskId>() {
                Ok(id) => Ok(id.to_string()),
                Err(_) => Err(bad("a task number such as 42")),
            },
            Some((instance, number)) => match number.parse::<chatrixcd_ports::TaskId>() {
                Ok(id) if !instance.is_empty() && !instance.contains(':') => Ok(format!("{instance}:{id}")),
                _ => Err(bad("a task number such as 42, or instance:42")),
            },
        },
    }
}

/// Quotes a word so that [`split_words`] gives it back unchanged.
pub fn quote_word(word: &str) -> String {
    if !word.is_empty() && !word.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\')) {
        return word.to_owned();
    }
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('"');
    for c in word.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Splits a command line into words like a shell: quotes group words, backslash escapes. On
/// unbalanced quotes it falls back to plain whitespace splitting, as ChatrixCD does, so a stray
/// apostrophe ("don't") never makes a command unusable.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n) => current.push(n),
                None => current.push('\\'),
            },
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    current.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return line.split_whitespace().map(str::to_owned).collect();
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_handles_quotes_escapes_and_unbalanced_input() {
        let cases: &[(&str, &[&str])] = &[
            ("run 1 2", &["run", "1", "2"]),
            ("  run   1  ", &["run", "1"]),
            (r#"run 1 2 --args="--check -v""#, &["run", "1", "2", "--args=--check -v"]),
            ("say 'hello world'", &["say", "hello world"]),
            (r#"a "b \"c\"""#, &["a", r#"b "c""#]),
            ("don't stop", &["don't", "stop"]),
            ("''", &[""]),
            ("", &[]),
        ];
        for (line, expected) in cases {
            assert_eq!(split_words(line), *expected, "line: {line:?}");
        }
    }

    #[test]
    fn quoted_words_split_back_unchanged() {
        for word in ["plain", "two words", "--args=--a b", r#"say "hi""#, r"back\slash", "", "it's"] {
            assert_eq!(split_words(&quote_word(word)), vec![word.to_owned()], "{word:?}");
        }
    }

    /// What `suggest` computed before it learnt to rule candidates out cheaply.
    fn suggest_by_every_distance<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
        let word = word.to_lowercase();
        candidates
            .iter()
            .map(|c| (strsim::damerau_levenshtein(&word, &c.to_lowercase()), *c))
            .filter(|(d, c)| *d <= (c.len() / 3).max(1) + usize::from(word.len() > 4))
            .min_by_key(|(d, _)| *d)
            .map(|(_, c)| c)
    }

    proptest::proptest! {
        #[test]
        fn suggest_ruling_out_changes_no_answer(
            word in "[a-eA-E/_İΣσς]{0,12}",
            candidates in proptest::collection::vec("[a-eA-E/_İΣσς]{0,14}", 0..12),
        ) {
            let candidates: Vec<&str> = candidates.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(suggest(&word, candidates.iter().copied()), suggest_by_every_distance(&word, &candidates));
        }
    }

    #[test]
    fn suggest_keeps_the_first_of_equally_near_names() {
        assert_eq!(suggest("ab", ["ax", "ay", "ab", "ab"]), Some("ab"));
        assert_eq!(suggest("ab", ["ax", "ay"]), Some("ax"));
        assert_eq!(suggest("europe/berln", chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())), Some("Europe/Berlin"));
    }

    #[test]
    fn suggest_finds_close_names_only() {
        let names = ["projects", "templates", "status", "stop", "run"];
        assert_eq!(suggest("projcts", names), Some("projects"));
        assert_eq!(suggest("stauts", names), Some("status"));
        assert_eq!(suggest("rn", names), Some("run"));
        assert_eq!(suggest("zzzzzz", names), None);
    }
}
