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
//!
//! In modes 2 and 3, bit 2 of the first byte makes the block timed: the
//! rows' timestamps start at the next 8 bytes and step by the 8 after.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_logs::store::linecodec::{decode_block, encode_block, join, split, JoinError};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut timed = None;
    let mut rest = rest;
    if mode % 4 >= 2 && mode & 4 != 0 {
        if rest.len() < 16 {
            return;
        }
        let word = |b: &[u8]| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        timed = Some((word(&rest[..8]), word(&rest[8..16])));
        rest = &rest[16..];
    }
    let times = |rows: usize| -> Option<Vec<i64>> {
        timed.map(|(t0, step)| {
            (0..rows as i64)
                .map(|i| t0.wrapping_add(i.wrapping_mul(step)))
                .collect()
        })
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
        let ts = times(rows.len());
        let mut b = Vec::new();
        encode_block(&rows, ts.as_deref(), &mut b);
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        decode_block(&b, lines.len(), ts.as_deref(), &mut out, &mut ends)
            .expect("an encoded block decodes");
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
            let ts = times(usize::from(rows));
            let _ = decode_block(rest, usize::from(rows), ts.as_deref(), &mut out, &mut ends);
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
