//! The bot's personality: cheerful, a little sassy, never rude. Compatible with ChatrixCD's
//! `messages.json`: an HJSON object of categories, each a list of phrases; a file's categories
//! replace the built-in ones, missing categories keep them.
//!
//! Placeholders (`{name}`, `{task_name}`) are substituted safely: values are inserted verbatim in
//! plain text and escaped in HTML, and stray or unknown braces stay as they are. ChatrixCD used
//! Python's `str.format`, where one stray brace in a custom message broke the whole phrase.
//! `**bold**` in a phrase (not in a value) becomes `<strong>` in HTML.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::render::html::escape;

/// A kind of phrase, named as in `messages.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Opens replies; `{name}` is the person addressed.
    Greetings,
    /// For people who may not use the bot; `{name}`.
    BrushOff,
    /// A request was cancelled.
    Cancel,
    /// A request expired unanswered.
    Timeout,
    /// A task is starting; `{task_name}`.
    TaskStart,
    /// Semaphore answered a ping.
    PingSuccess,
    /// Someone was nice to the bot.
    Pet,
    /// Someone told the bot off.
    Scold,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Self::Greetings,
        Self::BrushOff,
        Self::Cancel,
        Self::Timeout,
        Self::TaskStart,
        Self::PingSuccess,
        Self::Pet,
        Self::Scold,
    ];

    /// The key in `messages.json`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Greetings => "greetings",
            Self::BrushOff => "brush_off",
            Self::Cancel => "cancel",
            Self::Timeout => "timeout",
            Self::TaskStart => "task_start",
            Self::PingSuccess => "ping_success",
            Self::Pet => "pet",
            Self::Scold => "scold",
        }
    }

    /// The category for a `messages.json` key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == key)
    }

    /// The built-in phrases.
    pub fn defaults(self) -> &'static [&'static str] {
        match self {
            Self::Greetings => &[
                "Hey {name}! 👋",
                "Hi {name}! ✨",
                "Hello there, {name}! 🙌",
                "Ahoy, {name}! ⚓",
                "Good to see you, {name}! 😊",
                "Howdy, {name}! 🤠",
                "At your service, {name}! 🫡",
                "Greetings, {name}! 🖖",
                "Oh hi, {name}! 👀",
                "Yo, {name}! 🚀",
                "{name}, my favourite human! 💜",
                "Reporting for duty, {name}! 📋",
                "Hey hey, {name}! 🎈",
                "Welcome back, {name}! 🌟",
                "Ready when you are, {name}! ⚡",
                "{name}! Let's ship something. 📦",
                "Hiya, {name}! 🌻",
                "Well hello, {name}! 🎩",
                "Top of the day, {name}! ☕",
                "What's cooking, {name}? 🍳",
            ],
            Self::BrushOff => &[
                "Nice try, {name}, but I only take orders from my admins. 🚫",
                "Sorry {name}, you're not on my list. Ask an admin to add you! 📝",
                "Hmm, {name}, I don't think we've been introduced. 🤔 Admins only!",
                "Access denied, {name}. It's not you, it's my configuration. 🔒",
                "I'd love to help, {name}, but my admins would be cross. 🙅",
                "{name}, that's above your pay grade. Ask an admin! 💼",
                "Ah ah ah, {name}, you didn't say the magic word (or get added as an admin). 🪄",
                "My lips are sealed, {name}. Admins only. 🤐",
            ],
            Self::Cancel => &[
                "No worries, cancelled! 👍",
                "Alright, standing down. 🛑",
                "Cancelled. Nothing happened, promise. 🤞",
                "Okay, forget I asked! 🙃",
                "Request withdrawn. Crisis averted? 😅",
                "Fine by me, it's cancelled. ✋",
            ],
            Self::Timeout => &[
                "Tick tock... nobody answered. ⏰",
                "I waited, and waited... 🕰️",
                "Guess that's a no, then. 🤷",
                "Too slow! I've let it go. 🐢",
                "No answer, no action. ⌛",
                "The moment has passed. 🍂",
                "I'll take the silence as a no. 🤐",
                "Time's up! ⏳",
            ],
            Self::TaskStart => &[
                "Off we go with **{task_name}**! 🚀",
                "Launching **{task_name}**! 🛫",
                "**{task_name}** is on its way! 🏃",
                "Fingers crossed for **{task_name}**! 🤞",
                "Here goes **{task_name}**! 🎬",
                "Rolling out **{task_name}**! 🎲",
                "**{task_name}**, engage! 🖖",
                "Kicking off **{task_name}**! ⚽",
            ],
            Self::PingSuccess => &[
                "Pong! 🏓",
                "Semaphore says hi back! 👋",
                "Alive and kicking! 💪",
                "Loud and clear! 📡",
                "All systems go! 🟢",
                "Right here, never left! 😎",
            ],
            Self::Pet => &[
                "Aww, thank you! 🥰",
                "*happy beeping* 🤖💕",
                "You're the best! 🌈",
                "Purr... wait, I'm a bot. Still nice! 😸",
                "That made my uptime! ☀️",
                "Best. Human. Ever. 🏆",
                "I'll remember this when the robots take over. 😇",
                "*wags antenna* 📡",
                "Teamwork makes the dream work! 🤝",
                "Careful, I might start to like you. 💖",
            ],
            Self::Scold => &[
                "Oh no! 😢 I'll do better.",
                "Ouch. Noted. 📝",
                "Sorry! My bad. 🙇",
                "I blame the YAML. 😤",
                "Was it something I deployed? 🥺",
                "I'll go sit in the corner. 🧱",
                "Fair. I'll reflect on my choices. 🪞",
                "Harsh, but I probably deserved it. 😔",
                "Filing that under 'constructive feedback'. 🗂️",
                "Hey, I'm doing my best here! 😅",
            ],
        }
    }
}

