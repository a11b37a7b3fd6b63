//! What a generic hook's delivery says in chat: a minijinja template over the JSON body, the
//! hook's own or a default for the sender's common events (push, pull or merge request, release,
//! pipeline). Rendering never fails a delivery: a template error falls back to a plain line.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::verify::Verify;

/// The longest text a delivery posts; the rest is cut with an ellipsis.
const MAX_TEXT: usize = 2_000;

/// Defaults by event, for forges that name it in a header.
const DEFAULTS: &[(&str, &str)] = &[
    (
        "push",
        "📦 {{ (body.pusher.login or body.pusher.username or body.pusher.name or body.user_name) }} pushed \
         {{ (body.commits or []) | length }} commit(s) to {{ body.repository.full_name or body.project.path_with_namespace }} \
         {{ body.ref }}{% for c in (body.commits or [])[:3] %}\n• {{ c.message | firstline }}{% endfor %}",
    ),
    (
        "pull_request",
        "🔀 {{ body.sender.login }} {{ body.action }} pull request #{{ body.number }} “{{ body.pull_request.title }}” \
         in {{ body.repository.full_name }} {{ body.pull_request.html_url }}",
    ),
    (
        "merge_request",
        "🔀 {{ body.user.name }} {{ body.object_attributes.action }} merge request !{{ body.object_attributes.iid }} \
         “{{ body.object_attributes.title }}” in {{ body.project.path_with_namespace }} {{ body.object_attributes.url }}",
    ),
    (
        "release",
        "🏷️ Release {{ body.release.tag_name }} {{ body.action }} in {{ body.repository.full_name }} {{ body.release.html_url }}",
    ),
    (
        "gitlab_release",
        "🏷️ Release {{ body.tag }} {{ body.action }} in {{ body.project.path_with_namespace }} {{ body.url }}",
    ),
    (
        "pipeline",
        "🛠️ Pipeline {{ body.object_attributes.id }} {{ body.object_attributes.status }} for {{ body.object_attributes.ref }} \
         in {{ body.project.path_with_namespace }}",
    ),
];

/// The default template's key for an event header's value (`Push Hook` → `push`).
fn default_key(event: &str) -> Option<&'static str> {
    let event = event.to_ascii_lowercase();
    let key = match event.as_str() {
        "push" | "push hook" => "push",
        "pull_request" => "pull_request",
        "merge request hook" => "merge_request",
        "release" => "release",
        "release hook" => "gitlab_release",
        "pipeline hook" => "pipeline",
        _ => return None,
    };
    Some(key)
}

/// An environment as every hook template sees it: lenient about missing fields, `null` printed
/// as nothing, and the `firstline` filter.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // `body.a.b` on a delivery without `a` is empty, not an error: senders vary.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    // A JSON `null` or a missing header prints as nothing, not as `none`.
    env.set_formatter(|out, state, value| {
        if value.is_none() || value.is_undefined() { Ok(()) } else { minijinja::escape_formatter(out, state, value) }
    });
    // A commit message's subject: its first line, at most 100 characters.
    env.add_filter("firstline", |text: String| -> String {
        let line = text.trim().lines().next().unwrap_or_default();
        match line.char_indices().nth(100) {
            Some((at, _)) => format!("{}…", &line[..at]),
            None => line.to_owned(),
        }
    });
    env
}

/// A hook's templates, compiled once.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    custom: bool,
}

impl Renderer {
    /// `template`: the hook's own; `None`: the defaults. A template that does not compile is an
    /// error naming where.
    pub fn new(template: Option<&str>) -> Result<Self, String> {
        let mut env = environment();
        for (name, text) in DEFAULTS {
            env.add_template_owned((*name).to_owned(), (*text).to_owned()).map_err(|e| e.to_string())?;
        }
        if let Some(text) = template {
            env.add_template_owned("custom".to_owned(), text.to_owned()).map_err(|e| format!("the template: {e}"))?;
        }
        Ok(Self { env, custom: template.is_some() })
    }

    /// The text for one delivery.
    pub fn render(&self, hook: &str, verify: Verify, event: Option<&str>, body: &Value) -> String {
        let name = if self.custom { Some("custom") } else { event.and_then(default_key) };
        let context = minijinja::context! { body => minijinja::value::Serde(body), hook => hook, event => event, verify => format!("{verify:?}") };
        let fallback = || format!("📬 {hook}: {}", event.unwrap_or("a delivery"));
        let text = match name.map(|n| self.env.get_template(n).and_then(|t| t.render(&context))) {
            Some(Ok(text)) if !text.trim().is_empty() => text,
            Some(Err(e)) => {
                tracing::warn!(%hook, error = %e, "a webhook template failed; posting a plain line");
                fallback()
            }
            _ => fallback(),
        };
        cut(text.trim())
    }
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn default_templates_say_what_happened() {
        let r = Renderer::new(None).unwrap();
        let push = json!({"ref": "refs/heads/main", "pusher": {"login": "dana"}, "repository": {"full_name": "ops/site"},
                          "commits": [{"message": "Fix the thing\n\nlong body"}, {"message": "Bump"}]});
        let text = r.render("gitea", Verify::Gitea, Some("push"), &push);
        assert!(text.starts_with("📦 dana pushed 2 commit(s) to ops/site refs/heads/main"), "{text}");
        assert!(text.contains("• Fix the thing") && text.contains("• Bump"), "{text}");
        let gitlab = json!({"user_name": "eve", "project": {"path_with_namespace": "g/p"}, "ref": "refs/heads/x", "commits": []});
        let text = r.render("gl", Verify::GitlabToken, Some("Push Hook"), &gitlab);
        assert!(text.starts_with("📦 eve pushed 0 commit(s) to g/p refs/heads/x"), "{text}");
        assert_eq!(r.render("ci", Verify::HmacSha256, Some("deploy"), &json!({})), "📬 ci: deploy");
        assert_eq!(r.render("ci", Verify::HmacSha256, None, &json!({})), "📬 ci: a delivery");
        let release =
            json!({"tag": "v1.2", "action": "create", "project": {"path_with_namespace": "g/p"}, "url": "https://g/r"});
        let text = r.render("gl", Verify::GitlabToken, Some("Release Hook"), &release);
        assert_eq!(text, "🏷️ Release v1.2 create in g/p https://g/r");
    }

    #[test]
    fn a_custom_template_renders_and_a_broken_one_is_refused_or_falls_back() {
        let r = Renderer::new(Some("{{ body.who }} deployed {{ body.what.version }}")).unwrap();
        assert_eq!(
            r.render("x", Verify::Bearer, None, &json!({"who": "ci", "what": {"version": "1.2"}})),
            "ci deployed 1.2"
        );
        assert_eq!(r.render("x", Verify::Bearer, None, &json!({})), "deployed", "missing fields are empty");
        let event = Renderer::new(Some("[{{ event }}] {{ body.who }}")).unwrap();
        assert_eq!(event.render("x", Verify::Bearer, None, &json!({"who": null})), "[]", "null and no event are empty");
        assert!(Renderer::new(Some("{{ unclosed")).is_err());
        let failing = Renderer::new(Some("{{ body.n + 'text' }}")).unwrap();
        assert_eq!(failing.render("x", Verify::Bearer, None, &json!({"n": 1})), "📬 x: a delivery");
        let long = Renderer::new(Some("{{ body.s }}")).unwrap();
        let text = long.render("x", Verify::Bearer, None, &json!({"s": "é".repeat(3000)}));
        assert!(text.ends_with('…') && text.len() <= MAX_TEXT + 3, "{}", text.len());
    }
}
