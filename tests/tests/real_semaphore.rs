#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)] // test helpers may fail loudly

//! The HTTP client against a real Semaphore, when one is given:
//! `SEMAPHORE_URL=https://semaphore.example.org SEMAPHORE_TOKEN=… cargo test -p chatrixcd-tests --test real_semaphore`.
//! Read-only unless `SEMAPHORE_RUN=project_id:template_id` names a template it may start (a
//! harmless one: it is started and, if still running after the checks, stopped).

use std::time::Duration;

use chatrixcd_ports::semaphore::{SemaphorePort, StartTask, StopMode};
use chatrixcd_ports::{ProjectId, TemplateId};
use chatrixcd_semaphore::{HttpSemaphore, SemaphoreConfig};

fn real_server() -> Option<HttpSemaphore> {
    let (Ok(url), Ok(token)) = (std::env::var("SEMAPHORE_URL"), std::env::var("SEMAPHORE_TOKEN")) else {
        eprintln!("skipped: set SEMAPHORE_URL and SEMAPHORE_TOKEN to run the client against a real Semaphore");
        return None;
    };
    let mut config = SemaphoreConfig::new(url, token);
    config.verify_tls = std::env::var("SEMAPHORE_INSECURE").is_err();
    Some(HttpSemaphore::new(&config).expect("SEMAPHORE_URL and SEMAPHORE_TOKEN form a usable configuration"))
}

#[tokio::test]
async fn reads_everything_the_bot_reads() {
    let Some(sem) = real_server() else { return };
    sem.ping().await.unwrap();
    let info = sem.info().await.unwrap();
    eprintln!("real Semaphore {}", info.version);
    for project in sem.projects().await.unwrap() {
        let templates = sem.templates(project.id).await.unwrap();
        let tasks = sem.recent_tasks(project.id, 5).await.unwrap();
        eprintln!(
            "project {} ({}): {} templates, {} recent tasks",
            project.name,
            project.id,
            templates.len(),
            tasks.len()
        );
        if let Some(task) = tasks.first() {
            let again = sem.task(project.id, task.id).await.unwrap();
            assert_eq!(again.id, task.id);
            sem.task_output(project.id, task.id).await.unwrap();
        }
    }
}

#[tokio::test]
async fn starts_and_follows_a_named_template() {
    let Some(sem) = real_server() else { return };
    let Ok(spec) = std::env::var("SEMAPHORE_RUN") else {
        eprintln!("skipped: set SEMAPHORE_RUN=project_id:template_id to start a harmless template");
        return;
    };
    let (p, t) = spec.split_once(':').expect("SEMAPHORE_RUN is project_id:template_id");
    let project: ProjectId = p.parse().unwrap();
    let template: TemplateId = t.parse().unwrap();
    let request =
        StartTask { template_id: template, message: Some("chatrixcd integration test".into()), ..Default::default() };
    let task = sem.start_task(project, request).await.unwrap();
    let mut status = task.status.clone();
    for _ in 0..60 {
        if status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        status = sem.task(project, task.id).await.unwrap().status;
    }
    if !status.is_terminal() {
        sem.stop_task(project, task.id, StopMode::Force).await.unwrap();
    }
    assert!(!sem.task_output(project, task.id).await.unwrap().is_empty());
}
