//! A hook's `run`: the template it may start, as whom, with which variables taken from the
//! delivery, and on what condition (`when`, a minijinja expression over `body`, `hook` and
//! `event`, e.g. `event == "push" and body.ref == "refs/heads/main"`). The target is fixed in
//! config; only variable values come from the body, and they stay values.

use chatrixcd_ports::{HookRun, UserId};
use minijinja::Environment;
use serde_json::Value;

use crate::render::environment;

/// The longest variable value taken from a delivery, in bytes.
const MAX_VALUE: usize = 1_000;

/// A hook's `run`, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Who the hook acts as; its grants decide what it may run.
    pub principal: UserId,
    /// `instance:project:template`, as `run` takes it.
    pub target: String,
    /// `name -> template of the value`.
    pub vars: Vec<(String, String)>,
    /// Run only when this expression is true; `None`: every delivery.
    pub when: Option<String>,
}

/// A hook's run, its templates compiled.
#[derive(Debug)]
pub struct RunTemplates {
    env: Environment<'static>,
    config: RunConfig,
}

impl RunTemplates {
    /// Compiles the condition and each value; an error names which.
    pub fn new(config: RunConfig) -> Result<Self, String> {
        let mut env = environment();
        if let Some(when) = &config.when {
            env.compile_expression(when).map_err(|e| format!("run.when: {e}"))?;
        }
        for (name, value) in &config.vars {
            env.add_template_owned(format!("var:{name}"), value.clone())
                .map_err(|e| format!("run.vars.{name}: {e}"))?;
        }
        Ok(Self { env, config })
    }

    /// The run a delivery asks for: `None` when the condition is not met or cannot be read.
    pub fn run_for(&self, hook: &str, event: Option<&str>, body: &Value) -> Option<HookRun> {
        let context = minijinja::context! { body => minijinja::value::Serde(body), hook => hook, event => event };
        if let Some(when) = &self.config.when {
            let met = self.env.compile_expression(when).and_then(|e| e.eval(&context)).map(|v| v.is_true());
            match met {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    tracing::warn!(%hook, error = %e, "a hook's run condition failed; no run");
                    return None;
                }
            }
        }
        let mut vars = Vec::new();
        for (name, _) in &self.config.vars {
            let rendered = self.env.get_template(&format!("var:{name}")).and_then(|t| t.render(&context));
            match rendered {
                Ok(value) => vars.push((name.clone(), cut(value.trim()))),
                Err(e) => {
                    tracing::warn!(%hook, var = %name, error = %e, "a hook's run variable failed; no run");
                    return None;
                }
            }
        }
        Some(HookRun { principal: self.config.principal.clone(), target: self.config.target.clone(), vars })
    }
}

fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_VALUE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn templates(when: Option<&str>) -> RunTemplates {
        RunTemplates::new(RunConfig {
            principal: UserId::parse("@hook-ci:webhooks.invalid").unwrap(),
            target: "staging:ops:deploy-web".into(),
            vars: vec![("ref".into(), "{{ body.ref }}".into())],
            when: when.map(str::to_owned),
        })
        .unwrap()
    }

    #[test]
    fn a_run_is_asked_for_only_when_its_condition_holds_and_values_stay_values() {
        let t = templates(Some(r#"event == "push" and body.ref == "refs/heads/main""#));
        let main = json!({"ref": "refs/heads/main"});
        let run = t.run_for("ci", Some("push"), &main).unwrap();
        assert_eq!(run.target, "staging:ops:deploy-web");
        assert_eq!(run.vars, [("ref".to_owned(), "refs/heads/main".to_owned())]);
        assert!(t.run_for("ci", Some("push"), &json!({"ref": "refs/heads/dev"})).is_none());
        assert!(t.run_for("ci", Some("release"), &main).is_none());
        assert!(t.run_for("ci", None, &json!({})).is_none(), "missing fields are false, not errors");
        let sneaky = templates(None).run_for("ci", None, &json!({"ref": "x --yes --var a=b"})).unwrap();
        assert_eq!(sneaky.vars[0].1, "x --yes --var a=b", "one value, whatever it says");
        let long = templates(None).run_for("ci", None, &json!({"ref": "é".repeat(2000)})).unwrap();
        assert!(long.vars[0].1.len() <= MAX_VALUE);
    }

    #[test]
    fn broken_templates_are_named() {
        let bad = |when: Option<&str>, value: &str| {
            RunTemplates::new(RunConfig {
                principal: UserId::parse("@h:x.invalid").unwrap(),
                target: "t".into(),
                vars: vec![("v".into(), value.into())],
                when: when.map(str::to_owned),
            })
            .unwrap_err()
        };
        assert!(bad(Some("event ==="), "ok").starts_with("run.when:"));
        assert!(bad(None, "{{ unclosed").starts_with("run.vars.v:"));
        // A `}}` inside the condition closed the expression's only lexer state, and the next
        // token panicked in minijinja 2 ("empty lexer stack": a config.json stopped the bot at
        // start; found by the config fuzz targets). minijinja 3 says what is wrong.
        for when in ["event}}x", "a }} == 'b'", "}}}}}}.ref == 'refs/heads/main'"] {
            assert!(bad(Some(when), "ok").starts_with("run.when:"), "{when:?}");
        }
    }
}
