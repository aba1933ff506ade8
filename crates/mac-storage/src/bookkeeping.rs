//! Write coalescing for hot-path bookkeeping (D7): `lastUsed` is written at most once per
//! account per interval; between writes the newest value waits here and rides along with the
//! next write of the file, whatever causes it.

use std::collections::HashMap;
use std::time::Duration;

use crate::epoch::EpochMs;

/// `lastUsed` values not yet on disk, and when each account's was last written.
#[derive(Debug, Default)]
pub(crate) struct Bookkeeping {
    interval: Duration,
    pending: HashMap<String, EpochMs>,
    last_written: HashMap<String, EpochMs>,
}

impl Bookkeeping {
    pub(crate) fn new(interval: Duration) -> Self {
        Self { interval, ..Self::default() }
    }

    /// Records a use at `now`; true when the account's `lastUsed` is due to be written.
    pub(crate) fn note_use(&mut self, uuid: &str, now: EpochMs) -> bool {
        let pending = self.pending.entry(uuid.to_owned()).or_insert(now);
        *pending = (*pending).max(now);
        self.last_written
            .get(uuid)
            .is_none_or(|written| now.duration_since(*written) >= self.interval)
    }

    /// The values to write with the next write of the file.
    pub(crate) fn pending(&self) -> Vec<(String, EpochMs)> {
        self.pending.iter().map(|(uuid, at)| (uuid.clone(), *at)).collect()
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Forgets the values that a successful write put on disk (newer ones noted meanwhile stay).
    pub(crate) fn written(&mut self, values: &[(String, EpochMs)]) {
        for (uuid, at) in values {
            if self.pending.get(uuid).is_some_and(|pending| pending <= at) {
                self.pending.remove(uuid);
            }
            self.last_written.insert(uuid.clone(), *at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_use_is_due_then_coalesced_until_the_interval_passes() {
        let mut book = Bookkeeping::new(Duration::from_secs(5));
        let t = |s: i64| EpochMs::from_millis(s * 1000);
        assert!(book.note_use("a", t(0)));
        book.written(&book.pending());
        assert!(!book.has_pending());
        assert!(!book.note_use("a", t(1)));
        assert!(!book.note_use("a", t(4)));
        assert_eq!(book.pending(), vec![("a".to_owned(), t(4))]);
        assert!(book.note_use("a", t(5)));
        let flushed = book.pending();
        // A use noted while the write is in flight (due again: the last write on record is t(0)).
        assert!(book.note_use("a", t(6)));
        book.written(&flushed);
        // t(6) was noted after the snapshot that was written, so it stays pending.
        assert_eq!(book.pending(), vec![("a".to_owned(), t(6))]);
    }
}
