//! Fuzzes the packed timestamps of log segments
//! (`pharos_logs::store::tscodec`). The first byte picks the side:
//!
//! - even: the rest is runs of ascending timestamps (8 bytes each, made
//!   ascending by adding the absolute values up; a run ends at a value whose
//!   low byte is 0): `encode` then `decode` gives them back.
//! - odd: the rest is a damaged `timestamps` value for runs the next byte
//!   describes: `decode` returns timestamps or an error, never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_logs::store::tscodec::{decode, encode, RunSpan};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let mut ts = Vec::new();
        let mut runs: Vec<RunSpan> = Vec::new();
        let mut t = 0i64;
        let mut rows = 0u32;
        for c in rest.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            let v = i64::from_le_bytes(w);
            if rows == 0 {
                t = v / 2;
            } else {
                t = t.saturating_add((v >> 8).unsigned_abs().min(1 << 60) as i64);
            }
            ts.push(t);
            rows += 1;
            if c[0] == 0 {
                runs.push(RunSpan { rows, first: ts[ts.len() - rows as usize], last: t });
                rows = 0;
            }
        }
        if rows > 0 {
            runs.push(RunSpan { rows, first: ts[ts.len() - rows as usize], last: t });
        }
        let mut b = Vec::new();
        encode(&ts, &runs, &mut b).expect("ascending runs encode");
        let mut out = Vec::new();
        decode(&b, &runs, &mut out).expect("encoded timestamps decode");
        assert_eq!(out, ts);
    } else if let Some((&shape, rest)) = rest.split_first() {
        let runs: Vec<RunSpan> = (0..shape % 4)
            .map(|i| RunSpan {
                rows: u32::from(shape >> 2) + i as u32,
                first: i64::from(shape) << 40,
                last: (i64::from(shape) << 40) + 1_000_000,
            })
            .collect();
        let mut out = Vec::new();
        let _ = decode(rest, &runs, &mut out);
    }
});
