#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // a test that reports a skip

//! The Docker variant of the Synapse harness: where Docker and the `docker` feature are there, a
//! container serves a real scenario (register, log in, create a room); elsewhere this says why it
//! is skipped. Every other Synapse scenario runs on the container with `CHATRIXCD_SYNAPSE=docker`.

use std::io::{Read as _, Write as _};

use chatrixcd_tests::synapse::{Synapse, docker_unavailable};

/// One HTTP/1.0 request to the loopback server; the status line and body.
fn http(url: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (String, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

#[test]
fn synapse_in_a_container_serves_the_harness_scenarios() {
    if let Some(why) = docker_unavailable() {
        println!("skipped: {why}");
        return;
    }
    let synapse = Synapse::start_docker().expect("Synapse in Docker");
    let user = synapse.register("alice", "alicepass", false).unwrap();
    assert_eq!(user, "@alice:localhost");
    let login =
        r#"{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"alicepass"}"#;
    let (status, body) = http(&synapse.url, "POST", "/_matrix/client/v3/login", None, login);
    assert!(status.contains(" 200 "), "{status} {body}");
    let token = body.split("\"access_token\":\"").nth(1).and_then(|t| t.split('"').next()).unwrap().to_owned();
    let (status, body) = http(&synapse.url, "POST", "/_matrix/client/v3/createRoom", Some(&token), "{}");
    assert!(status.contains(" 200 ") && body.contains("room_id"), "{status} {body}");
}