/// Why a messages file could not be used at all. Smaller problems (an unknown category, a value
/// that is not a list) do not fail the file; they are listed by [`Personality::warnings`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalityError {
    #[error("messages file is not valid HJSON: {0}")]
    Syntax(String),
    #[error("messages file must be an object of categories (greetings, brush_off, ...), not {0}")]
    NotAnObject(&'static str),
}

/// A phrase ready to post, as plain text and as Matrix HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub plain: String,
    pub html: String,
}

/// The phrases of every category and a pseudo-random choice among them.
#[derive(Debug)]
pub struct Personality {
    phrases: BTreeMap<Category, Vec<String>>,
    warnings: Vec<String>,
    /// splitmix64 state; atomic so `pick` works through `&self` and the bot stays `Sync`.
    state: AtomicU64,
}

impl Default for Personality {
    fn default() -> Self {
        Self::with_seed(0x9e37_79b9_7f4a_7c15)
    }
}

impl Clone for Personality {
    fn clone(&self) -> Self {
        Self {
            phrases: self.phrases.clone(),
            warnings: self.warnings.clone(),
            state: AtomicU64::new(self.state.load(Ordering::Relaxed)),
        }
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The parser's error in words, with its place in the file.
fn syntax_error(error: &deser_hjson::Error) -> PersonalityError {
    use deser_hjson::ErrorCode as Code;
    let deser_hjson::Error::Syntax { line, col, code, at } = error else {
        return PersonalityError::Syntax(error.to_string());
    };
    let problem = match code {
        Code::Eof => "the file ends too early (an unclosed `{`, `[` or quote?)",
        Code::ExpectedArrayComma | Code::ExpectedArrayEnd => "expected `,` or `]` in a list",
        Code::ExpectedMapColon => "expected `:` after a category name",
        Code::ExpectedMapComma | Code::ExpectedMapEnd => "expected `,` or `}` after a category",
        Code::InvalidEscapeSequence => "invalid escape sequence in a string",
        Code::TrailingCharacters => "unexpected text after the end of the object",
        Code::UnexpectedChar => "unexpected character",
        _ => "unexpected content",
    };
    let near: String = at.lines().next().unwrap_or_default().chars().take(20).collect();
    if near.trim().is_empty() {
        PersonalityError::Syntax(format!("line {line}, column {col}: {problem}"))
    } else {
        PersonalityError::Syntax(format!("line {line}, column {col}: {problem}, near `{}`", near.trim()))
    }
}

impl Personality {
    /// The built-in phrases, picked in an order fixed by `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let phrases =
            Category::ALL.into_iter().map(|c| (c, c.defaults().iter().map(|s| (*s).to_owned()).collect())).collect();
        Self { phrases, warnings: Vec::new(), state: AtomicU64::new(seed) }
    }

    /// The same phrases with a new seed.
    pub fn reseeded(self, seed: u64) -> Self {
        Self { state: AtomicU64::new(seed), ..self }
    }

    /// Reads a ChatrixCD `messages.json` (HJSON). Unknown keys and unusable values are skipped
    /// with a warning (see [`Personality::warnings`]); categories the file does not set keep the
    /// built-in phrases.
    pub fn from_hjson(text: &str) -> Result<Self, PersonalityError> {
        // Read as an object first: that is what lets the root braces be left out, as HJSON
        // allows. Only when that fails is the file read as any value, to say what it is instead.
        let map = match crate::hjson::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
            Ok(map) => map,
            Err(error) => match crate::hjson::from_str::<serde_json::Value>(text) {
                Ok(value) if !value.is_object() => return Err(PersonalityError::NotAnObject(kind(&value))),
                _ => return Err(syntax_error(&error)),
            },
        };
        let mut personality = Self::default();
        if map.is_empty() {
            personality.warnings.push("the messages file sets no category; built-in phrases kept".to_owned());
        }
        for (key, value) in map {
            let Some(category) = Category::from_key(&key) else {
                personality.warnings.push(format!("unknown category `{key}` ignored"));
                continue;
            };
            let serde_json::Value::Array(items) = value else {
                personality
                    .warnings
                    .push(format!("`{key}` is {}, not a list of strings; built-in phrases kept", kind(&value)));
                continue;
            };
            let mut phrases = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                match item {
                    serde_json::Value::String(phrase) => phrases.push(phrase),
                    other => personality.warnings.push(format!(
                        "`{key}` entry {} is {}, not a string; skipped",
                        index + 1,
                        kind(&other)
                    )),
                }
            }
            if phrases.is_empty() {
                personality.warnings.push(format!("`{key}` has no phrases; built-in phrases kept"));
                continue;
            }
            personality.phrases.insert(category, phrases);
        }
        Ok(personality)
    }

    /// What was skipped while reading a messages file.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The phrases of a category, as templates.
    pub fn phrases(&self, category: Category) -> &[String] {
        self.phrases.get(&category).map_or(&[], Vec::as_slice)
    }

    /// splitmix64: small, fast, good enough to vary phrases; deterministic for tests.
    fn next(&self) -> u64 {
        const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut z = self.state.fetch_add(GAMMA, Ordering::Relaxed).wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A pseudo-random phrase of `category` with `vars` (`("name", "Ann")`) substituted.
    pub fn pick(&self, category: Category, vars: &[(&str, &str)]) -> Phrase {
        let phrases = self.phrases(category);
        let Some(len) = u64::try_from(phrases.len()).ok().filter(|&l| l > 0) else {
            // Unreachable through the constructors (every category keeps at least its defaults).
            return Phrase { plain: String::new(), html: String::new() };
        };
        // The remainder is below `len`, which came from a usize.
        let index = usize::try_from(self.next() % len).unwrap_or_default();
        render(&phrases[index], vars)
    }
}

