//! Backup folders on disk: a declared storage target's directory stands for its blob container, and a backup
//! folder is a directory in it holding the sealed contents.

use std::io;
use std::path::{Path, PathBuf};

use strongroom_core::full_backup::CONTENTS_FILE;

/// Writes `sealed` as the folder `folder` in `directory`: first into a hidden folder, renamed into place once
/// its file is durable, so that a folder that exists is whole. A folder of the same name is never replaced.
pub async fn write(directory: &Path, folder: &str, sealed: Vec<u8>) -> io::Result<()> {
    let (directory, folder) = (directory.to_path_buf(), folder.to_owned());
    blocking(move || {
        std::fs::create_dir_all(&directory)?;
        let target = directory.join(&folder);
        if target.exists() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the backup folder exists"));
        }
        let partial = directory.join(format!(".{folder}.partial"));
        std::fs::create_dir(&partial)?;
        let written = (|| {
            let file = partial.join(CONTENTS_FILE);
            std::fs::write(&file, &sealed)?;
            std::fs::File::open(&file)?.sync_all()?;
            std::fs::rename(&partial, &target)?;
            std::fs::File::open(&directory)?.sync_all()
        })();
        if written.is_err() {
            // What a failure left behind is no backup.
            let _ = std::fs::remove_dir_all(&partial);
        }
        written
    })
    .await
}

/// The sealed contents of the folder `folder` in `directory`; [`io::ErrorKind::NotFound`] when there is none.
pub async fn read(directory: &Path, folder: &str) -> io::Result<Vec<u8>> {
    let file: PathBuf = directory.join(folder).join(CONTENTS_FILE);
    blocking(move || std::fs::read(file)).await
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_folder_is_written_whole_once_and_read_back() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let container = dir.path().join("container");
        write(&container, "mhsm-a-1", b"sealed".to_vec()).await?;
        assert_eq!(read(&container, "mhsm-a-1").await?, b"sealed");
        let again = write(&container, "mhsm-a-1", b"other".to_vec()).await;
        assert!(again.is_err_and(|e| e.kind() == io::ErrorKind::AlreadyExists));
        assert_eq!(read(&container, "mhsm-a-1").await?, b"sealed");
        assert!(read(&container, "mhsm-a-2").await.is_err_and(|e| e.kind() == io::ErrorKind::NotFound));
        let names: Vec<_> = std::fs::read_dir(&container)?.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(names, ["mhsm-a-1"], "no partial folder is left");
        Ok(())
    }
}
