//! Every answer of Semaphore's REST API that the client decodes (info, projects, templates with
//! their surveys, environments, inventories, schedules, events, tasks, task lists and a task's
//! output), from any body: a value or a clear error, never a panic. What is decoded keeps the
//! client's promises: Go's zero time and empty strings read as unset, templates come sorted by
//! id, a schedule's repository is never 0; a list read item by item as its chunks arrive gives
//! exactly what reading it whole gives; a version read back from its digits reads the same.
#![no_main]

use chatrixcd_ports::ProjectId;
use chatrixcd_ports::semaphore::Task;
use chatrixcd_semaphore::decode;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

fn set(time: Option<DateTime<Utc>>) {
    assert!(time.is_none_or(|t| t.timestamp() > 0), "a zero time read as set: {time:?}");
}

fn not_blank(text: &Option<String>) {
    assert!(text.as_deref().is_none_or(|t| !t.is_empty()), "an empty text read as set");
}

fn task_ok(task: &Task) {
    set(task.created);
    set(task.start);
    set(task.end);
    not_blank(&task.message);
    not_blank(&task.template_name);
    not_blank(&task.user_name);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let project = ProjectId::new(1 + (data.len() as u64 % 3));

    if let Ok(info) = decode::info(&text)
        && let Some((major, minor)) = decode::version(&info.version)
    {
        assert_eq!(decode::version(&format!("{major}.{minor}")), Some((major, minor)), "{:?}", info.version);
    }
    let _ = decode::version(&text);
    let _ = decode::projects(&text);
    if let Ok(templates) = decode::templates(&text, project) {
        assert!(templates.windows(2).all(|w| w[0].id <= w[1].id), "templates out of order");
        for t in &templates {
            not_blank(&t.description);
        }
    }
    let _ = decode::environments(&text);
    let _ = decode::inventories(&text);
    if let Ok(schedules) = decode::schedules(&text) {
        for s in &schedules {
            assert_ne!(s.repository_id, Some(0));
            not_blank(&s.template_name);
            set(s.run_at);
        }
    }
    if let Ok(events) = decode::events(&text) {
        for e in &events {
            set(e.created);
            not_blank(&e.user_name);
        }
    }
    if let Ok(task) = decode::task(&text, project) {
        task_ok(&task);
    }

    // A task list, read whole (`tasks/last`) and item by item (`tasks`), in chunks of a size the
    // input picks. Only a body that is UTF-8 reads the same both ways: read whole, its text is
    // decoded leniently first.
    let whole = decode::recent_tasks(&text, project);
    if let Ok(tasks) = &whole {
        tasks.iter().for_each(task_ok);
    }
    let size = 1 + data.first().map_or(0, |b| usize::from(*b % 32));
    let chunked = decode::task_list(data.chunks(size), project);
    if std::str::from_utf8(data).is_ok() {
        match (&whole, &chunked) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the list reads otherwise item by item"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("read whole: {a:?}; item by item: {b:?}"),
        }
    }

    // A task's output, in chunks and whole: the same log.
    let in_chunks = decode::task_output(data.chunks(size));
    let at_once = decode::task_output([data]);
    match (in_chunks, at_once) {
        (Ok(a), Ok(b)) => assert!(a == b, "the output reads otherwise in chunks"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("in chunks: {:?}; whole: {:?}", a.map(|l| l.len()), b.map(|l| l.len())),
    }
});
