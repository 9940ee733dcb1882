//! The metrics store: series index, head with compressed chunks, blocks,
//! compaction, retention — [`Db`].
//!
//! Prometheus-2.42 semantics behind the storage seams of `pharos-model`:
//! [`Db`] is [`Appendable`](pharos_model::Appendable) (transactions that write
//! one WAL batch on commit, then update the in-memory head) and
//! [`Queryable`](pharos_model::Queryable) (a querier over one time range that
//! merges the head and the on-disk blocks). [`Db::maintenance`] cuts the head
//! into blocks, compacts them and applies retention.
//!
//! ```
//! use pharos_model::{Appendable, Labels, Matcher, Queryable};
//! use pharos_tsdb::{Db, Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default()).unwrap();
//! let up = Labels::from_pairs(&[("__name__", "up"), ("job", "node")]);
//! let mut app = db.appender();
//! app.append(&up, 1_000, 1.0).unwrap();
//! app.append(&up, 16_000, 0.0).unwrap();
//! app.commit().unwrap();
//!
//! let q = db.querier(0, 20_000).unwrap();
//! let series = q.select(&[Matcher::equal("job", "node")]).unwrap();
//! let samples: Vec<(i64, f64)> = series[0].samples().map(|s| (s.t, s.v)).collect();
//! assert_eq!(samples, vec![(1_000, 1.0), (16_000, 0.0)]);
//! db.close().unwrap();
//! ```
//!
//! Layout: `index` (postings and matcher evaluation), `head*` (the in-memory
//! head, split by direction of data flow: structure, append, read, WAL
//! replay), `block*` and `compact` (immutable blocks), `record` (WAL record
//! encoding), `chunkenc` (chunk compression), `tombstones` (deleted intervals
//! of `Db::delete_series`), `tools` (analyze, dump).
//!
//! **Invariants**: an acknowledged commit is in the WAL before the head sees
//! it; blocks never overlap in samples (the head accepts nothing older than
//! the newest block's end); a WAL segment is deleted only when every sample
//! in it is in a block and every series it defines is in a checkpoint.
//! This crate knows nothing of wire formats, PromQL or HTTP.

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
mod prefetch;
mod querier;
mod record;
mod symbols;
mod tombstones;
pub mod tools;

pub use block::{BlockCompaction, BlockError, BlockMeta, BlockStats};
pub use db::{Db, DbError, DbStats, MaintenanceReport, Options, CHUNK_SAMPLES};
pub use encoding::DecodeError;
pub use head_wal::ReplayStats;
pub use index::{check_selector, EmptySelectorError};
pub use pharos_wal::{FsyncPolicy, WalOptions, WalStats};
