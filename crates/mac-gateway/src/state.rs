//! The one state every route shares ([`AppState`], cheap to clone): the provider pools, the
//! upstream HTTP client, the settings, the event hub and the request counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mac_core::MacPool;
use mac_core::config::GatewaySettings;
use mac_storage::{DataDir, Provider};
use tokio::sync::watch;

use crate::events::EventHub;

/// What the routes share.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Shared>,
}

#[allow(dead_code, reason = "the proxy routes and /v1/pool read them (next commits)")]
struct Shared {
    data_dir: DataDir,
    anthropic: MacPool,
    codex: MacPool,
    settings: GatewaySettings,
    events: EventHub,
    next_id: AtomicU64,
    closing: watch::Receiver<bool>,
}

#[allow(dead_code, reason = "the proxy routes and /v1/pool use them (next commits)")]
impl AppState {
    /// The state over these pools.
    pub(crate) fn new(
        data_dir: DataDir,
        anthropic: MacPool,
        codex: MacPool,
        settings: GatewaySettings,
        events: EventHub,
        closing: watch::Receiver<bool>,
    ) -> Self {
        let shared =
            Shared {
            data_dir,
            anthropic,
            codex,
            settings,
            events,
            next_id: AtomicU64::new(1),
            closing,
        };
        Self { inner: Arc::new(shared) }
    }

    /// The pool of `provider`.
    pub(crate) fn pool(&self, provider: Provider) -> &MacPool {
        match provider {
            Provider::Anthropic => &self.inner.anthropic,
            Provider::Codex => &self.inner.codex,
        }
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &DataDir {
        &self.inner.data_dir
    }

    /// The gateway's settings.
    pub(crate) fn settings(&self) -> &GatewaySettings {
        &self.inner.settings
    }

    /// The event hub.
    pub(crate) fn events(&self) -> &EventHub {
        &self.inner.events
    }

    /// A new request id (1, 2, …).
    pub(crate) fn next_request_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Becomes `true` when the gateway starts shutting down (endless responses such as the
    /// status page's event stream end then, so they never hold the graceful shutdown).
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.clone()
    }
}
