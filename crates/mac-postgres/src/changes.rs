//! Change notifications: how a process learns, without asking the server, that another
//! process committed a new accounts document — PostgreSQL's `LISTEN`/`NOTIFY`.
//!
//! Every commit of a document announces itself on the schema's channel ([`channel`]) with the
//! payload `<provider>:<generation>` (`statements.rs` sends it with the `UPDATE`, so it costs
//! no round trip, and `NOTIFY` is transactional: it is delivered only if, and once, the
//! commit is). Nothing secret is ever in a payload.
//!
//! [`Changes`] is one storage's listener: one connection of its own on the storage's runtime,
//! started on first use (a CLI command that never asks for a cheap refresh never opens it),
//! that records the newest generation announced per provider. A backend's
//! `refresh_cached` answers from its cache while the listener is up, has been up since that
//! cache was last checked against the server, and announced nothing newer than the cached
//! generation. Each connection that listens is a new *session*: notifications sent while no
//! connection listened are lost, so a cache checked in another session (or none) is read
//! again once. While the listener is down (the server restarting, unreachable), there is no
//! session and every `refresh_cached` is a plain read; the listener reconnects with a capped
//! backoff.
//!
//! What is not covered: a connection that dies silently (a peer host gone without a TCP reset)
//! is noticed only by TCP keepalives ([`KEEPALIVE_IDLE`]); until then a cache may lag. Views
//! that may lag are all that use it; decisions use `load` (one round trip, authoritative).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_postgres::AsyncMessage;

use crate::error::ClientFailure;
use crate::tls::Tls;
use crate::url::Target;

/// The first pause before the listener connects again after losing its connection; doubled
/// after each failed attempt up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(100);

/// The longest pause between two connection attempts of the listener.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// The longest the listener waits to connect and to start listening (the connect timeout
/// covers only the TCP connection; a server that accepts but never answers would hold it).
const SETUP_MAX: Duration = Duration::from_secs(10);

/// Idle time before the listener's connection is probed by TCP keepalives (a silently dead
/// connection would otherwise keep caches trusted for the system default of two hours).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// The longest channel name PostgreSQL keeps (`NAMEDATALEN - 1`); longer ones are truncated.
const CHANNEL_MAX: usize = 63;

/// The notification channel of `schema` (a checked name: `[a-z0-9_]`, so it needs no quoting
/// as a literal or identifier): `mac_accounts_<schema>`, or a hash of the schema when that
/// would be longer than PostgreSQL keeps (two long names must not share a truncated channel).
pub(crate) fn channel(schema: &str) -> String {
    let name = format!("mac_accounts_{schema}");
    if name.len() <= CHANNEL_MAX {
        return name;
    }
    let digest = Sha256::digest(schema.as_bytes());
    let mut key = [0_u8; 8];
    key.copy_from_slice(&digest[..8]);
    format!("mac_accounts_{:016x}", u64::from_be_bytes(key))
}

/// What the listener knows.
#[derive(Debug, Default)]
struct State {
    /// The session listening now; `None` while no connection listens.
    session: Option<u64>,
    /// The last session number handed out.
    sessions: u64,
    /// The newest generation announced per provider (`Provider::as_str`).
    announced: HashMap<String, u64>,
    /// Notifications received (a diagnostic).
    received: u64,
}

/// One storage's change listener (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Changes {
    state: Mutex<State>,
    started: AtomicBool,
}

impl Changes {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The listening session, `None` while no connection listens.
    pub(crate) fn session(&self) -> Option<u64> {
        self.state().session
    }

    /// The newest generation of `provider`'s document announced so far (0: none).
    pub(crate) fn announced(&self, provider: &str) -> u64 {
        self.state().announced.get(provider).copied().unwrap_or(0)
    }

    /// How many notifications the listener received.
    pub(crate) fn received(&self) -> u64 {
        self.state().received
    }

