//! What people type to name things: qualified references (`prod:1:5`, `staging:ops:deploy-web`,
//! `prod:42`), grant scopes (`prod:ops:deploy-*`), Matrix user and room ids, instance names and
//! grant expiries (`2026-12-31`, RFC 3339). Any text: no panic, and what reads back prints back
//! to the same.
#![no_main]

use chatrixcd_domain::instances::{ProjectRef, TaskSpec};
use chatrixcd_domain::permissions::{Pattern, Scope, parse_until};
use chatrixcd_ports::{InstanceId, RoomId, UserId};
use chrono::Datelike as _;
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
    if let Ok(user) = UserId::parse(text) {
        assert_eq!(user.as_str(), text);
        assert_eq!(UserId::parse(user.to_string()).ok(), Some(user.clone()));
        let _ = user.localpart();
    }
    if let Ok(room) = RoomId::parse(text) {
        assert_eq!(RoomId::parse(room.to_string()).ok(), Some(room));
    }
    if let Ok(instance) = InstanceId::parse(text) {
        assert_eq!(instance.as_str(), text);
        assert!(instance.as_str().len() <= InstanceId::MAX_LEN);
    }
    // RFC 3339 has four-digit years only.
    if let Some(until) = parse_until(text).filter(|t| (0..=9999).contains(&t.year())) {
        assert_eq!(parse_until(&until.to_rfc3339()), Some(until), "{text:?} until {until}");
    }
});
