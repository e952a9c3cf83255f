//! The audit sink: one JSON line per request, appended to `audit.log` in the data directory (and, at debug
//! level, emitted on the `audit` log target). Records are written by one writer thread of their own so that a
//! request never waits on the disk and the runtime's threads never block; the channel is bounded, so a
//! stalled disk slows requests instead of losing records.

pub mod query;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use strongroom_proto::audit::AuditRecord;
use tokio::sync::mpsc;

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
    /// The caller's address.
    pub client: &'a str,
    /// The response status.
    pub status: StatusCode,
    /// The specific error code of a failure.
    pub failure: Option<&'static str>,
}

impl RequestFacts<'_> {
    /// A record with these facts; the pipeline that served the request fills in what it learnt (operation,
    /// resource, identity, authorization).
    pub fn record(self) -> AuditRecord {
        let (status, Arrival { time, started, request_id }) = (self.status, self.arrival);
        AuditRecord {
            time,
            resource_id: None,
            operation_name: "Unknown".to_owned(),
            operation_version: String::new(),
            result_type: if status.is_success() { "Success" } else { "Failure" }.to_owned(),
            result_signature: status.canonical_reason().unwrap_or("Unknown").to_owned(),
            result_description: self.failure.map(str::to_owned),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            caller_ip_address: self.client.to_owned(),
            identity: None,
            request_uri: String::new(),
            http_status_code: status.as_u16(),
            is_address_authorized: None,
            is_rbac_authorized: None,
            correlation_id: self
                .headers
                .get("x-ms-client-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 128)
                .map_or_else(|| request_id.clone(), str::to_owned),
            request_id,
        }
    }
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

/// The record of something the server did by itself (a scheduled rotation, an expiry notice): no caller, no
/// request, the resource it acted on.
pub fn system_event(clock: &Clock, operation: &str, resource_id: String) -> AuditRecord {
    let time = clock.now().format(&time::format_description::well_known::Rfc3339);
    let request_id = request_id();
    AuditRecord {
        time: time.unwrap_or_default(),
        resource_id: Some(resource_id),
        operation_name: operation.to_owned(),
        operation_version: String::new(),
        result_type: "Success".to_owned(),
        result_signature: "OK".to_owned(),
        result_description: None,
        duration_ms: 0,
        caller_ip_address: "system".to_owned(),
        identity: None,
        request_uri: String::new(),
        http_status_code: 200,
        is_address_authorized: None,
        is_rbac_authorized: None,
        correlation_id: request_id.clone(),
        request_id,
    }
}

/// Where audit records go.
#[derive(Clone)]
pub struct AuditSink {
    // Boxed records: a request's future then holds a pointer while it waits for room, not the record.
    queue: mpsc::Sender<Box<AuditRecord>>,
}

impl AuditSink {
    /// A sink appending to `path`, with its writer task.
    pub fn open(path: &Path) -> Result<(Self, tokio::task::JoinHandle<()>)> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format_args!("opening {}", path.display()), e))?;
        let (queue, records) = mpsc::channel(QUEUE);
        let writer = tokio::task::spawn_blocking(move || write_records(records, std::io::BufWriter::new(file)));
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

/// Writes records in batches, flushing after each; ends when every sender is gone and the queue is empty.
fn write_records(mut records: mpsc::Receiver<Box<AuditRecord>>, mut file: std::io::BufWriter<std::fs::File>) {
    let mut batch = Vec::new();
    // One line's buffer, kept across records so that encoding one allocates nothing once it has grown.
    let mut line = Vec::with_capacity(1024);
    while records.blocking_recv_many(&mut batch, QUEUE) > 0 {
        for record in batch.drain(..) {
            line.clear();
            match serde_json::to_writer(&mut line, &record) {
                Ok(()) => {
                    tracing::debug!(target: "audit", "{}", String::from_utf8_lossy(&line));
                    line.push(b'\n');
                    if let Err(e) = file.write_all(&line) {
                        tracing::error!("writing the audit log failed: {e}");
                    }
                }
                Err(e) => tracing::error!("encoding an audit record failed: {e}"),
            }
        }
        if let Err(e) = file.flush() {
            tracing::error!("flushing the audit log failed: {e}");
        }
        std::thread::sleep(GATHER);
    }
}
