//! Segmented append-only write-ahead log with CRC32C-framed records, replay and torn-tail truncation.
