//! Fuzzes the token index of log segments (`pharos_logs::store::tokens`).
//! The first byte picks the side:
//!
//! - even: the rest is lines (made UTF-8 lossily, one per `\n`, three per
//!   row group): every token of every line, searched as a whole token in the
//!   buckets `encode_buckets` wrote and `decode` read back, finds its groups.
//! - odd: the rest is a bucket read from a damaged file, of tokens of the
//!   length the second byte says (0: of several lengths): `decode` and
//!   `decode_text` return an index or an error, never panic, and searching a
//!   decoded index does not panic either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_logs::store::tokens::{
    bucket_may_fit, for_each_token, pieces, Fit, Piece, TokenIndex, TokenIndexBuilder,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let text = String::from_utf8_lossy(rest);
        let lines: Vec<&str> = text.split('\n').collect();
        let mut b = TokenIndexBuilder::default();
        for (i, l) in lines.iter().enumerate() {
            b.add(l.as_bytes(), (i / 3) as u32);
        }
        let n = lines.len().div_ceil(3);
        let buckets: Vec<(u32, u32, TokenIndex)> = b
            .encode_buckets()
            .into_iter()
            .map(|e| {
                let ix = TokenIndex::decode(&e.bytes, e.min_len, e.max_len)
                    .expect("a written bucket decodes");
                (e.min_len, e.max_len, ix)
            })
            .collect();
        for (i, l) in lines.iter().enumerate() {
            for_each_token(l.as_bytes(), |t| {
                let p = Piece {
                    text: t.to_vec(),
                    fit: Fit::Whole,
                };
                let mut g = vec![false; n];
                for (lo, hi, ix) in &buckets {
                    if bucket_may_fit(&p, *lo, *hi) {
                        ix.add_groups(&p, &mut g);
                    }
                }
                assert!(g[i / 3], "token {t:?} of line {i} not found");
            });
        }
    } else if let Some((&len, rest)) = rest.split_first() {
        let (lo, hi) = if len == 0 {
            (25, 32)
        } else {
            (u32::from(len), u32::from(len))
        };
        let search = |ix: &TokenIndex| {
            for p in pieces("ab 12 x7f") {
                let _ = ix.groups(&p, 8);
            }
        };
        if let Ok(ix) = TokenIndex::decode(rest, lo, hi) {
            search(&ix);
        }
        if let Ok(ix) = TokenIndex::decode_text(rest) {
            search(&ix);
        }
    }
});
