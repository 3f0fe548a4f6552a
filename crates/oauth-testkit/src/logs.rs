//! [`LogCapture`]: every tracing event of the process, at TRACE, into a buffer.

use std::sync::{Arc, Mutex};

/// The log lines of the whole process, captured since [`install`](Self::install).
#[derive(Clone, Debug, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs a global subscriber that writes every event and span, at TRACE and without ANSI
    /// colours, into the returned capture. Once per process: a test that captures logs is a test
    /// binary of its own.
    pub fn install() -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish(),
        )
        .expect("no other global subscriber in this test binary");
        capture
    }

    /// What was logged so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Asserts that no secret of `secrets` appears in `text` (logs, `Debug` output, error messages);
/// a failure names only the secret's last four characters.
pub fn assert_no_secret(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked: …{}",
            &secret[secret.len().saturating_sub(4)..]
        );
    }
}
