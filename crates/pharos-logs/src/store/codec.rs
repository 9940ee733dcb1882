//! Varints and length-prefixed strings shared by the WAL records and the
//! segment index, with a bounds-checked reader whose errors name the offset.

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{context}: byte {offset}: {what}")]
    Corrupt {
        context: &'static str,
        offset: usize,
        what: &'static str,
    },
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes [`put_uvarint`] takes for `v`.
pub(crate) fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over bytes from outside the process: every read is checked.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pub(crate) pos: usize,
    context: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8], context: &'static str) -> Reader<'a> {
        Reader { b, pos: 0, context }
    }

    pub(crate) fn err(&self, what: &'static str) -> CodecError {
        CodecError::Corrupt {
            context: self.context,
            offset: self.pos,
            what,
        }
    }

    pub(crate) fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.b.get(self.pos).ok_or_else(|| self.err("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    pub(crate) fn ivarint(&mut self) -> Result<i64, CodecError> {
        let z = self.uvarint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count of items that each take at least one byte: a larger count is
    /// corrupt.
    pub(crate) fn count(&mut self) -> Result<usize, CodecError> {
        let n = self.uvarint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.b.len() - self.pos => Ok(n),
            _ => Err(self.err("count larger than the record")),
        }
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.count()?;
        self.take(n)
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.b.len() - self.pos {
            return Err(self.err("truncated"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.pos..];
        self.pos = self.b.len();
        s
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, CodecError> {
        let at = self.pos;
        let s = self.bytes()?;
        std::str::from_utf8(s).map_err(|_| CodecError::Corrupt {
            context: self.context,
            offset: at,
            what: "string is not UTF-8",
        })
    }

    pub(crate) fn id(&mut self) -> Result<u32, CodecError> {
        u32::try_from(self.uvarint()?).map_err(|_| self.err("id over 32 bits"))
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), CodecError> {
        if self.pos != self.b.len() {
            return Err(self.err("trailing bytes"));
        }
        Ok(())
    }
}
