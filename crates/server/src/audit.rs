//! The audit sink: one JSON line per request (a row of an Azure Monitor table: [`strongroom_proto::audit`]),
//! appended to `audit.log` in the data directory and rotated there ([`file`]), or written to standard output,
//! or both (and, at debug level, emitted on the `audit` log target). Records are written by one writer thread of their own so that a
//! request never waits on the disk and the runtime's threads never block; the channel is bounded, so a
//! stalled disk slows requests instead of losing records.

pub mod file;
pub mod query;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use strongroom_proto::audit::AuditRecord;
use tokio::sync::mpsc;

use self::file::{AuditSettings, RotatingFile};
use crate::clock::Clock;
use crate::error::{Error, Result};

const QUEUE: usize = 16_384;

/// When a request arrived, and the id its response and its record carry: taken first, so that the record's
/// time and duration cover the whole request.
pub struct Arrival {
    /// When the request arrived (RFC 3339).
    pub time: String,
    /// When the request arrived, for the duration.
    pub started: Instant,
    /// The id the response carries in `x-ms-request-id`.
    pub request_id: String,
}

impl Arrival {
    /// A request arriving now, by `clock`.
    pub fn at(clock: &Clock) -> Self {
        let started = Instant::now();
        let time = clock.now().format(&time::format_description::well_known::Rfc3339);
        Arrival { time: time.unwrap_or_default(), started, request_id: request_id() }
    }
}

/// What every request's record says, whatever served it: when, how long, from where, the outcome and the
/// ids that tie it to the client's logs.
pub struct RequestFacts<'a> {
    /// When it arrived, and its id.
    pub arrival: Arrival,
    /// The request's headers (for the client's correlation id).
    pub headers: &'a HeaderMap,
    /// The response status.
    pub status: StatusCode,
}

/// [`RequestFacts`] once the request is answered, in the terms every audit table uses.
pub struct Settled {
    /// When the request arrived (RFC 3339).
    pub time: String,
    /// Milliseconds from arrival to now.
    pub duration_ms: u64,
    /// The server's `x-ms-request-id`.
    pub request_id: String,
    /// The client's own request id, if it sent one (bounded: it is the client's text).
    pub client_request_id: Option<String>,
    /// `Success` or `Failure`.
    pub result_type: &'static str,
    /// The HTTP reason, e.g. `OK`, `Forbidden`.
    pub reason: &'static str,
}

impl Settled {
    /// The client's request id, or else the server's: what ties the record to the client's own logs.
    pub fn correlation_id(&self) -> String {
        self.client_request_id.clone().unwrap_or_else(|| self.request_id.clone())
    }
}

impl RequestFacts<'_> {
    /// The facts, settled now.
    pub fn settle(self) -> Settled {
        let (status, Arrival { time, started, request_id }) = (self.status, self.arrival);
        Settled {
            time,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            request_id,
            client_request_id: header_text(self.headers, "x-ms-client-request-id"),
            result_type: if status.is_success() { "Success" } else { "Failure" },
            reason: status.canonical_reason().unwrap_or("Unknown"),
        }
    }
}

/// A header's text, if it is short enough to record: headers are the client's to fill.
pub fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 256).map(str::to_owned)
}

/// A new request id, GUID-shaped as Azure's `x-ms-request-id`: a random prefix drawn once per process and a
/// counter. Ids need to be unique, not secret, and drawing 16 random bytes per request cost a system call.
pub fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    uuid::Uuid::from_u64_pair(prefix, count).to_string()
}

/// Where audit records go.
#[derive(Clone)]
pub struct AuditSink {
    // Boxed records: a request's future then holds a pointer while it waits for room, not the record.
    queue: mpsc::Sender<Box<AuditRecord>>,
}

impl AuditSink {
    /// A sink writing to `audit.log` in `dir` and to standard output, as `settings` say, with its writer task.
    pub fn open(dir: &Path, settings: AuditSettings) -> Result<(Self, tokio::task::JoinHandle<()>)> {
        let stdout = settings.stdout;
        let file = if settings.file {
            let file = RotatingFile::open(dir, settings)
                .map_err(|e| Error::io(format_args!("opening the audit log in {}", dir.display()), e))?;
            Some(file)
        } else {
            None
        };
        let (queue, records) = mpsc::channel(QUEUE);
        let writer = tokio::task::spawn_blocking(move || write_records(records, file, stdout));
        Ok((Self { queue }, writer))
    }

    /// Records `record`.
    pub fn record(&self, record: AuditRecord) -> impl Future<Output = ()> + Send + '_ {
        let record = Box::new(record);
        async move {
            if self.queue.send(record).await.is_err() {
                tracing::error!("the audit writer has stopped; a record was lost");
            }
        }
    }
}

/// How long the writer gathers records between two writes: under load, one write (and no wake-up of this
/// thread per request) carries many records.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// Writes records in batches, flushing (and rotating the file) after each; ends when every sender is gone and
/// the queue is empty.
fn write_records(mut records: mpsc::Receiver<Box<AuditRecord>>, mut file: Option<RotatingFile>, stdout: bool) {
    let mut batch = Vec::new();
    // One line's buffer, kept across records so that encoding one allocates nothing once it has grown.
    let mut line = Vec::with_capacity(1024);
    let mut out = std::io::BufWriter::new(std::io::stdout());
    while records.blocking_recv_many(&mut batch, QUEUE) > 0 {
        for record in batch.drain(..) {
            line.clear();
            let encoded = match &*record {
                AuditRecord::KeyVault(row) => row.write_json(&mut line),
                other => serde_json::to_writer(&mut line, other),
            };
            if let Err(e) = encoded {
                tracing::error!("encoding an audit record failed: {e}");
                continue;
            }
            tracing::debug!(target: "audit", "{}", String::from_utf8_lossy(&line));
            line.push(b'\n');
            if let Some(file) = &mut file
                && let Err(e) = file.write(&line)
            {
                tracing::error!("writing the audit log failed: {e}");
            }
            if stdout && let Err(e) = out.write_all(&line) {
                tracing::error!("writing the audit log to standard output failed: {e}");
            }
        }
        if let Some(file) = &mut file
            && let Err(e) = file.flush_and_rotate()
        {
            tracing::error!("flushing or rotating the audit log failed: {e}");
        }
        if stdout && let Err(e) = out.flush() {
            tracing::error!("flushing the audit log to standard output failed: {e}");
        }
        std::thread::sleep(GATHER);
    }
}
