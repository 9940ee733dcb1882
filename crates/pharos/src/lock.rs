//! The data directory lock: one process at a time owns `--data-dir`.
//!
//! `pharos serve` holds an exclusive lock on `<data-dir>/lock` while it runs;
//! `pharos tsdb analyze|dump` take the same lock, so they never replay or
//! repair a WAL that a running server is writing.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::Context;

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Creates `dir` if needed and locks it, or says who holds it.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<DirLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.set_len(0);
            let _ = std::io::Write::write_all(
                &mut &file,
                format!("{}\n", std::process::id()).as_bytes(),
            );
            Ok(DirLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "data directory {} is in use by another pharos process (pid {}); stop it first or use another --data-dir",
                dir.display(),
                pid.trim()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn second_lock_fails() {
        let d = tempfile::tempdir().unwrap();
        let a = super::lock_data_dir(d.path()).unwrap();
        let err = super::lock_data_dir(d.path()).unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
        drop(a);
        assert!(super::lock_data_dir(d.path()).is_ok());
    }
}
