//! Segmented append-only write-ahead log with CRC32C-framed records, replay and torn-tail
//! truncation. The main type is [`Wal`]; the byte format is specified in `docs/format/wal.md`.
//!
//! Records are opaque byte strings: this crate never knows what they mean (samples, series,
//! log lines, spans) nor who replays them. It is used by the metrics TSDB and later the log and
//! trace stores, each with its own directory.
//!
//! * **Durability**: [`Wal::append`] returns after `write(2)`, so records survive a process
//!   crash. [`FsyncPolicy`] bounds loss on power failure: `Always` fsyncs before returning,
//!   `Interval(d)` fsyncs on the first append at least `d` after the oldest unsynced write, and
//!   the owner calls [`Wal::sync_if_due`] from a timer (no background thread), `Never` leaves it
//!   to the OS.
//! * **Repair**: [`Wal::open`] never fails on bad data. It truncates a torn or corrupt tail,
//!   deletes segments after a corrupt one, and logs each with file and offset.
//! * **Segments**: a record never spans segments; a segment exceeds `segment_size` only to hold
//!   a batch that does not fit in an empty segment.
//!
//! ```
//! use pharos_wal::{Wal, WalOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
//! wal.append(b"hello").unwrap();
//! wal.append_batch(&[b"a", b"b"]).unwrap();
//! drop(wal);
//!
//! let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
//! let recs: Vec<Vec<u8>> = wal.replay().unwrap().map(|r| r.unwrap().1).collect();
//! assert_eq!(recs, vec![b"hello".to_vec(), b"a".to_vec(), b"b".to_vec()]);
//! ```

mod error;
mod replay;
mod segment;
mod wal;

use std::time::Duration;

pub use error::WalError;
pub use replay::Replay;
pub use wal::{Wal, WalStats};

/// Largest record accepted by [`Wal::append`] (1 GiB).
pub const MAX_RECORD_LEN: usize = 1 << 30;

/// When appended data is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before every append returns.
    Always,
    /// At most about this long after a write (see [`Wal::sync_if_due`]).
    Interval(Duration),
    /// Never explicitly; the OS writes back when it likes. Segment cuts do not fsync either.
    Never,
}

/// How a [`Wal`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A new segment is started when a batch would push the current one past this size.
    pub segment_size: u64,
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 * 1024 * 1024,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
        }
    }
}
