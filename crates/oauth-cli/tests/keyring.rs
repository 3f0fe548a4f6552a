//! The store key in the OS keyring: on Linux the Secret Service, here a real gnome-keyring
//! daemon on a private session D-Bus (both started by the test; `.ci/run` installs them). Without
//! them the test says so and passes, unless `OAUTH_REQUIRE_KEYRING=1` (CI sets it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oauth_sandbox::Sandbox;
use support::{login, oauthctl, run, text};

/// A session D-Bus and an unlocked gnome-keyring on it, stopped on drop.
struct Keyring {
    bus: String,
    home: PathBuf,
    children: Vec<Child>,
}

impl Drop for Keyring {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn on_path(name: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join(name).is_file())
}

/// Starts the daemons in `dir`, or says why not.
fn start_keyring(dir: &Path) -> Result<Keyring, String> {
    for tool in ["dbus-daemon", "gnome-keyring-daemon"] {
        if !on_path(tool) {
            return Err(format!("no {tool} on PATH"));
        }
    }
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let socket = dir.join("bus");
    let bus = format!("unix:path={}", socket.display());
    let mut keyring = Keyring {
        bus: bus.clone(),
        home: home.clone(),
        children: Vec::new(),
    };
    let dbus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", "--address", &bus])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("dbus-daemon: {e}"))?;
    keyring.children.push(dbus);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        if Instant::now() > deadline {
            return Err("dbus-daemon made no socket".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut daemon = Command::new("gnome-keyring-daemon")
        .args(["--unlock", "--components=secrets", "--foreground"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", dir)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("gnome-keyring-daemon: {e}"))?;
    // The login keyring's password, then end of input: the daemon creates it unlocked.
    let mut stdin = daemon.stdin.take().unwrap();
    stdin.write_all(b"test-keyring-password").unwrap();
    drop(stdin);
    keyring.children.push(daemon);
    // Wait until the Secret Service answers on the bus.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let names = Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.ListNames",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .output()
            .map_err(|e| format!("dbus-send: {e}"))?;
        if String::from_utf8_lossy(&names.stdout).contains("org.freedesktop.secrets") {
            return Ok(keyring);
        }
        if Instant::now() > deadline {
            return Err("the Secret Service never appeared on the bus".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn with_keyring(command: tokio::process::Command, keyring: &Keyring) -> tokio::process::Command {
    let mut command = command;
    command
        .env("DBUS_SESSION_BUS_ADDRESS", &keyring.bus)
        .env("HOME", &keyring.home);
    command
}

/// The bytes of a SQLite store and its WAL.
fn store_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", path.display())) {
        bytes.extend(wal);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_key_lives_in_the_os_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = match start_keyring(dir.path()) {
        Ok(keyring) => keyring,
        Err(why) if std::env::var("OAUTH_REQUIRE_KEYRING").as_deref() != Ok("1") => {
            eprintln!(
                "skipped: no OS keyring to test against ({why}); set OAUTH_REQUIRE_KEYRING=1 to fail instead"
            );
            return;
        }
        Err(why) => panic!("OAUTH_REQUIRE_KEYRING=1 but no keyring: {why}"),
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let base = sandbox.base_url().to_owned();
    let store = dir.path().join("tokens.sqlite3");

    // A new key goes into the keyring, is not printed, and is never replaced.
    let out = run(
        with_keyring(oauthctl(&store, &sandbox), &keyring),
        &["store-key", "new", "--keyring"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "the key is not printed");
    assert!(text(&out.stderr).contains("--store-key-keyring"));
    let out = run(
        with_keyring(oauthctl(&store, &sandbox), &keyring),
        &["store-key", "new", "--keyring", "--id", "k2"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("already holds"),
        "{}",
        text(&out.stderr)
    );

    // login with the keyring's key: encrypted at rest, and remembered for later commands.
    let out = login(
        with_keyring(oauthctl(&store, &sandbox), &keyring),
        "slack",
        &base,
        &["--store-key-keyring"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("unencrypted"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        with_keyring(oauthctl(&store, &sandbox), &keyring),
        &["token", "slack"],
    )
    .await;
    assert!(
        out.status.success(),
        "the remembered keyring key: {}",
        text(&out.stderr)
    );
    let token = text(&out.stdout).trim().to_owned();
    assert!(token.starts_with("xoxe.xoxb-1-"), "{token}");
    let bytes = store_bytes(&store);
    assert!(
        !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
        "no plaintext token in the file"
    );

    // Two key sources at once is a usage error.
    let mut both = with_keyring(oauthctl(&store, &sandbox), &keyring);
    both.env(
        "OAUTHCTL_STORE_KEY",
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    );
    let out = run(both, &["list", "--store-key-keyring"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("keep one"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("AAECAw"),
        "{}",
        text(&out.stderr)
    );

    // No keyring reachable: a configuration error that says what to run, and nothing changes.
    let mut gone = oauthctl(&store, &sandbox);
    gone.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", dir.path().join("no-bus").display()),
    )
    .env("HOME", &keyring.home);
    let out = run(gone, &["token", "slack"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("OS keyring") && stderr.contains("Secret Service"),
        "{stderr}"
    );
    assert_eq!(
        store_bytes(&store),
        bytes,
        "a failed command changes nothing"
    );
}
