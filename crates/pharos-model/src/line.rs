//! [`Line`]: the text of one log entry, in a buffer it may share.
//!
//! A decoder that has a request's whole body in one buffer hands out each
//! line as a slice of it (a reference count, no copy and no allocation per
//! line), and the log store writes those slices into its segments as they
//! are. The buffer lives as long as its last line.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// UTF-8 text held in shared bytes. Derefs to `str`.
///
/// Invariant: the bytes are valid UTF-8; every constructor checks it or
/// starts from a `str`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Line(Bytes);

/// The bytes given to [`Line::from_utf8`] are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct InvalidUtf8;

impl Line {
    /// A line over `b`, if it is valid UTF-8 (checked with SIMD).
    pub fn from_utf8(b: Bytes) -> Result<Line, InvalidUtf8> {
        match simdutf8::basic::from_utf8(&b) {
            Ok(_) => Ok(Line(b)),
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// `b` as a line, invalid sequences replaced by U+FFFD (copied only
    /// then).
    pub fn from_utf8_lossy(b: Bytes) -> Line {
        match simdutf8::basic::from_utf8(&b) {
            Ok(_) => Line(b),
            Err(_) => Line::from(String::from_utf8_lossy(&b).into_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor either validated the bytes as UTF-8 or
        // took them from a `str` (the type's invariant), and `Bytes` never
        // changes the bytes it holds.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The shared bytes (cloning them costs a reference count).
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

impl Deref for Line {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// Hashes as the `str` does, as [`Borrow<str>`] requires.
impl Hash for Line {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl Borrow<str> for Line {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Line {
    /// Takes the string's buffer; no copy.
    fn from(s: String) -> Line {
        Line(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for Line {
    fn from(s: &str) -> Line {
        Line(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl serde::Serialize for Line {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for Line {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl PartialEq<String> for Line {
    fn eq(&self, o: &String) -> bool {
        self.as_str() == o.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_slice_of_a_shared_buffer_is_the_text_without_a_copy() {
        let buf = Bytes::from_static(b"first line\nsecond");
        let l = Line::from_utf8(buf.slice(11..)).expect("utf-8");
        assert_eq!(l, "second");
        assert_eq!(l.bytes().as_ptr(), buf[11..].as_ptr());
    }

    #[test]
    fn a_line_is_found_by_its_str_in_a_set() {
        let set: std::collections::HashSet<Line> = [Line::from("a"), Line::from("bc")].into();
        assert!(set.contains("bc") && !set.contains("b"));
    }

    #[test]
    fn invalid_utf8_is_refused_or_replaced() {
        let bad = Bytes::from_static(b"a\xffb");
        assert_eq!(Line::from_utf8(bad.clone()), Err(InvalidUtf8));
        assert_eq!(Line::from_utf8_lossy(bad), "a\u{fffd}b");
    }

    proptest! {
        #[test]
        fn from_utf8_agrees_with_std(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = Line::from_utf8(Bytes::from(b.clone()));
            match std::str::from_utf8(&b) {
                Ok(s) => prop_assert_eq!(ours.map(|l| l.as_str().to_owned()), Ok(s.to_owned())),
                Err(_) => prop_assert!(ours.is_err()),
            }
            let lossy = Line::from_utf8_lossy(Bytes::from(b.clone()));
            let want = String::from_utf8_lossy(&b).into_owned();
            prop_assert_eq!(lossy.as_str(), want.as_str());
        }
    }
}
