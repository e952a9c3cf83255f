//! The audit log's files: `audit.log` in the data directory, rotated to `audit-{UTC time}-{n}.log` when it grows
//! past a size or an age, with rotated files deleted past a count or an age. Every file is its owner's only.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::installation::AUDIT_FILE;

/// Where the audit log goes and how its files are rotated (`[audit]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Write `audit.log` in the data directory (what the audit-log query reads).
    pub file: bool,
    /// Write every row to standard output too (containers' log collectors read it there).
    pub stdout: bool,
    /// Rotate `audit.log` once it holds this many bytes.
    pub max_file_bytes: u64,
    /// Rotate `audit.log` once its first row is this old.
    pub max_file_age: Duration,
    /// Delete rotated files older than this.
    pub keep_for: Duration,
    /// Keep at most this many rotated files (the oldest go first).
    pub keep_files: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        const DAY: u64 = 24 * 60 * 60;
        Self {
            file: true,
            stdout: false,
            max_file_bytes: 100 * 1024 * 1024,
            max_file_age: Duration::from_secs(DAY),
            keep_for: Duration::from_secs(30 * DAY),
            keep_files: 30,
        }
    }
}

/// The audit log's files in `dir`, newest first: `audit.log`, then the rotated ones.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated = rotated_files(dir);
    rotated.reverse();
    let mut files = vec![dir.join(AUDIT_FILE)];
    files.extend(rotated);
    files
}

/// The rotated files in `dir`, oldest first (their names sort by time).
fn rotated_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("audit-") && n.ends_with(".log"))
        })
        .collect();
    files.sort();
    files
}

/// `audit.log`, open for appending, rotated by [`AuditSettings`].
pub struct RotatingFile {
    dir: PathBuf,
    file: BufWriter<File>,
    /// Bytes in the current file.
    size: u64,
    /// When the current file was started.
    started: SystemTime,
    settings: AuditSettings,
}

impl RotatingFile {
    /// `audit.log` in `dir`, opened (and created, owner-only) for appending.
    pub fn open(dir: &Path, settings: AuditSettings) -> std::io::Result<Self> {
        let path = dir.join(AUDIT_FILE);
        let file = std::fs::OpenOptions::new().create(true).append(true).mode_private().open(&path)?;
        let metadata = file.metadata()?;
        // A file kept from before a restart is as old as its first row, which its creation time tells.
        let started =
            if metadata.len() == 0 { SystemTime::now() } else { metadata.created().unwrap_or(SystemTime::now()) };
        Ok(Self { dir: dir.to_owned(), file: BufWriter::new(file), size: metadata.len(), started, settings })
    }

    /// Appends `line`.
    pub fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Flushes what was written, then rotates if the file has grown too large or too old.
    pub fn flush_and_rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let too_old = self.started.elapsed().is_ok_and(|age| age >= self.settings.max_file_age);
        if self.size >= self.settings.max_file_bytes || (too_old && self.size > 0) {
            self.rotate()?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .unwrap_or_default();
        // Two rotations in one second (a tiny size limit under load) must not overwrite each other, and the
        // names must still sort by time: a zero-padded sequence number follows the time.
        let target = (0..1_000_000)
            .map(|n| self.dir.join(format!("audit-{stamp}-{n:06}.log")))
            .find(|path| !path.exists())
            .ok_or_else(|| std::io::Error::other("a million audit logs rotated within one second"))?;
        std::fs::rename(self.dir.join(AUDIT_FILE), &target)?;
        *self = Self::open(&self.dir, self.settings.clone())?;
        self.prune();
        Ok(())
    }

    /// Deletes rotated files past the count or the age kept.
    fn prune(&self) {
        let rotated = rotated_files(&self.dir);
        let surplus = rotated.len().saturating_sub(self.settings.keep_files);
        for (index, path) in rotated.iter().enumerate() {
            let expired = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > self.settings.keep_for));
            if (index < surplus || expired)
                && let Err(e) = std::fs::remove_file(path)
            {
                tracing::warn!("deleting the rotated audit log {} failed: {e}", path.display());
            }
        }
    }
}

/// Opening files readable by their owner only.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_file_bytes: u64, keep_files: usize) -> AuditSettings {
        AuditSettings { max_file_bytes, keep_files, ..AuditSettings::default() }
    }

    #[test]
    fn the_log_rotates_past_its_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().ok();
        let dir = dir.as_ref().map(|d| d.path().to_owned()).unwrap_or_default();
        let mut log = RotatingFile::open(&dir, settings(100, 3)).ok();
        for i in 0..50 {
            let line = format!("{{\"row\":{i:04},\"padding\":\"................\"}}\n");
            assert!(log.as_mut().is_some_and(|log| log.write(line.as_bytes()).is_ok()));
            assert!(log.as_mut().is_some_and(|log| log.flush_and_rotate().is_ok()));
        }
        let files = log_files(&dir);
        assert_eq!(files.len(), 4, "audit.log and the three newest rotated files: {files:?}");
        let text: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
        // Newest first: the last rows are in the current file or the newest rotated one, the first rows gone.
        assert!(text[..2].iter().any(|t| t.contains("\"row\":0049")));
        assert!(!text.iter().any(|t| t.contains("\"row\":0000")));
        let mode = std::fs::metadata(&files[1]).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        assert_eq!(mode.unwrap_or_default() & 0o777, 0o600);
    }

    #[test]
    fn an_old_file_rotates_and_expired_rotated_files_are_deleted() {
        let dir = tempfile::tempdir().ok();
        let dir = dir.as_ref().map(|d| d.path().to_owned()).unwrap_or_default();
        let expired = dir.join("audit-20200101T000000Z-000000.log");
        assert!(std::fs::write(&expired, "{}\n").is_ok());
        let old = SystemTime::now() - Duration::from_secs(90 * 24 * 60 * 60);
        assert!(File::options().write(true).open(&expired).and_then(|f| f.set_modified(old)).is_ok());
        let aged = AuditSettings { max_file_age: Duration::ZERO, ..AuditSettings::default() };
        let mut log = RotatingFile::open(&dir, aged).ok();
        assert!(log.as_mut().is_some_and(|log| log.write(b"{\"row\":1}\n").is_ok() && log.flush_and_rotate().is_ok()));
        let files = log_files(&dir);
        assert_eq!(files.len(), 2, "the fresh audit.log and the file just rotated: {files:?}");
        assert!(!expired.exists());
        assert_eq!(std::fs::read_to_string(&files[1]).unwrap_or_default(), "{\"row\":1}\n");
    }
}
