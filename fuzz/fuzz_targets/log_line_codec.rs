//! Fuzzes the log line codec of segment data files
//! (`pharos_logs::store::linecodec`). The first byte picks the side:
//!
//! - even: the rest is a line (made UTF-8 lossily, as lines are): `split`
//!   then `join` must give the line back byte for byte, and the skeleton and
//!   variables must not be much larger than the line.
//! - odd: the rest is a skeleton and variables read from a damaged file (cut
//!   where the second byte says): `join` must return a line or an error,
//!   never panic, and an error must name a position inside its input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_logs::store::linecodec::{join, split, JoinError};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let line = String::from_utf8_lossy(rest);
        let (mut skel, mut vars) = (Vec::new(), Vec::new());
        split(line.as_bytes(), &mut skel, &mut vars);
        assert!(skel.len() + vars.len() <= line.len() * 2);
        let mut out = Vec::new();
        join(&skel, &vars, &mut out).expect("a split line joins");
        assert_eq!(out, line.as_bytes());
    } else if let Some((&cut, rest)) = rest.split_first() {
        let cut = usize::from(cut).min(rest.len());
        let (skel, vars) = rest.split_at(cut);
        let mut out = Vec::new();
        match join(skel, vars, &mut out) {
            Ok(()) => {}
            Err(
                JoinError::MissingWidth { at, .. }
                | JoinError::BadWidth { at, .. },
            ) => assert!(at < skel.len()),
            Err(JoinError::Truncated { at } | JoinError::TooWide { at, .. }) => {
                assert!(at <= vars.len())
            }
            Err(JoinError::LeftOver { left }) => assert!(left <= vars.len()),
        }
    }
});
