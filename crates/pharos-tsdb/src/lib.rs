//! The metrics store: series index, head with compressed chunks, blocks, compaction, retention.
