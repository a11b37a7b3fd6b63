//! Semaphore's answers read as the client reads them, without a server: for the fuzz targets
//! (`fuzz/`), which feed them any bytes. Each function is the decoding step of one request of
//! [`HttpSemaphore`](crate::HttpSemaphore), from the body's text (or its chunks) to the port's
//! types; nothing else uses them.

use chatrixcd_ports::ProjectId;
use chatrixcd_ports::semaphore::{
    ActivityEvent, Environment, Inventory, LogTooLarge, Project, SemaphoreError, ServerInfo, ServerSchedule, Task,
    TaskEvent, TaskLog, Template,
};
use serde::de::DeserializeOwned;

use crate::list::ListSplitter;
use crate::wire::{WireEvent, WireInfo, WireNamed, WireOutput, WireProject, WireSchedule, WireTask, WireTemplate};

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, SemaphoreError> {
    serde_json::from_str(text).map_err(|e| SemaphoreError::Malformed(e.to_string()))
}

/// `GET /api/info`.
pub fn info(text: &str) -> Result<ServerInfo, SemaphoreError> {
    decode::<WireInfo>(text).map(WireInfo::into_port)
}

/// Major and minor version of a server's version string (`2.10.32-f33944e0-1729800000`).
pub fn version(text: &str) -> Option<(u32, u32)> {
    crate::wire::parse_version(text)
}

/// `GET /api/projects`.
pub fn projects(text: &str) -> Result<Vec<Project>, SemaphoreError> {
    decode::<Vec<WireProject>>(text).map(|list| list.into_iter().map(WireProject::into_port).collect())
}

/// `GET /api/project/<project>/templates`, numbered by id as the client hands them out.
pub fn templates(text: &str, project: ProjectId) -> Result<Vec<Template>, SemaphoreError> {
    decode::<Vec<WireTemplate>>(text).map(|list| crate::wire::templates_into_port(list, project))
}

/// `GET /api/project/<project>/environment`.
pub fn environments(text: &str) -> Result<Vec<Environment>, SemaphoreError> {
    decode::<Vec<WireNamed>>(text).map(|list| list.into_iter().map(WireNamed::into_environment).collect())
}

/// `GET /api/project/<project>/inventory`.
pub fn inventories(text: &str) -> Result<Vec<Inventory>, SemaphoreError> {
    decode::<Vec<WireNamed>>(text).map(|list| list.into_iter().map(WireNamed::into_inventory).collect())
}

/// `GET /api/project/<project>/schedules`.
pub fn schedules(text: &str) -> Result<Vec<ServerSchedule>, SemaphoreError> {
    decode::<Vec<WireSchedule>>(text).map(|list| list.into_iter().map(WireSchedule::into_port).collect())
}

/// `GET /api/project/<project>/events/last`.
pub fn events(text: &str) -> Result<Vec<ActivityEvent>, SemaphoreError> {
    decode::<Vec<WireEvent>>(text).map(|list| list.into_iter().map(WireEvent::into_port).collect())
}

/// `GET /api/project/<project>/tasks/<task>`, and the answer to a task's start.
pub fn task(text: &str, project: ProjectId) -> Result<Task, SemaphoreError> {
    decode::<WireTask>(text).map(|t| t.into_port(project))
}

/// `GET /api/project/<project>/tasks/last` (read whole).
pub fn recent_tasks(text: &str, project: ProjectId) -> Result<Vec<Task>, SemaphoreError> {
    decode::<Vec<WireTask>>(text).map(|list| list.into_iter().map(|t| t.into_port(project)).collect())
}

/// `GET /api/project/<project>/tasks` (read item by item as its chunks arrive).
pub fn task_list<'c>(
    chunks: impl IntoIterator<Item = &'c [u8]>,
    project: ProjectId,
) -> Result<Vec<Task>, SemaphoreError> {
    each(chunks, Vec::new(), |list, task: WireTask| {
        list.push(task.into_port(project));
        Ok(())
    })
}

/// `GET /api/project/<project>/tasks/<task>/output` (read item by item as its chunks arrive).
pub fn task_output<'c>(chunks: impl IntoIterator<Item = &'c [u8]>) -> Result<TaskLog, SemaphoreError> {
    let too_large = |e: LogTooLarge| SemaphoreError::Malformed(e.to_string());
    let mut log = each(chunks, TaskLog::new(), |log, entry: WireOutput| entry.push_into(log).map_err(too_large))?;
    log.shrink_to_fit();
    Ok(log)
}

/// One text frame of the websocket (`/api/ws`); `None` for frames of no interest.
pub fn frame(text: &str) -> Option<TaskEvent> {
    crate::events::decode_frame(text)
}

/// The client's list reading ([`ListSplitter`] into `add`), without the network.
fn each<'c, T: DeserializeOwned, A>(
    chunks: impl IntoIterator<Item = &'c [u8]>,
    mut collected: A,
    add: impl Fn(&mut A, T) -> Result<(), SemaphoreError>,
) -> Result<A, SemaphoreError> {
    let malformed = |e: crate::list::ListError| SemaphoreError::Malformed(e.to_string());
    let mut splitter = ListSplitter::default();
    for chunk in chunks {
        splitter.feed_into(chunk, &mut collected, &add, malformed)?;
    }
    splitter.finish().map_err(malformed)?;
    Ok(collected)
}
