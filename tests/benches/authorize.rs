#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark reports on stdout and may fail loudly

//! `Policy::authorize` with 1,000 grants over 200 users (five each: roles, scopes, rooms,
//! expiries, time windows, second-person grants), asked 200,000 times for a mix of users, actions and targets. Target: p99 ≤ 1 µs.
//!
//! `cargo bench -p chatrixcd-tests --bench authorize`; results in docs/performance.md.

use std::time::{Duration, Instant};

use chatrixcd_domain::permissions::{Grant, Permission, Policy, Role, Scope, Target};
use chatrixcd_domain::windows::Window;
use chatrixcd_ports::{InstanceId, RoomId, UserId};
use chrono::DateTime;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let users: Vec<UserId> = (0..200).map(|n| UserId::parse(format!("@user{n}:example.org")).unwrap()).collect();
    let rooms: Vec<RoomId> = (0..10).map(|n| RoomId::parse(format!("!room{n}:example.org")).unwrap()).collect();
    let now = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let roles = ["viewer", "developer", "operator", "developer", "admin"];
    let scopes = [None, Some("staging:*"), Some("production:ops:deploy-*"), Some("staging:web"), None];
    let mut grants = Vec::new();
    for (n, user) in users.iter().enumerate() {
        for k in 0..5 {
            grants.push(Grant {
                user: user.clone(),
                role: roles[(n + k) % 4].to_owned(),
                scope: scopes[k].map(|s| Scope::parse(s).unwrap()),
                room: (k == 3).then(|| rooms[n % 10].clone()),
                until: (k == 2).then(|| now + chrono::Duration::days(1)),
                // Time windows in a zone with daylight saving: the costliest check there is.
                window: (k == 1).then(|| Window::parse("Mon-Fri 08:00-18:00 Europe/Berlin").unwrap()),
                second_person: n % 10 == 0 && k == 4,
                ..Grant::new(user.clone(), roles[(n + k) % 4], None)
            });
        }
    }
    assert_eq!(grants.len(), 1_000);
    let policy = Policy::new(Role::built_in(), grants, vec![InstanceId::parse("production").unwrap()]);
    let instances = [InstanceId::parse("production").unwrap(), InstanceId::parse("staging").unwrap()];
    let projects = ["ops", "web", "infra"];
    let templates = ["deploy-web", "lint", "plan"];
    const N: usize = 200_000;
    let mut times = Vec::with_capacity(N);
    let mut allowed = 0usize;
    for n in 0..N + 10_000 {
        let target = Target {
            instance: Some(instances[n % 2]),
            project_id: Some((n % 3) as u64 + 1),
            project: Some(projects[n % 3]),
            template_id: Some((n % 7) as u64 + 1),
            template: Some(templates[n % 3]),
            some_of: false,
        };
        let action = Permission::ALL[n % Permission::ALL.len()];
        let (user, room) = (&users[(n * 7) % users.len()], &rooms[n % rooms.len()]);
        let t = Instant::now();
        let decision = policy.authorize(user, room, action, &target, now);
        let elapsed = t.elapsed();
        if n >= 10_000 {
            allowed += usize::from(decision.is_allowed());
            times.push(elapsed);
        }
    }
    times.sort();
    println!(
        "authorize, 1,000 grants: p50 {:.0} ns, p99 {:.0} ns ({} of {} allowed); target p99 ≤ 1 µs",
        percentile(&times, 0.5).as_nanos(),
        percentile(&times, 0.99).as_nanos(),
        allowed,
        N
    );
}
