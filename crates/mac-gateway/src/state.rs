//! The one state every route shares ([`AppState`], cheap to clone): the provider pools and
//! their descriptors, the upstream HTTP client, the settings, the metrics, the event hub, the
//! request counter and the status page's sign-in limiter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mac_adapters::ProviderDescriptor;
use mac_core::MacConfig;
use mac_core::MacPool;
use mac_core::config::GatewaySettings;
use mac_storage::{DataDir, Provider, Secret};
use tokio::sync::watch;

use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::proxy::Upstream;
use crate::status::SignInLimiter;

/// What the routes share.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Shared>,
}

/// One provider's pool and the descriptor its requests are shaped with.
pub(crate) struct ProviderPool {
    pub(crate) pool: MacPool,
    pub(crate) descriptor: ProviderDescriptor,
}

struct Shared {
    data_dir: DataDir,
    anthropic: ProviderPool,
    codex: ProviderPool,
    config: MacConfig,
    upstream: Upstream,
    metrics: Arc<Metrics>,
    events: EventHub,
    next_id: AtomicU64,
    closing: watch::Receiver<bool>,
    sign_in: SignInLimiter,
}

/// The parts [`AppState::new`] puts together.
pub(crate) struct Parts {
    pub(crate) data_dir: DataDir,
    pub(crate) anthropic: ProviderPool,
    pub(crate) codex: ProviderPool,
    pub(crate) config: MacConfig,
    pub(crate) upstream: Upstream,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) events: EventHub,
    /// Becomes `true` when the gateway starts shutting down.
    pub(crate) closing: watch::Receiver<bool>,
}

impl AppState {
    /// The state of these parts.
    pub(crate) fn new(parts: Parts) -> Self {
        let Parts { data_dir, anthropic, codex, config, upstream, metrics, events, closing } =
            parts;
        let shared = Shared {
            data_dir,
            anthropic,
            codex,
            config,
            upstream,
            metrics,
            events,
            next_id: AtomicU64::new(1),
            closing,
            sign_in: SignInLimiter::default(),
        };
        Self { inner: Arc::new(shared) }
    }

    fn provider(&self, provider: Provider) -> &ProviderPool {
        match provider {
            Provider::Anthropic => &self.inner.anthropic,
            Provider::Codex => &self.inner.codex,
        }
    }

    /// The pool of `provider`.
    pub(crate) fn pool(&self, provider: Provider) -> &MacPool {
        &self.provider(provider).pool
    }

    /// The descriptor `provider`'s requests are shaped with.
    pub(crate) fn descriptor(&self, provider: Provider) -> &ProviderDescriptor {
        &self.provider(provider).descriptor
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &DataDir {
        &self.inner.data_dir
    }

    /// The configuration the pools were opened with.
    pub(crate) fn config(&self) -> &MacConfig {
        &self.inner.config
    }

    /// The gateway's settings.
    pub(crate) fn settings(&self) -> &GatewaySettings {
        &self.inner.config.gateway
    }

    /// The inbound key, if one is configured.
    pub(crate) fn inbound_key(&self) -> Option<&Secret> {
        self.inner.config.gateway.inbound_key.as_ref()
    }

    /// The client to the providers.
    pub(crate) fn upstream(&self) -> &Upstream {
        &self.inner.upstream
    }

    /// The counters.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The event hub.
    pub(crate) fn events(&self) -> &EventHub {
        &self.inner.events
    }

    /// A new request id (1, 2, …).
    pub(crate) fn next_request_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The status page's per-address limit on guessing the inbound key.
    pub(crate) fn sign_in_limiter(&self) -> &SignInLimiter {
        &self.inner.sign_in
    }

    /// Becomes `true` when the gateway starts shutting down: endless responses (the status
    /// page's event stream) end then, so they never hold the graceful shutdown.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.clone()
    }
}
