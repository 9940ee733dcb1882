//! The read side of the WAL: [`Replay`], an iterator over every intact record from the oldest
//! segment to the newest. Knows nothing about what records contain.

use crate::segment::{segment_path, SegmentReader};
use crate::{Wal, WalError};

/// Iterator returned by [`Wal::replay`]: yields `(segment index, record bytes)`.
///
/// After `Wal::open` has repaired the directory every record is intact. If a file was damaged
/// since (or cannot be read), the iterator yields one `Err` and then ends.
pub struct Replay<'a> {
    wal: &'a Wal,
    pending: std::vec::IntoIter<u32>,
    current: Option<(u32, SegmentReader)>,
    /// The sequence number the next segment must start at, when known.
    next_first: Option<u64>,
    done: bool,
}

impl Wal {
    /// Iterates every record from the oldest segment to the newest. Call it before appending:
    /// records appended while a `Replay` is alive may or may not be seen.
    pub fn replay(&self) -> Result<Replay<'_>, WalError> {
        Ok(Replay {
            wal: self,
            pending: self.segments().into_iter(),
            current: None,
            next_first: None,
            done: false,
        })
    }
}

impl Replay<'_> {
    fn step(&mut self) -> Result<Option<(u32, Vec<u8>)>, WalError> {
        loop {
            let (index, reader) = match &mut self.current {
                Some(cur) => cur,
                None => {
                    let Some(index) = self.pending.next() else {
                        return Ok(None);
                    };
                    let path = segment_path(self.wal.dir(), index);
                    match SegmentReader::open(path.clone())? {
                        Ok(reader) => {
                            if let (Some(want), Some(first)) = (self.next_first, reader.first) {
                                if want != first {
                                    return Err(WalError::Corrupt {
                                        path,
                                        offset: 0,
                                        reason: "segment does not start where the one before it ends (records lost)",
                                    });
                                }
                            }
                            self.current.insert((index, reader))
                        }
                        Err(d) => {
                            return Err(WalError::Corrupt {
                                path,
                                offset: d.offset,
                                reason: d.reason,
                            })
                        }
                    }
                }
            };
            let mut rec = Vec::new();
            match reader.next_record(&mut rec)? {
                Ok(true) => return Ok(Some((*index, rec))),
                Ok(false) => {
                    self.next_first = reader.first.map(|f| f + reader.records);
                    self.current = None;
                }
                Err(d) => {
                    return Err(WalError::Corrupt {
                        path: reader.path.clone(),
                        offset: d.offset,
                        reason: d.reason,
                    })
                }
            }
        }
    }
}

impl Iterator for Replay<'_> {
    type Item = Result<(u32, Vec<u8>), WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let res = self.step().transpose();
        if !matches!(res, Some(Ok(_))) {
            self.done = true;
        }
        res
    }
}
