//! Byte-level helpers shared by the on-disk formats (WAL records, checkpoint,
//! block index): LEB128 varints, zig-zag signed varints, length-prefixed
//! strings, and a bounds-checked [`Decoder`] that never panics on bad input.
//! Knows nothing of what the bytes mean.

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("unexpected end of data at offset {0}")]
    Truncated(usize),
    #[error("varint overflows 64 bits at offset {0}")]
    VarintOverflow(usize),
    #[error("string at offset {0} is not valid UTF-8")]
    InvalidUtf8(usize),
    #[error("unknown record type {0}")]
    UnknownType(u8),
    #[error("value out of range at offset {0}")]
    OutOfRange(usize),
}

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A cursor over bytes whose reads fail instead of panicking.
pub(crate) struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Decoder<'a> {
        Decoder { b, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.b.len()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos += 1;
        Ok(v)
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut x: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::VarintOverflow(start));
            }
            x |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(x);
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::VarintOverflow(start));
            }
        }
    }

    pub(crate) fn uvarint32(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        u32::try_from(self.uvarint()?).map_err(|_| DecodeError::OutOfRange(at))
    }

    pub(crate) fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let s = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::OutOfRange(at))?;
        let s = self.bytes(n)?;
        std::str::from_utf8(s).map_err(|_| DecodeError::InvalidUtf8(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_roundtrip(u in any::<u64>(), i in any::<i64>(), s in ".*") {
            let mut b = Vec::new();
            put_uvarint(&mut b, u);
            put_varint(&mut b, i);
            put_str(&mut b, &s);
            let mut d = Decoder::new(&b);
            prop_assert_eq!(d.uvarint().unwrap(), u);
            prop_assert_eq!(d.varint().unwrap(), i);
            prop_assert_eq!(d.str().unwrap(), s.as_str());
            prop_assert!(d.is_empty());
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut d = Decoder::new(&b);
            let _ = d.uvarint();
            let _ = d.str();
            let _ = d.varint();
            let _ = d.u64_le();
        }
    }
}
