//! The bot's personality: cheerful, a little sassy, never rude. Compatible with ChatrixCD's
//! `messages.json`: an HJSON object of categories, each a list of phrases; a file's categories
//! replace the built-in ones, missing categories keep them.
//!
//! Placeholders (`{name}`, `{task_name}`) are substituted safely: escaped in HTML, and stray or
//! unknown braces are left as they are instead of breaking the phrase.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::render::html::escape;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    Pet,
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

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == key)
    }

    fn defaults(self) -> &'static [&'static str] {
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

/// Why a messages file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalityError {
    #[error("messages file is not valid HJSON: {0}")]
    Syntax(String),
    #[error("messages file must be an object of categories (greetings, brush_off, ...), not {0}")]
    NotAnObject(&'static str),
}

/// A phrase ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub plain: String,
    pub html: String,
}

#[derive(Debug)]
pub struct Personality {
    phrases: BTreeMap<Category, Vec<String>>,
    warnings: Vec<String>,
    state: AtomicU64,
}

impl Default for Personality {
    fn default() -> Self {
        Self::with_seed(0x9e37_79b9_7f4a_7c15)
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
    /// with a warning; see [`Personality::warnings`].
    pub fn from_hjson(text: &str) -> Result<Self, PersonalityError> {
        let value: serde_json::Value =
            deser_hjson::from_str(text).map_err(|e| PersonalityError::Syntax(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(PersonalityError::NotAnObject(match value {
                serde_json::Value::Array(_) => "a list",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Null => "null",
                _ => "a scalar",
            }));
        };
        let mut personality = Self::default();
        for (key, value) in map {
            let Some(category) = Category::from_key(&key) else {
                personality.warnings.push(format!("unknown category `{key}` ignored"));
                continue;
            };
            let serde_json::Value::Array(items) = value else {
                personality.warnings.push(format!("`{key}` is not a list of strings; built-in phrases kept"));
                continue;
            };
            let phrases: Vec<String> = items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
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

    /// splitmix64: small, fast, good enough to vary phrases; deterministic for tests.
    fn next(&self) -> u64 {
        let mut z = self.state.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random phrase of `category` with `vars` substituted.
    pub fn pick(&self, category: Category, vars: &[(&str, &str)]) -> Phrase {
        let phrases = self.phrases.get(&category).map(Vec::as_slice).unwrap_or_default();
        let Some(len) = u64::try_from(phrases.len()).ok().filter(|&l| l > 0) else {
            return Phrase { plain: String::new(), html: String::new() };
        };
        // The remainder is below `len`, which came from a usize.
        let index = usize::try_from(self.next() % len).unwrap_or_default();
        render(&phrases[index], vars)
    }
}

/// Substitutes `{key}` variables; `**bold**` becomes `<strong>` in HTML. Anything else with
/// braces stays literal.
fn render(template: &str, vars: &[(&str, &str)]) -> Phrase {
    let mut plain = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        plain.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((key, close)) if vars.iter().any(|(k, _)| *k == key) => {
                let value = vars.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| *v);
                plain.push_str(value);
                rest = &after[close + 1..];
            }
            _ => {
                plain.push('{');
                rest = after;
            }
        }
    }
    plain.push_str(rest);
    let html = bold_markup(&escape(&plain));
    let plain = plain.replace("**", "");
    Phrase { plain, html }
}

/// `**x**` → `<strong>x</strong>`, only for complete pairs.
fn bold_markup(escaped: &str) -> String {
    let parts: Vec<&str> = escaped.split("**").collect();
    if parts.len() < 3 {
        return escaped.to_owned();
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    let pairs = (parts.len() - 1) / 2 * 2;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            if i <= pairs {
                out.push_str(if i % 2 == 1 { "<strong>" } else { "</strong>" });
            } else {
                out.push_str("**");
            }
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_category_has_defaults_and_a_key() {
        let p = Personality::default();
        for c in Category::ALL {
            assert!(!p.pick(c, &[("name", "x"), ("task_name", "y")]).plain.is_empty(), "{c:?}");
            assert_eq!(Category::from_key(c.key()), Some(c));
        }
        assert!(Category::Greetings.defaults().len() >= 20);
    }

    #[test]
    fn a_file_replaces_its_categories_and_keeps_the_rest() {
        let p = Personality::from_hjson(
            "{\n  // comments are fine\n  greetings: [\"Moin {name}\"]\n  pet: []\n  bogus: [\"x\"]\n  scold: 3\n}",
        )
        .unwrap();
        assert_eq!(p.pick(Category::Greetings, &[("name", "Ann")]).plain, "Moin Ann");
        assert!(Category::Pet.defaults().contains(&p.pick(Category::Pet, &[]).plain.as_str()));
        assert_eq!(p.warnings().len(), 3, "{:?}", p.warnings());
    }

    #[test]
    fn bad_files_name_the_problem() {
        assert!(matches!(Personality::from_hjson("{ greetings: [ "), Err(PersonalityError::Syntax(_))));
        assert_eq!(Personality::from_hjson("[1]").unwrap_err(), PersonalityError::NotAnObject("a list"));
    }

    #[test]
    fn variables_are_escaped_and_stray_braces_are_harmless() {
        let r = render("Hi {name} {unknown} {{ } {", &[("name", "<script>")]);
        assert_eq!(r.plain, "Hi <script> {unknown} {{ } {");
        assert_eq!(r.html, "Hi &lt;script&gt; {unknown} {{ } {");
        let r = render("Go **{task_name}**!", &[("task_name", "a&b")]);
        assert_eq!(r.plain, "Go a&b!");
        assert_eq!(r.html, "Go <strong>a&amp;b</strong>!");
    }

    #[test]
    fn the_same_seed_gives_the_same_phrases() {
        let a = Personality::with_seed(42);
        let b = Personality::with_seed(42);
        for _ in 0..10 {
            assert_eq!(a.pick(Category::Pet, &[]), b.pick(Category::Pet, &[]));
        }
    }

    proptest! {
        #[test]
        fn picking_never_panics(template in "\\PC{0,60}", value in "\\PC{0,20}") {
            let r = render(&template, &[("name", &value)]);
            prop_assert!(!r.html.contains('<') || r.html.contains("<strong>"));
        }
    }
}
