//! A template's survey variables: checking a value given for one (by `--var`, a preset or an
//! answer in a dialog) and describing one to people. One set of rules for every way in.

use chatrixcd_ports::semaphore::{App, SurveyVar, SurveyVarType, Template};

/// How a value was given: `--var` takes an enum choice by name or value; an answer in a dialog
/// may also pick it by its number in the list shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Given {
    Flag,
    Answer,
}

/// The value a task receives for `text` given for `var`, or why it cannot be. A secret's value
/// is never part of the reason.
pub(crate) fn check(var: &SurveyVar, text: &str, given: Given) -> Result<String, String> {
    let name = &var.name;
    match var.var_type {
        SurveyVarType::Int => {
            let trimmed = text.trim();
            match trimmed.parse::<i64>() {
                Ok(_) => Ok(trimmed.to_owned()),
                Err(_) => Err(format!("`{name}` must be a whole number, not `{text}`.")),
            }
        }
        SurveyVarType::Enum => {
            let trimmed = text.trim();
            let by_number = match given {
                Given::Answer => {
                    trimmed.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| var.values.get(i))
                }
                Given::Flag => None,
            };
            by_number
                .or_else(|| {
                    var.values
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(trimmed) || c.value.eq_ignore_ascii_case(trimmed))
                })
                .map(|c| c.value.clone())
                .ok_or_else(|| {
                    let choices: Vec<&str> = var.values.iter().map(|c| c.name.as_str()).collect();
                    let how = if given == Given::Answer { " (or its number)" } else { "" };
                    format!("`{name}` must be one of: {}{how}, not `{text}`.", choices.join(", "))
                })
        }
        SurveyVarType::Secret => Ok(text.to_owned()),
        SurveyVarType::String | SurveyVarType::Text => Ok(text.to_owned()),
    }
}

/// The type, as people say it.
pub(crate) fn kind(var: &SurveyVar) -> &'static str {
    match var.var_type {
        SurveyVarType::String => "text",
        SurveyVarType::Text => "long text",
        SurveyVarType::Int => "whole number",
        SurveyVarType::Enum => "choice",
        SurveyVarType::Secret => "secret",
    }
}

/// Its title, else its name.
pub(crate) fn title(var: &SurveyVar) -> &str {
    if var.title.trim().is_empty() { &var.name } else { &var.title }
}

/// Whether Semaphore hands a secret variable's value to this template's tool. 2.10 passes
/// secrets to Ansible only (as extra vars): a shell, Terraform or Python template never sees
/// them, so people are told before a run, not after.
pub(crate) fn receives_secrets(template: &Template) -> bool {
    template.app == App::Ansible
}

/// The warning for a template with secret variables that its tool will not receive; `None`
/// when there is nothing to warn of.
pub(crate) fn secrets_warning(template: &Template, secret_names: &[&str]) -> Option<String> {
    if secret_names.is_empty() || receives_secrets(template) {
        return None;
    }
    let names: Vec<String> = secret_names.iter().map(|n| format!("`{n}`")).collect();
    Some(format!(
        "⚠️ {} runs {}: Semaphore 2.10 passes secret variables to Ansible templates only, so {} will not reach it.",
        template.name,
        template.app.as_str(),
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::semaphore::SurveyEnumValue;

    use super::*;

    fn var(kind: SurveyVarType) -> SurveyVar {
        SurveyVar {
            name: "env".into(),
            var_type: kind,
            values: vec![
                SurveyEnumValue { name: "Production".into(), value: "prod".into() },
                SurveyEnumValue { name: "Staging".into(), value: "stage".into() },
            ],
            ..SurveyVar::default()
        }
    }

    #[test]
    fn values_are_checked_by_type_and_choices_by_name_value_or_number() {
        let table: &[(SurveyVarType, &str, Given, Result<&str, &str>)] = &[
            (SurveyVarType::Int, " 42 ", Given::Flag, Ok("42")),
            (SurveyVarType::Int, "-7", Given::Answer, Ok("-7")),
            (SurveyVarType::Int, "4.2", Given::Answer, Err("`env` must be a whole number, not `4.2`.")),
            (SurveyVarType::Int, "many", Given::Flag, Err("`env` must be a whole number, not `many`.")),
            (SurveyVarType::Enum, "staging", Given::Flag, Ok("stage")),
            (SurveyVarType::Enum, "PROD", Given::Flag, Ok("prod")),
            (SurveyVarType::Enum, "2", Given::Answer, Ok("stage")),
            (SurveyVarType::Enum, "2", Given::Flag, Err("`env` must be one of: Production, Staging, not `2`.")),
            (
                SurveyVarType::Enum,
                "3",
                Given::Answer,
                Err("`env` must be one of: Production, Staging (or its number), not `3`."),
            ),
            (
                SurveyVarType::Enum,
                "0",
                Given::Answer,
                Err("`env` must be one of: Production, Staging (or its number), not `0`."),
            ),
            (SurveyVarType::String, " spaced ", Given::Flag, Ok(" spaced ")),
            (SurveyVarType::Secret, "hunter2", Given::Answer, Ok("hunter2")),
        ];
        for (kind, text, given, want) in table {
            let got = check(&var(kind.clone()), text, *given);
            assert_eq!(got.as_deref().map_err(String::as_str), *want, "{kind:?} {text:?} {given:?}");
        }
    }
}
