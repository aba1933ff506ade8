//! [`Lease`]: the account a response handed to the caller was served by, held (its claim kept)
//! while the response streams, until the caller reports how it ended ([`StreamEnd`]) or drops
//! the lease. The end is reported back to the pool: an in-band error frame after the commit
//! point marks the account as the same frame before it would (a rate limit cools it down, an
//! overload rests it), without rotating; an upstream cut or a client gone marks nothing.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mac_claims::ClaimGuard;
use mac_storage::Credentials;

use crate::events::{PoolEvent, StreamEndKind};
use crate::pool::Pool;

/// How a response handed to the caller ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Read to its end.
    Completed,
    /// An in-band error frame after the commit point (passed through to the client): the
    /// account is marked as that error says (a rate limit cools it down, an overload rests
    /// it…), exactly as the same frame before the commit point would, except that nothing
    /// rotates.
    InBandError {
        /// The frame's event name (`error`, `response.failed`).
        event: String,
        /// The frame's data.
        data: Bytes,
    },
    /// The upstream cut the stream or went silent past the idle timeout. Not the account's
    /// fault: nothing is marked.
    UpstreamCut {
        /// What happened, without secrets (for the log).
        reason: String,
    },
    /// The client went away before the end; the upstream request is cancelled. Nothing marked.
    ClientGone,
}

impl StreamEnd {
    /// The end without its data (what [`PoolEvent::StreamEnded`] carries).
    pub fn kind(&self) -> StreamEndKind {
        match self {
            StreamEnd::Completed => StreamEndKind::Completed,
            StreamEnd::InBandError { .. } => StreamEndKind::InBandError,
            StreamEnd::UpstreamCut { .. } => StreamEndKind::UpstreamCut,
            StreamEnd::ClientGone => StreamEndKind::ClientGone,
        }
    }
}

/// The account a response was served by and what the request knew of it when it handed the
/// response over.
pub(crate) struct Served {
    /// The account's local uuid.
    pub(crate) account: String,
    /// Its label.
    pub(crate) label: String,
    /// The credentials the response was obtained with (a revoked mark names the token it saw).
    pub(crate) credentials: Credentials,
    /// Whether the request refreshed this account (one refresh per account per request).
    pub(crate) refreshed: bool,
}

/// The account a response was served by, held (claim kept) until [`Lease::finish`] or drop.
/// `Send + Sync + 'static` and cheap; neither `finish` nor `Drop` does I/O on the caller's
/// thread (a mark's file write goes behind, like the executor's other writes).
pub struct Lease {
    pool: Pool,
    served: Served,
    claim: Option<ClaimGuard>,
    started: Instant,
    reported: bool,
}

impl Lease {
    /// A lease over `claim` (none when the pool keeps no claims), starting now.
    pub(crate) fn new(pool: Pool, served: Served, claim: Option<ClaimGuard>) -> Self {
        Self { pool, served, claim, started: Instant::now(), reported: false }
    }

    /// The account's local uuid.
    pub fn account(&self) -> &str {
        &self.served.account
    }

    /// The account's label (for logs).
    pub fn label(&self) -> &str {
        &self.served.label
    }

    /// How long since the response was handed over.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reports how the response ended and releases the claim. Emits
    /// [`PoolEvent::StreamEnded`].
    pub fn finish(mut self, end: StreamEnd) {
        self.report(end);
    }

    fn report(&mut self, end: StreamEnd) {
        if std::mem::replace(&mut self.reported, true) {
            return;
        }
        let kind = end.kind();
        let served = &self.served;
        match end {
            StreamEnd::InBandError { event, data } => {
                self.pool.mark_after_commit(served, &event, &data);
            }
            StreamEnd::UpstreamCut { reason } => {
                tracing::info!(account = %served.label, reason, "the upstream cut the stream");
            }
            StreamEnd::Completed | StreamEnd::ClientGone => {}
        }
        // Released before the event, so a listener sees the account free.
        drop(self.claim.take());
        self.pool.emit(&PoolEvent::StreamEnded {
            account: served.account.clone(),
            end: kind,
            elapsed: self.started.elapsed(),
        });
    }
}

impl Drop for Lease {
    /// A lease dropped without [`Lease::finish`]: the client went away.
    fn drop(&mut self) {
        self.report(StreamEnd::ClientGone);
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("account", &self.served.account)
            .field("label", &self.served.label)
            .field("held", &self.claim.is_some())
            .field("reported", &self.reported)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_can_cross_threads_and_outlive_the_request() {
        fn assert_send_sync_static<T: Send + Sync + 'static>() {}
        assert_send_sync_static::<Lease>();
    }
}
