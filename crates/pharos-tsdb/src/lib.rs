//! The metrics store: series index, head with compressed chunks, blocks, compaction, retention.

mod block;
mod block_writer;
pub mod chunkenc;
mod compact;
mod db;
mod encoding;
mod fxhash;
mod head;
mod head_append;
mod head_read;
mod head_wal;
pub mod index;
mod querier;
mod record;
mod symbols;
pub mod tools;

pub use block::{BlockCompaction, BlockError, BlockMeta, BlockStats};
pub use db::{Db, DbError, DbStats, MaintenanceReport, Options, CHUNK_SAMPLES};
pub use encoding::DecodeError;
pub use head_wal::ReplayStats;
pub use index::{check_selector, EmptySelectorError};
pub use pharos_wal::{FsyncPolicy, WalOptions, WalStats};
