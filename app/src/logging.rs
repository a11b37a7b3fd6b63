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
/// homeserver's expected 404s (no backup yet, no secret storage, no encryption state in a plain
/// room) as errors: operators would drown in both, and would learn to ignore ERROR. Its
/// warnings stay; `RUST_LOG` brings the rest back when debugging.
const QUIET_MATRIX_SDK: &str = "matrix_sdk=warn,matrix_sdk_base=warn,matrix_sdk_crypto=warn,matrix_sdk_sqlite=warn,\
                                matrix_sdk::http_client=off";

/// How each log record is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One line of text per event, for people and journald.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, the event's fields), for
    /// log shippers.
    Json,
}

/// The filter: `RUST_LOG` when set, else `default_level` for the bot with matrix-sdk quietened.
fn filter(default_level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("{default_level},{QUIET_MATRIX_SDK}")))
}

/// Installs the global subscriber, as text. `RUST_LOG` overrides `default_level`.
pub(crate) fn init(default_level: &str, redactor: Arc<Redactor>) {
    init_as(default_level, redactor, LogFormat::Text);
}

/// Installs the global subscriber in `format`. `RUST_LOG` overrides `default_level`.
pub(crate) fn init_as(default_level: &str, redactor: Arc<Redactor>, format: LogFormat) {
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter(default_level)).with_writer(RedactingStderr { redactor });
    let _ = match format {
        LogFormat::Text => builder.with_ansi(io::stderr().is_terminal()).with_target(false).try_init(),
        // Every record is one line with its target, so a shipper can route matrix-sdk's apart.
        LogFormat::Json => builder.json().with_ansi(false).with_current_span(false).try_init(),
    };
}
