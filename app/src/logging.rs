//! Structured logs on stderr, with secrets redacted before they are written.

use std::io::{self, IsTerminal as _, Write};
use std::sync::Arc;

use chatrixcd_domain::redact::Redactor;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Writes each formatted log record through the redactor.
#[derive(Clone)]
struct RedactingStderr {
    redactor: Arc<Redactor>,
}

struct RecordWriter {
    redactor: Arc<Redactor>,
    buffer: Vec<u8>,
}

impl Write for RecordWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RecordWriter {
    // tracing-subscriber writes one record per writer, so the whole record is redacted at once
    // and a secret split across `write` calls is still caught.
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buffer);
        let redacted = self.redactor.redact(&text);
        let _ = io::stderr().lock().write_all(redacted.as_bytes());
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RecordWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RecordWriter { redactor: Arc::clone(&self.redactor), buffer: Vec::with_capacity(256) }
    }
}

/// What matrix-sdk says at `info` is a line per sync with every setting in it, and it logs the
/// homeserver's expected 404s (no backup yet, no secret storage) as errors: operators would drown
/// in both. Its warnings stay; `RUST_LOG` brings the rest back when debugging.
const QUIET_MATRIX_SDK: &str =
    "matrix_sdk=warn,matrix_sdk_base=warn,matrix_sdk_crypto=warn,matrix_sdk_sqlite=warn,matrix_sdk::http_client=off";

/// Installs the global subscriber. `RUST_LOG` overrides `default_level`.
pub(crate) fn init(default_level: &str, redactor: Arc<Redactor>) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},{QUIET_MATRIX_SDK}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr { redactor })
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
