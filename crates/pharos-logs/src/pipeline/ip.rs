//! `ip("...")` matching: one address, a CIDR block or a range `a-b`, IPv4 or IPv6.

use std::net::IpAddr;

/// A compiled `ip()` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpMatcher {
    v6: bool,
    lo: u128,
    hi: u128,
}

fn bits(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u128::from(u32::from(v))),
        IpAddr::V6(v) => match v.to_ipv4_mapped() {
            Some(v4) => (false, u128::from(u32::from(v4))),
            None => (true, u128::from(v)),
        },
    }
}

impl IpMatcher {
    /// Parses `192.168.0.1`, `192.168.0.0/16`, `10.0.0.1-10.0.0.9`, `::1`,
    /// `2001:db8::/32`.
    pub(crate) fn new(pattern: &str) -> Result<IpMatcher, String> {
        let p = pattern.trim();
        let bad = || format!("invalid ip pattern {pattern:?}");
        if let Some((a, len)) = p.split_once('/') {
            let (v6, base) = bits(a.trim().parse::<IpAddr>().map_err(|_| bad())?);
            let width = if v6 { 128 } else { 32 };
            let len: u32 = len.trim().parse().map_err(|_| bad())?;
            if len > width {
                return Err(bad());
            }
            let host = if len == width {
                0
            } else {
                (u128::MAX >> (128 - width + len)) & (u128::MAX >> (128 - width))
            };
            let lo = base & !host;
            return Ok(IpMatcher {
                v6,
                lo,
                hi: lo | host,
            });
        }
        if let Some((a, b)) = p.split_once('-') {
            let (v6a, lo) = bits(a.trim().parse::<IpAddr>().map_err(|_| bad())?);
            let (v6b, hi) = bits(b.trim().parse::<IpAddr>().map_err(|_| bad())?);
            if v6a != v6b || lo > hi {
                return Err(bad());
            }
            return Ok(IpMatcher { v6: v6a, lo, hi });
        }
        let (v6, v) = bits(p.parse::<IpAddr>().map_err(|_| bad())?);
        Ok(IpMatcher { v6, lo: v, hi: v })
    }

    /// Whether the address is in the range.
    pub(crate) fn contains(&self, a: IpAddr) -> bool {
        let (v6, v) = bits(a);
        v6 == self.v6 && self.lo <= v && v <= self.hi
    }

    /// Whether the string is one address in the range.
    pub(crate) fn matches_str(&self, s: &str) -> bool {
        s.trim().parse::<IpAddr>().is_ok_and(|a| self.contains(a))
    }

    /// Whether the line contains an address in the range: every maximal run
    /// of hex digits, `.` and `:` is tried as an address (trailing `.`/`:`
    /// removed, so `host 10.0.0.1.` and `10.0.0.1:8080` are found).
    pub(crate) fn matches_line(&self, line: &str) -> bool {
        let is_ip_char = |c: char| c.is_ascii_hexdigit() || c == '.' || c == ':';
        line.split(|c: char| !is_ip_char(c)).any(|tok| {
            if tok.is_empty() || !tok.contains(['.', ':']) {
                return false;
            }
            let t = tok.trim_matches(['.', ':']);
            if self.matches_str(t) || self.matches_str(tok) {
                return true;
            }
            // `10.0.0.1:8080`: an IPv4 address followed by a port.
            t.rsplit_once(':').is_some_and(|(h, p)| {
                h.contains('.') && p.bytes().all(|b| b.is_ascii_digit()) && self.matches_str(h)
            })
        })
    }
}
