//! A full backup's or restore's job: the long-running operation a client polls until it succeeds or fails.
//!
//! The node running a job records a heartbeat every [`HEARTBEAT_SECONDS`]; a job still in progress whose
//! heartbeat is older than [`ORPHANED_AFTER_SECONDS`] lost its node, and a poll ends it ([`Job::abandon`]).

use serde::{Deserialize, Serialize};

/// How often the node running a job records that it still runs.
pub const HEARTBEAT_SECONDS: u64 = 10;

/// How long a job in progress may go without a heartbeat before it is taken as lost with its node.
pub const ORPHANED_AFTER_SECONDS: i64 = 60;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A full backup (`POST /backup`), polled at `/backup/{jobId}/pending`.
    Backup,
    /// A full or selective-key restore, polled at `/restore/{jobId}/pending`.
    Restore,
}

impl JobKind {
    /// The first segment of its status path.
    pub fn path(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Still running.
    InProgress,
    /// Done.
    Succeeded,
    /// Ended with an error; nothing was written.
    Failed,
}

/// Why a job failed, in Key Vault's error terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// The error code.
    pub code: String,
    /// What went wrong, for the client.
    pub message: String,
}

/// A job's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Its id (32 hex digits).
    pub id: String,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub status: JobStatus,
    /// A word on its progress or outcome.
    pub status_details: Option<String>,
    /// Why it failed.
    pub error: Option<JobError>,
    /// When it started, Unix seconds.
    pub start: i64,
    /// When it ended, Unix seconds.
    pub end: Option<i64>,
    /// A backup's folder URL, once it succeeded.
    pub folder_url: Option<String>,
    /// When its node last said it still runs, Unix seconds (its start until then).
    #[serde(default)]
    pub heartbeat: Option<i64>,
}

impl Job {
    /// A new job of `kind` started at `now`.
    pub fn start(kind: JobKind, now: i64) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind,
            status: JobStatus::InProgress,
            status_details: None,
            error: None,
            start: now,
            end: None,
            folder_url: None,
            heartbeat: None,
        }
    }

    /// The job ended well at `now`; a backup's folder is at `folder_url`.
    pub fn succeed(self, now: i64, folder_url: Option<String>) -> Self {
        let details = match self.kind {
            JobKind::Backup => "The backup operation succeeded.",
            JobKind::Restore => "The restore operation succeeded.",
        };
        Self { status: JobStatus::Succeeded, status_details: Some(details.into()), end: Some(now), folder_url, ..self }
    }

    /// The job failed at `now` with `error`.
    pub fn fail(self, now: i64, error: JobError) -> Self {
        Self {
            status: JobStatus::Failed,
            status_details: Some(error.message.clone()),
            error: Some(error),
            end: Some(now),
            ..self
        }
    }

    /// Whether `text` has the shape of a job id (anything else cannot name a job).
    pub fn is_id(text: &str) -> bool {
        crate::object::is_version(text)
    }

    /// The job, still running at `now`.
    pub fn beat(self, now: i64) -> Self {
        Self { heartbeat: Some(now), ..self }
    }

    /// Whether the job is in progress but its node stopped saying so: it died with it.
    pub fn is_orphaned(&self, now: i64) -> bool {
        self.status == JobStatus::InProgress && now - self.heartbeat.unwrap_or(self.start) > ORPHANED_AFTER_SECONDS
    }

    /// The end of a job whose node stopped, at `now`. Nothing of it is left half-done: a restore is written in
    /// one transaction, and a backup's folder appears only once complete.
    pub fn abandon(self, now: i64) -> Self {
        let message = "The server node running the job stopped before the job ended. A restore is written whole or \
                       not at all and a backup folder appears only once complete: start the job again.";
        self.fail(now, JobError { code: "InternalError".into(), message: message.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_ends_once_with_its_outcome() {
        let job = Job::start(JobKind::Backup, 10);
        assert!(Job::is_id(&job.id) && job.status == JobStatus::InProgress && job.end.is_none());
        let done = job.clone().succeed(12, Some("https://b/c/f".into()));
        assert_eq!(
            (done.status, done.end, done.folder_url.as_deref()),
            (JobStatus::Succeeded, Some(12), Some("https://b/c/f"))
        );
        let error = JobError { code: "InvalidCredential".into(), message: "no".into() };
        let failed = job.fail(11, error.clone());
        assert_eq!(
            (failed.status, failed.error, failed.status_details),
            (JobStatus::Failed, Some(error), Some("no".into()))
        );
        assert!(!Job::is_id("../x"));
    }

    #[test]
    fn a_job_without_a_heartbeat_for_a_minute_is_abandoned_once() {
        let job = Job::start(JobKind::Restore, 100);
        assert!(!job.is_orphaned(100 + ORPHANED_AFTER_SECONDS));
        assert!(job.is_orphaned(101 + ORPHANED_AFTER_SECONDS));
        let beating = job.beat(150);
        assert!(!beating.is_orphaned(150 + ORPHANED_AFTER_SECONDS));
        assert!(beating.is_orphaned(151 + ORPHANED_AFTER_SECONDS));
        let abandoned = beating.abandon(300);
        assert_eq!((abandoned.status, abandoned.end), (JobStatus::Failed, Some(300)));
        assert!(abandoned.error.is_some_and(|e| e.message.contains("start the job again")));
        let done = Job::start(JobKind::Backup, 0).succeed(1, None);
        assert!(!done.is_orphaned(10_000), "an ended job is never orphaned");
    }
}
