//! The audit sink: one JSON line per vault request, appended to `audit.log` in the data directory and
//! emitted on the `audit` log target. Records are written by a background task so that a request never
//! waits on the disk; the channel is bounded, so a stalled disk slows requests instead of losing records.

use std::path::Path;

use strongroom_proto::audit::AuditRecord;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

const QUEUE: usize = 16_384;

/// Where audit records go.
#[derive(Clone)]
pub struct AuditSink {
    queue: mpsc::Sender<AuditRecord>,
}

impl AuditSink {
    /// A sink appending to `path`, with its writer task.
    pub async fn open(path: &Path) -> Result<(Self, tokio::task::JoinHandle<()>)> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| Error::io(format_args!("opening {}", path.display()), e))?;
        let (queue, records) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_records(records, tokio::io::BufWriter::new(file)));
        Ok((Self { queue }, writer))
    }

    /// Records `record`.
    pub async fn record(&self, record: AuditRecord) {
        if self.queue.send(record).await.is_err() {
            tracing::error!("the audit writer has stopped; a record was lost");
        }
    }
}

async fn write_records(mut records: mpsc::Receiver<AuditRecord>, mut file: tokio::io::BufWriter<tokio::fs::File>) {
    let mut batch = Vec::new();
    while records.recv_many(&mut batch, 256).await > 0 {
        for record in batch.drain(..) {
            match serde_json::to_string(&record) {
                Ok(line) => {
                    tracing::info!(target: "audit", "{line}");
                    let written = file.write_all(line.as_bytes()).await.and(file.write_all(b"\n").await);
                    if let Err(e) = written {
                        tracing::error!("writing the audit log failed: {e}");
                    }
                }
                Err(e) => tracing::error!("encoding an audit record failed: {e}"),
            }
        }
        if let Err(e) = file.flush().await {
            tracing::error!("flushing the audit log failed: {e}");
        }
    }
}
