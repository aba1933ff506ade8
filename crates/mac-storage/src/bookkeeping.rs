//! Write coalescing for hot-path bookkeeping (D7): `lastUsed` values are batched, and a write
//! for bookkeeping alone happens at most once per interval for the whole store — so a pool of
//! 1,000 accounts served round-robin costs one write every few seconds, not one per account.
//! Between writes the newest values wait here and ride along with the next write of the file,
//! whatever causes it.

use std::collections::HashMap;
use std::time::Duration;

use crate::epoch::EpochMs;

/// `lastUsed` values not yet on disk, and when bookkeeping was last written.
#[derive(Debug, Default)]
pub(crate) struct Bookkeeping {
    interval: Duration,
    pending: HashMap<String, EpochMs>,
    last_write: Option<EpochMs>,
}

impl Bookkeeping {
    pub(crate) fn new(interval: Duration) -> Self {
        Self { interval, ..Self::default() }
    }

    /// Records a use at `now`; true when the pending bookkeeping is due to be written.
    pub(crate) fn note_use(&mut self, uuid: &str, now: EpochMs) -> bool {
        let pending = self.pending.entry(uuid.to_owned()).or_insert(now);
        *pending = (*pending).max(now);
        self.last_write.is_none_or(|written| now.duration_since(written) >= self.interval)
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
        }
        if let Some(latest) = values.iter().map(|(_, at)| *at).max() {
            self.last_write = Some(self.last_write.map_or(latest, |before| before.max(latest)));
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

    #[test]
    fn the_interval_is_shared_by_all_accounts() {
        let mut book = Bookkeeping::new(Duration::from_secs(5));
        let t = |s: i64| EpochMs::from_millis(s * 1000);
        assert!(book.note_use("a", t(0)));
        book.written(&book.pending());
        assert!(!book.note_use("b", t(1)), "another account's first use waits for the batch");
        assert!(!book.note_use("c", t(2)));
        assert!(book.note_use("d", t(5)));
        let mut batch = book.pending();
        batch.sort();
        assert_eq!(batch.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), ["b", "c", "d"]);
    }
}
