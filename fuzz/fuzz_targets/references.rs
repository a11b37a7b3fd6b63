//! What people type to name things: qualified references (`prod:1:5`, `staging:ops:deploy-web`,
//! `prod:42`) and grant scopes (`prod:ops:deploy-*`). Any text: no panic, and what reads back
//! prints back to the same.
#![no_main]

use chatrixcd_domain::instances::{ProjectRef, TaskSpec};
use chatrixcd_domain::permissions::{Pattern, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(reference) = ProjectRef::parse(text) {
        assert_eq!(ProjectRef::parse(&reference.to_string()).ok(), Some(reference));
    }
    if let Ok(task) = TaskSpec::parse(text) {
        assert_eq!(TaskSpec::parse(&task.to_string()).ok(), Some(task));
    }
    if let Ok(scope) = Scope::parse(text) {
        assert_eq!(Scope::parse(&scope.to_string()).ok(), Some(scope.clone()));
        // Matching any text against any pattern stays cheap and total.
        let _ = scope.instance.matches(text);
        let _ = Pattern::any().matches(text);
    }
});
