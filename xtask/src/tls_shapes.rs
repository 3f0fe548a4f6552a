//! `cargo xtask tls-shapes`: our TLS set-up leaves an application's own reqwest working.
//!
//! Cargo unifies the features of one crate across a build, so what we ask of reqwest is asked of
//! the application's reqwest too. The programs in `xtask/tls-shapes/` are applications in each
//! shape one may have (the facade alone; beside its own reqwest with default features, with
//! `default-features = false` and `rustls`, with only `json`, with `rustls-no-provider` and ring
//! installed). Each is built alone (`cargo run -p`, so that only its features are unified) and
//! run against two servers started here on loopback: HTTPS with a certificate authority made for
//! the run (rcgen), and plain HTTP. Each must print `shape ok: …`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::{cargo_bin, project_root};

/// The programs, in `xtask/tls-shapes/`.
const SHAPES: [&str; 5] = [
    "facade-alone",
    "reqwest-default",
    "reqwest-rustls",
    "reqwest-json",
    "reqwest-no-provider",
];

/// What both servers answer (`common::ANSWER` in the programs).
const ANSWER: &str = r#"{"shape":"ok"}"#;

pub(crate) fn check() -> Result<(), String> {
    let root = project_root();
    let shapes = root.join("xtask").join("tls-shapes");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("tls-shapes");
    std::fs::create_dir_all(&target).map_err(|e| format!("cannot create {target:?}: {e}"))?;
    // The workspace's versions, so that the shapes build what a user of this commit gets (the
    // lock of the shapes' workspace is not committed: it is this copy, completed by cargo).
    std::fs::copy(root.join("Cargo.lock"), shapes.join("Cargo.lock"))
        .map_err(|e| format!("cannot copy Cargo.lock into {shapes:?}: {e}"))?;

    let (ca_der, tls_config) = certificates()?;
    let ca_path = target.join("ca.der");
    std::fs::write(&ca_path, &ca_der).map_err(|e| format!("cannot write {ca_path:?}: {e}"))?;
    let https = serve(Some(Arc::new(tls_config)))?;
    let http = serve(None)?;

    for shape in SHAPES {
        let mut command = Command::new(cargo_bin());
        command
            .args(["run", "--quiet", "--manifest-path"])
            .arg(shapes.join("Cargo.toml"))
            .args(["-p", shape])
            .env("CARGO_TARGET_DIR", &target)
            .env(
                "TLS_SHAPES_HTTPS_URL",
                format!("https://localhost:{https}/"),
            )
            .env("TLS_SHAPES_HTTP_URL", format!("http://127.0.0.1:{http}/"))
            .env("TLS_SHAPES_CA", &ca_path);
        run_shape(shape, &mut command)?;
    }
    Ok(())
}

/// Runs one program; it must succeed and say so.
fn run_shape(shape: &str, command: &mut Command) -> Result<(), String> {
    command.current_dir(project_root());
    eprintln!("$ {command:?}");
    let started = std::time::Instant::now();
    let output = command
        .output()
        .map_err(|e| format!("cannot run the `{shape}` program: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "  ({:.1}s) {}",
        started.elapsed().as_secs_f64(),
        stdout.trim()
    );
    if output.status.success() && stdout.contains("shape ok: ") {
        Ok(())
    } else {
        Err(format!(
            "the `{shape}` program (xtask/tls-shapes/{shape}) failed ({}):\n{stdout}{stderr}",
            output.status
        ))
    }
}

/// A certificate authority of the run, and a server configuration for `localhost` signed by it.
fn certificates() -> Result<(Vec<u8>, rustls::ServerConfig), String> {
    let fail = |what: &'static str| move |e: rcgen::Error| format!("cannot make the {what}: {e}");
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail("CA"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "oauth-lifecycle tls-shapes CA");
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(fail("CA key"))?)
        .map_err(fail("CA"))?;
    let key = KeyPair::generate().map_err(fail("server key"))?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .map_err(fail("server certificate"))?
        .signed_by(&key, &issuer)
        .map_err(fail("server certificate"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure the TLS server: {e}"))?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .map_err(|e| format!("cannot configure the TLS server: {e}"))?;
    Ok((issuer.der().to_vec(), config))
}

/// Starts a server on loopback (TLS with `tls`, else plain HTTP) that answers every request with
/// [`ANSWER`]; gives its port. It lives as long as xtask.
fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot listen on loopback: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?
        .port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tls = tls.clone();
            std::thread::spawn(move || answer(stream, tls));
        }
    });
    Ok(port)
}

/// Reads one request head and answers it, closing the connection after.
fn answer(stream: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) {
    // A client that stalls must not hold a thread for ever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    match tls {
        Some(config) => {
            let Ok(connection) = rustls::ServerConnection::new(config) else {
                return;
            };
            respond(rustls::StreamOwned::new(connection, stream));
        }
        None => respond(stream),
    }
}

fn respond(mut stream: impl Read + Write) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{ANSWER}",
        ANSWER.len()
    );
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

/// The programs run, for tidy (every program in `xtask/tls-shapes/` must be one).
#[cfg(test)]
pub(crate) fn shapes() -> &'static [&'static str] {
    &SHAPES
}
