//! Interned label strings of the head: the symbol table.
//!
//! Every label name and value held by a head series is stored once here and
//! referred to by a `u32` id; series keep only ids. Ids are reference counted
//! so that strings of garbage-collected series are released and their ids
//! reused. [`Symbols`] is not synchronised: the head keeps it under the same
//! lock as the postings. It knows nothing of series, chunks or the WAL.

use hashbrown::HashTable;

/// A string interner with reference counts.
#[derive(Default)]
pub(crate) struct Symbols {
    strings: Vec<Box<str>>,
    refs: Vec<u32>,
    table: HashTable<u32>,
    free: Vec<u32>,
    bytes: usize,
}

/// The hash the symbol tables use.
pub(crate) fn hash_str(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

impl Symbols {
    /// The id of `s`, if interned.
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        let strings = &self.strings;
        self.table
            .find(hash_str(s), |&id| &*strings[id as usize] == s)
            .copied()
    }

    /// The string of an id. Ids not handed out by [`Symbols::intern`] give "".
    pub(crate) fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    /// Interns `s` and takes one reference on it.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        let h = hash_str(s);
        let strings = &self.strings;
        if let Some(&id) = self.table.find(h, |&id| &*strings[id as usize] == s) {
            self.refs[id as usize] += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = s.into();
                self.refs[id as usize] = 1;
                id
            }
            None => {
                self.strings.push(s.into());
                self.refs.push(1);
                (self.strings.len() - 1) as u32
            }
        };
        self.bytes += s.len();
        let strings = &self.strings;
        self.table
            .insert_unique(h, id, |&i| hash_str(&strings[i as usize]));
        id
    }

    /// Drops one reference; the string is freed when none remain.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(r) = self.refs.get_mut(id as usize) else {
            return;
        };
        if *r == 0 {
            return;
        }
        *r -= 1;
        if *r > 0 {
            return;
        }
        let s = std::mem::take(&mut self.strings[id as usize]);
        self.bytes -= s.len();
        if let Ok(e) = self.table.find_entry(hash_str(&s), |&i| i == id) {
            e.remove();
        }
        self.free.push(id);
    }

    /// Every live symbol as (id, string), in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &str)> {
        self.strings
            .iter()
            .enumerate()
            .filter(|(i, _)| self.refs[*i] > 0)
            .map(|(i, s)| (i as u32, &**s))
    }

    /// Number of live symbols.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Total bytes of live symbol strings.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_release_reuse() {
        let mut s = Symbols::default();
        let a = s.intern("a");
        let b = s.intern("bb");
        assert_eq!(s.intern("a"), a);
        assert_eq!(s.get(b), "bb");
        assert_eq!(s.lookup("a"), Some(a));
        assert_eq!(s.len(), 2);
        s.release(a);
        assert_eq!(s.lookup("a"), Some(a));
        s.release(a);
        assert_eq!(s.lookup("a"), None);
        assert_eq!(s.len(), 1);
        let c = s.intern("c");
        assert_eq!(c, a, "freed id is reused");
        assert_eq!(s.get(c), "c");
        assert_eq!(s.bytes(), 3);
    }
}
