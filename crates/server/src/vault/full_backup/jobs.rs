//! The job registry: each job's state is kept in the store's short-lived state, sealed, so that whichever node
//! a client's poll reaches answers it; a job is found only through the HSM that started it. One job at a time
//! runs per HSM, as in Managed HSM ("another backup operation is in progress"): the HSM's claim names the job
//! that holds it.

use strongroom_core::full_backup::job::Job;
use strongroom_store::{Ephemeral, IfLive, Store};
use uuid::Uuid;

/// The kind of the short-lived entries holding jobs.
const JOB: &str = "managed-hsm-job";
/// The kind of the entry that says an HSM has a job running.
const RUNNING: &str = "managed-hsm-job-running";
/// How long a job's state can be polled after it started.
const KEPT_SECONDS: i64 = 7 * 24 * 3600;
/// How long a running job holds its HSM at most; a job whose node stopped frees it sooner, at the first poll
/// that finds it orphaned ([`Job::is_orphaned`]).
const RUNNING_SECONDS: i64 = 3600;

/// Keeps `job` of the HSM `vault_id`, replacing its earlier state.
pub async fn record(store: &dyn Store, vault_id: Uuid, job: &Job, now: i64) -> Result<(), strongroom_store::Error> {
    let value = serde_json::to_vec(job)
        .map_err(|e| strongroom_store::Error::new(strongroom_store::ErrorKind::Corrupt, "encoding a job", e))?;
    let key = format!("{vault_id}/{}", job.id);
    let entry = Ephemeral { kind: JOB, key: &key, value: &value, expires: job.start + KEPT_SECONDS };
    store.put_ephemeral(entry, now, IfLive::Replace).await.map(drop)
}

/// The job `job_id` of the HSM `vault_id`.
pub async fn find(
    store: &dyn Store,
    vault_id: Uuid,
    job_id: &str,
    now: i64,
) -> Result<Option<Job>, strongroom_store::Error> {
    if !Job::is_id(job_id) {
        return Ok(None);
    }
    let key = format!("{vault_id}/{}", job_id.to_ascii_lowercase());
    let Some(value) = store.ephemeral(JOB, &key, now).await? else { return Ok(None) };
    serde_json::from_slice(&value)
        .map(Some)
        .map_err(|e| strongroom_store::Error::new(strongroom_store::ErrorKind::Corrupt, "reading a job", e))
}

/// Claims the HSM `vault_id` for the job `job_id`; `false` when another job holds it.
pub async fn claim(store: &dyn Store, vault_id: Uuid, job_id: &str, now: i64) -> Result<bool, strongroom_store::Error> {
    let key = vault_id.to_string();
    let entry = Ephemeral { kind: RUNNING, key: &key, value: job_id.as_bytes(), expires: now + RUNNING_SECONDS };
    store.put_ephemeral(entry, now, IfLive::Keep).await
}

/// Frees the HSM `vault_id` for the next job, if the job `job_id` holds it.
pub async fn release(store: &dyn Store, vault_id: Uuid, job_id: &str, now: i64) -> Result<(), strongroom_store::Error> {
    let key = vault_id.to_string();
    let holder = store.ephemeral(RUNNING, &key, now).await?;
    if holder.is_some_and(|holder| holder.as_slice() == job_id.as_bytes()) {
        store.take_ephemeral(RUNNING, &key, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strongroom_core::full_backup::job::{JobKind, JobStatus};
    use strongroom_store::seal::RootKey;
    use strongroom_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn jobs_are_found_through_their_hsm_and_one_runs_at_a_time() -> Result<(), strongroom_store::Error> {
        let dir = tempfile::tempdir()
            .map_err(|e| strongroom_store::Error::new(strongroom_store::ErrorKind::Io, "test", e))?;
        let root = RootKey::load_or_create(&dir.path().join("root.key"))?;
        let store = SqliteStore::open(&dir.path().join("strongroom.db"), root)?;
        let (hsm, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let job = Job::start(JobKind::Backup, 100);
        record(&store, hsm, &job, 100).await?;
        assert_eq!(find(&store, hsm, &job.id.to_ascii_uppercase(), 101).await?, Some(job.clone()));
        assert_eq!(find(&store, other, &job.id, 101).await?, None, "another HSM's job");
        assert_eq!(find(&store, hsm, "../x", 101).await?, None);
        let done = job.succeed(102, None);
        record(&store, hsm, &done, 102).await?;
        assert_eq!(find(&store, hsm, &done.id, 103).await?.map(|j| j.status), Some(JobStatus::Succeeded));
        assert_eq!(find(&store, hsm, &done.id, 100 + KEPT_SECONDS).await?, None, "kept for a week");

        assert!(claim(&store, hsm, "first", 100).await?);
        assert!(!claim(&store, hsm, "second", 101).await?, "one job at a time");
        assert!(claim(&store, other, "third", 101).await?);
        release(&store, hsm, "second", 102).await?;
        assert!(!claim(&store, hsm, "second", 102).await?, "only the holder frees the HSM");
        release(&store, hsm, "first", 102).await?;
        assert!(claim(&store, hsm, "second", 103).await?);
        assert!(claim(&store, other, "fourth", 101 + RUNNING_SECONDS).await?, "a stopped node's claim lapses");
        Ok(())
    }
}
