//! Semaphore's websocket (`/api/ws`) frames, whatever arrives: an event or nothing, never a
//! panic. Only `update` and `log` frames that name their task and project become events, and an
//! event written back as the frame Semaphore would send reads back as the same event.
#![no_main]

use chatrixcd_ports::semaphore::TaskEvent;
use chatrixcd_semaphore::decode;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(event) = decode::frame(&text) else { return };
    let frame = match &event {
        TaskEvent::Status { project, task, template, status, start, end } => json!({
            "type": "update", "project_id": project.get(), "task_id": task.get(),
            "template_id": template.get(), "status": status.as_str(), "start": start, "end": end,
        }),
        TaskEvent::Log { project, task, time, text } => json!({
            "type": "log", "project_id": project.get(), "task_id": task.get(), "time": time, "output": text,
        }),
        other => panic!("{text:?} became {other:?}"),
    };
    assert_eq!(decode::frame(&frame.to_string()).as_ref(), Some(&event), "{text:?} wrote back as {frame}");
});
