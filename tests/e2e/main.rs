//! End-to-end tests in Rust: start the real `pharos` binary on free loopback
//! ports and talk to it over the wire. The Python tests beside this folder
//! cover the third-party clients; these cover what needs precise control over
//! the wire (kill -9 in the middle of ingest).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod crash;
mod util;
mod wal;