    /// Whether the listener was started (it may be down now).
    pub(crate) fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Starts the listener on `runtime` unless it runs already.
    pub(crate) fn start(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        config: &tokio_postgres::Config,
        tls: &Tls,
        channel: String,
        target: Target,
    ) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut config = config.clone();
        let tls = tls.clone();
        config.keepalives(true).keepalives_idle(KEEPALIVE_IDLE);
        let changes = Arc::clone(self);
        // Ends with the runtime (the storage's drop).
        drop(runtime.spawn(async move { changes.run(config, tls, channel, target).await }));
    }

    /// Listens, reconnecting with backoff, until the runtime stops.
    async fn run(
        self: Arc<Self>,
        config: tokio_postgres::Config,
        tls: Tls,
        channel: String,
        target: Target,
    ) {
        let mut pause = RECONNECT_FIRST;
        loop {
            match self.listen(&config, &tls, &channel).await {
                Ok(()) => {
                    tracing::info!(%target, "the PostgreSQL change listener's connection ended");
                    pause = RECONNECT_FIRST;
                }
                // Said once at `info` when a listening connection is lost; the failed attempts
                // after it only at `debug` (one every 5 s through a long outage).
                Err(Failure { listened: true, failure }) => {
                    tracing::info!(%target, error = %failure,
                        "the PostgreSQL change listener is down; reads go to the server");
                    pause = RECONNECT_FIRST;
                }
                Err(Failure { listened: false, failure }) => {
                    tracing::debug!(%target, error = %failure, retry_in_ms = pause.as_millis(),
                        "the PostgreSQL change listener could not connect");
                }
            }
            self.state().session = None;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }

    /// One connection: `LISTEN`, then a new session while the connection lasts.
    async fn listen(
        self: &Arc<Self>,
        config: &tokio_postgres::Config,
        tls: &Tls,
        channel: &str,
    ) -> Result<(), Failure> {
        let failed = |listened| {
            move |err: tokio_postgres::Error| Failure {
                listened,
                failure: ClientFailure::from_client(&err).to_string(),
            }
        };
        let (client, mut connection) =
            match tokio::time::timeout(SETUP_MAX, config.connect(tls.clone())).await {
                Ok(connected) => connected.map_err(failed(false))?,
                Err(_) => return Err(Failure::timed_out()),
            };
        // The connection's messages are read by a task of their own, so that the `LISTEN`
        // below (whose answer comes through the same connection) can complete.
        let (ended_tx, ended) = tokio::sync::oneshot::channel();
        let reader = {
            let changes = Arc::clone(self);
            tokio::spawn(async move {
                let end = loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(note))) => {
                            changes.notified(note.payload());
                        }
                        Some(Ok(_)) => {}
                        Some(Err(err)) => break Err(err),
                        None => break Ok(()),
                    }
                };
                // The listener may be gone already (the runtime stopping).
                let _ = ended_tx.send(end);
            })
        };
        let listen = format!("LISTEN {channel}");
        match tokio::time::timeout(SETUP_MAX, client.batch_execute(&listen)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                reader.abort();
                return Err(failed(false)(err));
            }
            Err(_) => {
                reader.abort();
                return Err(Failure::timed_out());
            }
        }
        {
            let mut state = self.state();
            state.sessions += 1;
            state.session = Some(state.sessions);
        }
        tracing::debug!(channel, "listening for changes");
        let end = ended.await.unwrap_or(Ok(()));
        self.state().session = None;
        drop(client);
        end.map_err(failed(true))
    }
}

impl Changes {
    /// Records the notification `payload` (`<provider>:<generation>`; anything else is
    /// ignored).
    fn notified(&self, payload: &str) {
        let mut state = self.state();
        state.received += 1;
        let Some((provider, generation)) = payload.rsplit_once(':') else { return };
        let Ok(generation) = generation.parse::<u64>() else { return };
        let announced = state.announced.entry(provider.to_owned()).or_insert(0);
        *announced = (*announced).max(generation);
    }
}

/// Why one listening connection ended.
struct Failure {
    /// Whether it had listened (a session started) before it failed.
    listened: bool,
    failure: String,
}

impl Failure {
    /// A connection or `LISTEN` that took longer than [`SETUP_MAX`] (a server that accepts
    /// connections but does not answer).
    fn timed_out() -> Self {
        Self { listened: false, failure: format!("no answer within {} s", SETUP_MAX.as_secs()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_per_schema_and_never_truncated() {
        assert_eq!(channel("mac"), "mac_accounts_mac");
        let long_a = format!("{}a", "x".repeat(60));
        let long_b = format!("{}b", "x".repeat(60));
        assert!(channel(&long_a).len() <= CHANNEL_MAX);
        assert_ne!(channel(&long_a), channel(&long_b));
    }

    #[test]
    fn notifications_raise_the_announced_generation_only() {
        let changes = Changes::default();
        changes.notified("anthropic:7");
        changes.notified("anthropic:5");
        changes.notified("codex:2");
        changes.notified("garbage");
        assert_eq!(changes.announced("anthropic"), 7);
        assert_eq!(changes.announced("codex"), 2);
        assert_eq!(changes.announced("other"), 0);
        assert_eq!(changes.received(), 4);
    }
}
