//! Fuzzes the log line codec of segment data files
//! (`pharos_logs::store::linecodec`). The first byte picks the side:
//!
//! - even: the rest is a line (made UTF-8 lossily, as lines are): `split`
//!   then `join` must give the line back byte for byte, and the skeleton and
//!   variables must not be much larger than the line.
//! - odd: the rest is a skeleton and variables read from a damaged file (cut
//!   where the second byte says): `join` must return a line or an error,
//!   never panic, and an error must name a position inside its input.
//! - 2 modulo 4: the rest is lines (one per `\n`): split, made a block
//!   (`encode_block`) and decoded (`decode_block`), they come back byte for
//!   byte.
//! - 3 modulo 4: the rest is a damaged block of as many rows as the second
//!   byte says: `decode_block` returns lines or an error, never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_logs::store::linecodec::{decode_block, encode_block, join, split, JoinError};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 4 == 2 {
        let text = String::from_utf8_lossy(rest);
        let lines: Vec<&str> = text.split('\n').collect();
        let split_lines: Vec<(Vec<u8>, Vec<u8>)> = lines
            .iter()
            .map(|l| {
                let (mut s, mut v) = (Vec::new(), Vec::new());
                split(l.as_bytes(), &mut s, &mut v);
                (s, v)
            })
            .collect();
        let rows: Vec<(&[u8], &[u8])> =
            split_lines.iter().map(|(s, v)| (&s[..], &v[..])).collect();
        let mut b = Vec::new();
        encode_block(&rows, &mut b);
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        decode_block(&b, lines.len(), &mut out, &mut ends).expect("an encoded block decodes");
        let mut from = 0;
        for (l, &e) in lines.iter().zip(&ends) {
            assert_eq!(&out[from..e], l.as_bytes());
            from = e;
        }
        return;
    }
    if mode % 4 == 3 {
        if let Some((&rows, rest)) = rest.split_first() {
            let (mut out, mut ends) = (Vec::new(), Vec::new());
            let _ = decode_block(rest, usize::from(rows), &mut out, &mut ends);
        }
        return;
    }
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
