//! A template's survey, as Semaphore sends it, and the values people give for it (by `--var`,
//! a preset, or an answer in a dialog). Any template and any value: the value a task receives
//! or a reason, never a panic. A whole number is sent as its digits, a choice only as one of
//! the choices' values, text as typed; a value taken by `--var` is taken as an answer too; and
//! a secret's value never appears in a reason.
//!
//! Input: the template's JSON on the first line, then the values, one a line.
#![no_main]

use chatrixcd_domain::fuzzing::survey_check;
use chatrixcd_ports::ProjectId;
use chatrixcd_ports::semaphore::SurveyVarType;
use chatrixcd_semaphore::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (template, values) = input.split_once('\n').unwrap_or((&input, ""));
    let Ok(templates) = decode::templates(&format!("[{template}]"), ProjectId::new(1)) else { return };
    for var in templates.iter().flat_map(|t| &t.survey_vars).take(16) {
        for text in values.split('\n').take(16) {
            let flag = survey_check(var, text, false);
            let answer = survey_check(var, text, true);
            for result in [&flag, &answer] {
                match (result, &var.var_type) {
                    (Ok(value), SurveyVarType::Int) => {
                        assert!(value.parse::<i64>().is_ok(), "{value:?} sent as a whole number");
                        assert_eq!(value, text.trim());
                    }
                    (Ok(value), SurveyVarType::Enum) => {
                        assert!(var.values.iter().any(|c| &c.value == value), "{value:?} is no choice of {var:?}");
                    }
                    (Ok(value), _) => assert_eq!(value, text),
                    (Err(reason), SurveyVarType::Secret) => panic!("a secret refused: {reason}"),
                    (Err(_), _) => {}
                }
            }
            if flag.is_ok() {
                assert!(answer.is_ok(), "{text:?} taken by --var, not as an answer: {answer:?}");
            }
        }
    }
});
