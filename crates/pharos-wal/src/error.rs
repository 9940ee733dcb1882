//! Errors of the write-ahead log: [`WalError`]. Knows nothing about what records contain.

use std::path::PathBuf;

/// Everything that can go wrong opening, appending to, replaying or truncating a WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// An operating-system error on a WAL file or directory.
    #[error("wal i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record larger than [`crate::MAX_RECORD_LEN`] was appended.
    #[error("wal record of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge { len: usize, max: usize },
    /// A record failed its checks while replaying (the file changed after `open` repaired it).
    #[error("corrupt wal record in {} at offset {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// The segment index would pass `u32::MAX`.
    #[error("wal segment index overflow")]
    SegmentIndexOverflow,
    /// `truncate_before` was asked to delete the segment being written.
    #[error("cannot truncate wal before segment {requested}: current segment is {current}")]
    TruncateBeyondCurrent { requested: u32, current: u32 },
}

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalError {
        let path = path.into();
        move |source| WalError::Io { path, source }
    }
}
