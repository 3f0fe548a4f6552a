//! The binary: ready line, serving, clean stop on SIGTERM and SIGINT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child if the test fails before it stopped it.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn run_and_stop(signal: &str) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-sandbox"))
        .args(["--addr", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Guard(child);
    let mut out = BufReader::new(stdout);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), format!("listening on http://{addr}"));
    let mut apps = String::new();
    out.read_line(&mut apps).unwrap();
    assert!(apps.contains("client_id="), "{apps}");

    // It serves: a raw HTTP/1.1 request over a std socket.
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /api/auth.test HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.ends_with(r#"{"ok":false,"error":"not_authed"}"#),
        "{resp}"
    );

    let status = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(e) = child.0.try_wait().unwrap() {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "{exit:?}");
    // The port is free again.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn ready_line_and_sigterm() {
    run_and_stop("-TERM");
}

#[test]
fn sigint() {
    run_and_stop("-INT");
}

#[test]
fn bad_arguments_exit_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_oauth-sandbox"))
        .args(["--addr", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad --addr"));
    let out = Command::new(env!("CARGO_BIN_EXE_oauth-sandbox"))
        .args(["--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    for (args, says) in [
        (
            &["--limit", "max_sockets=1"][..],
            "unknown limit `max_sockets`",
        ),
        (&["--limit=max_connections"][..], "--limit takes NAME=VALUE"),
        (
            &["--limit", "idle_timeout_secs=soon"][..],
            "not a number of seconds",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_oauth-sandbox"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