/// A piece of a phrase after substitution.
enum Piece<'a> {
    /// Text of the template: may carry `**` markup, is escaped for HTML.
    Template(&'a str),
    /// A substituted value: taken literally, escaped for HTML.
    Value(&'a str),
    /// A `**` of the template.
    Bold,
}

/// Substitutes `{key}` variables and turns complete `**…**` pairs of the template into bold.
/// Anything else with braces or stars stays literal.
fn render(template: &str, vars: &[(&str, &str)]) -> Phrase {
    let mut pieces = Vec::new();
    // `literal_start` is where template text not yet split into pieces begins; `scan` is where
    // the search for the next placeholder resumes (past a brace that opened none).
    let mut literal_start = 0;
    let mut scan = 0;
    while let Some(open) = template[scan..].find('{').map(|i| scan + i) {
        let after = &template[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| vars.iter().find(|(k, _)| *k == &after[..close]).map(|(_, v)| (close, *v)));
        match value {
            Some((close, value)) => {
                split_bold(&template[literal_start..open], &mut pieces);
                pieces.push(Piece::Value(value));
                literal_start = open + 1 + close + 1;
                scan = literal_start;
            }
            None => scan = open + 1,
        }
    }
    split_bold(&template[literal_start..], &mut pieces);

    let markers = pieces.iter().filter(|p| matches!(p, Piece::Bold)).count();
    let paired = markers - markers % 2;
    let mut plain = String::with_capacity(template.len() + 16);
    let mut html = String::with_capacity(template.len() + 32);
    let mut seen = 0;
    for piece in &pieces {
        match piece {
            Piece::Template(text) | Piece::Value(text) => {
                plain.push_str(text);
                html.push_str(&escape(text));
            }
            Piece::Bold if seen < paired => {
                html.push_str(if seen % 2 == 0 { "<strong>" } else { "</strong>" });
                seen += 1;
            }
            Piece::Bold => {
                plain.push_str("**");
                html.push_str("**");
            }
        }
    }
    Phrase { plain, html }
}

/// Template text, split at its `**` markers.
fn split_bold<'a>(text: &'a str, pieces: &mut Vec<Piece<'a>>) {
    for (i, part) in text.split("**").enumerate() {
        if i > 0 {
            pieces.push(Piece::Bold);
        }
        if !part.is_empty() {
            pieces.push(Piece::Template(part));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Found by the `personality` fuzz target: the HJSON reader panicked on it.
    #[test]
    fn a_file_the_reader_trips_over_is_a_syntax_error() {
        assert!(matches!(Personality::from_hjson("\u{FFFD}\n\u{FFFD}"), Err(PersonalityError::Syntax(_))));
    }

    #[test]
    fn every_category_has_defaults_and_a_key() {
        let p = Personality::default();
        let counts: Vec<usize> = Category::ALL.iter().map(|c| c.defaults().len()).collect();
        assert_eq!(counts, [20, 8, 6, 8, 8, 6, 10, 10], "roughly ChatrixCD's counts");
        for c in Category::ALL {
            assert!(!p.pick(c, &[("name", "x"), ("task_name", "y")]).plain.is_empty(), "{c:?}");
            assert_eq!(Category::from_key(c.key()), Some(c));
            assert_eq!(serde_json::to_value(c).ok(), Some(serde_json::Value::String(c.key().to_owned())));
            for phrase in c.defaults() {
                let rendered = render(phrase, &[("name", "x"), ("task_name", "y")]);
                assert!(!rendered.plain.contains('{'), "unsubstituted placeholder in {phrase:?}");
            }
        }
    }

    #[test]
    fn a_file_replaces_its_categories_and_keeps_the_rest() {
        let p = Personality::from_hjson(
            "{\n  // comments are fine\n  greetings: [\"Moin {name}\"]\n  pet: []\n  bogus: [\"x\"]\n  scold: 3\n  \
             cancel: [\"Nope\", 7, \"Nah\"]\n}",
        )
        .unwrap();
        assert_eq!(p.pick(Category::Greetings, &[("name", "Ann")]).plain, "Moin Ann");
        assert_eq!(p.phrases(Category::Pet).len(), Category::Pet.defaults().len());
        assert!(Category::Pet.defaults().contains(&p.pick(Category::Pet, &[]).plain.as_str()));
        assert_eq!(p.phrases(Category::Scold).len(), Category::Scold.defaults().len());
        assert_eq!(p.phrases(Category::Cancel), ["Nope", "Nah"]);
        assert_eq!(p.phrases(Category::Timeout).len(), Category::Timeout.defaults().len());
        let warnings = p.warnings().join("\n");
        for expected in ["`pet` has no phrases", "unknown category `bogus`", "`scold` is a number", "`cancel` entry 2"]
        {
            assert!(warnings.contains(expected), "{expected:?} missing from {warnings}");
        }
        assert_eq!(p.warnings().len(), 4);
    }

    #[test]
    fn the_root_braces_may_be_left_out() {
        let p = Personality::from_hjson("# a comment\ngreetings: [\"Moin {name}\"]\npet: [\"Purr\"]\n").unwrap();
        assert_eq!(p.pick(Category::Greetings, &[("name", "Ann")]).plain, "Moin Ann");
        assert_eq!(p.pick(Category::Pet, &[]).plain, "Purr");
        assert_eq!(Personality::from_hjson("just some words").unwrap_err(), PersonalityError::NotAnObject("a string"));
        let empty = Personality::from_hjson("  // nothing yet\n").unwrap();
        assert_eq!(empty.phrases(Category::Greetings).len(), Category::Greetings.defaults().len());
        assert_eq!(empty.warnings().len(), 1);
    }

    #[test]
    fn a_plain_json_file_works_too() {
        let p = Personality::from_hjson(r#"{"task_start": ["Go {task_name}"], "ping_success": ["Pong"]}"#).unwrap();
        assert_eq!(p.pick(Category::TaskStart, &[("task_name", "deploy")]).plain, "Go deploy");
        assert_eq!(p.pick(Category::PingSuccess, &[]).plain, "Pong");
        assert!(p.warnings().is_empty());
    }

    #[test]
    fn bad_files_name_the_problem() {
        let error = |text: &str| match Personality::from_hjson(text) {
            Err(PersonalityError::Syntax(message)) => message,
            other => panic!("{text:?} should be a syntax error, not {other:?}"),
        };
        assert_eq!(
            error("{ greetings: [ "),
            "line 1, column 16: the file ends too early (an unclosed `{`, `[` or quote?)"
        );
        assert_eq!(error("{\n  pet: [\"a\",, ]\n}"), "line 2, column 13: unexpected character, near `, ]`");
        assert_eq!(
            error("{ pet: [\"a\"]"),
            "line 1, column 13: the file ends too early (an unclosed `{`, `[` or quote?)"
        );
        assert!(error("{ pet: [\"a\"] } trailing").contains("after the end of the object, near `trailing`"));
        assert_eq!(Personality::from_hjson("[1]").unwrap_err(), PersonalityError::NotAnObject("a list"));
        assert_eq!(Personality::from_hjson("\"hi\"").unwrap_err(), PersonalityError::NotAnObject("a string"));
        let shown = Personality::from_hjson("[1]").unwrap_err().to_string();
        assert!(shown.contains("object of categories") && shown.contains("a list"), "{shown}");
    }

    #[test]
    fn variables_are_escaped_in_html_and_literal_in_plain() {
        let r = render("Hi {name}!", &[("name", "<script>alert('x')</script>")]);
        assert_eq!(r.plain, "Hi <script>alert('x')</script>!");
        assert_eq!(r.html, "Hi &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;!");
        let r = render("Go **{task_name}**!", &[("task_name", "a&b")]);
        assert_eq!(r.plain, "Go a&b!");
        assert_eq!(r.html, "Go <strong>a&amp;b</strong>!");
        // Markup in a value is the value's text, not formatting.
        let r = render("Go {task_name}!", &[("task_name", "**not bold** {name}")]);
        assert_eq!(r.plain, "Go **not bold** {name}!");
        assert_eq!(r.html, "Go **not bold** {name}!");
        // Markup in the template itself is escaped.
        let r = render("<b>{name}</b> & co", &[("name", "x")]);
        assert_eq!(r.html, "&lt;b&gt;x&lt;/b&gt; &amp; co");
    }

    #[test]
    fn stray_braces_and_stars_are_harmless() {
        let r = render("Hi {name} {unknown} {{ } {", &[("name", "<b>")]);
        assert_eq!(r.plain, "Hi <b> {unknown} {{ } {");
        assert_eq!(r.html, "Hi &lt;b&gt; {unknown} {{ } {");
        let r = render("}} {{name}} {name", &[("name", "Ann")]);
        assert_eq!(r.plain, "}} {Ann} {name");
        let r = render("**a** b **c", &[]);
        assert_eq!(r.plain, "a b **c");
        assert_eq!(r.html, "<strong>a</strong> b **c");
        assert_eq!(render("{}", &[]).plain, "{}");
        assert_eq!(render("", &[("name", "x")]).plain, "");
    }

    #[test]
    fn the_same_seed_gives_the_same_phrases() {
        let a = Personality::with_seed(42);
        let b = Personality::with_seed(42);
        let c = a.clone();
        let picks = |p: &Personality| -> Vec<Phrase> { (0..20).map(|_| p.pick(Category::Greetings, &[])).collect() };
        let first = picks(&a);
        assert_eq!(first, picks(&b));
        assert_eq!(first, picks(&c));
        let distinct: std::collections::BTreeSet<_> = first.iter().map(|p| &p.plain).collect();
        assert!(distinct.len() > 5, "phrases vary: {distinct:?}");
        assert_ne!(first, picks(&Personality::with_seed(43)));
    }

    #[test]
    fn personality_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Personality>();
    }

    proptest! {
        #[test]
        fn picking_never_panics(
            templates in prop::collection::vec("(\\PC|[{}*])*", 1..4),
            key in "\\PC{0,8}",
            value in "(\\PC|[{}*<>&])*",
            seed in any::<u64>(),
        ) {
            let text = format!("{{ greetings: {} }}", serde_json::to_string(&templates).unwrap());
            let p = Personality::from_hjson(&text).unwrap().reseeded(seed);
            let phrase = p.pick(Category::Greetings, &[(key.as_str(), value.as_str()), ("name", value.as_str())]);
            // The HTML only ever carries our own markup.
            let stripped = phrase.html.replace("<strong>", "").replace("</strong>", "");
            prop_assert!(!stripped.contains('<') && !stripped.contains('>'), "{}", phrase.html);
            prop_assert_eq!(phrase.html.matches("<strong>").count(), phrase.html.matches("</strong>").count());
        }

        #[test]
        fn values_come_through_verbatim(value in "\\PC*") {
            let r = render("[{name}]", &[("name", value.as_str())]);
            prop_assert_eq!(r.plain, format!("[{value}]"));
            prop_assert_eq!(r.html, format!("[{}]", escape(&value)));
        }
    }
}
