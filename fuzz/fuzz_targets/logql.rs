//! Fuzzes the LogQL parser: no input may make `parse_expr` panic (or
//! overflow the stack), an error must point inside the query, and whatever it
//! accepts must print to a query that parses back to the same tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_logs::logql::parse_expr;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    match parse_expr(query) {
        Ok(expr) => {
            let printed = expr.to_string();
            let again = match parse_expr(&printed) {
                Ok(e) => e,
                Err(e) => panic!("{query:?} printed as {printed:?}, which fails: {e}"),
            };
            assert_eq!(again, expr, "{query:?} printed as {printed:?}");
            assert_eq!(again.to_string(), printed, "printing is not stable");
        }
        Err(e) => {
            assert!(e.pos <= query.len() && query.is_char_boundary(e.pos));
            assert!(e.line >= 1 && e.col >= 1 && !e.msg.is_empty());
        }
    }
});
