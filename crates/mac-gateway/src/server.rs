//! Starting and stopping the gateway: [`Gateway::start`] opens the pools, binds the listener
//! (refusing a non-loopback address without an inbound key) and serves; [`RunningGateway`]
//! knows its address and stops gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mac_adapters::TlsConfig;
use mac_core::{AccountsStorage, MacConfig, MacPool};

use mac_executor::PoolEvent;
use mac_storage::{DataDir, Provider};
use snafu::ResultExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{BindSnafu, GatewayError, NoInboundKeySnafu, PoolSnafu, StorageSnafu};
use crate::events::{EventHub, GatewayEvent};
use crate::metrics::Metrics;
use crate::proxy::Upstream;
use crate::router::router;
use crate::state::{AppState, Parts, ProviderPool};

/// The gateway, ready to start.
#[derive(Debug)]
pub struct Gateway {
    data_dir: DataDir,
    config: MacConfig,
    descriptors: Vec<mac_adapters::ProviderDescriptor>,
}

impl Gateway {
    /// A gateway over the pools of `data_dir`, configured by `config` (its `[gateway]` section
    /// and everything the pools read).
    pub fn new(data_dir: DataDir, config: MacConfig) -> Self {
        Self { data_dir, config, descriptors: Vec::new() }
    }

    /// Uses `descriptor` for its provider instead of the configured one (embedding, tests).
    #[must_use]
    pub fn descriptor(mut self, descriptor: mac_adapters::ProviderDescriptor) -> Self {
        self.descriptors.retain(|d| d.provider != descriptor.provider);
        self.descriptors.push(descriptor);
        self
    }

    /// Opens both pools, binds `listen` and serves until [`RunningGateway::shutdown`]. Call
    /// inside a multi-thread tokio runtime.
    pub async fn start(self, listen: SocketAddr) -> Result<RunningGateway, GatewayError> {
        let settings = self.config.gateway.clone();
        if !listen.ip().is_loopback() && settings.inbound_key.is_none() {
            return NoInboundKeySnafu { addr: listen }.fail();
        }
        // One TLS configuration for the upstream client and both pools' clients: the system
        // roots are loaded once (it was two thirds of the start-up CPU, three times over).
        let tls =
            TlsConfig::new().map_err(|err| GatewayError::Client { message: err.to_string() })?;
        let upstream = Upstream::new(&settings, &tls)
            .map_err(|err| GatewayError::Client { message: err.to_string() })?;
        // Bound first: a taken port fails before any pool (claims keeper, refresher) starts.
        let listener = TcpListener::bind(listen).await.context(BindSnafu { addr: listen })?;
        let addr = listener.local_addr().context(BindSnafu { addr: listen })?;
        let events = EventHub::default();
        let metrics = Arc::new(Metrics::default());
        // One accounts storage for both pools: on PostgreSQL, one connection pool, one change
        // listener and one set of sessions instead of one per provider.
        let storage =
            AccountsStorage::open_for_pool(&self.config, &self.data_dir).context(StorageSnafu)?;
        let anthropic = self.open_pool(Provider::Anthropic, &storage, &events, &metrics, &tls)?;
        let codex = self.open_pool(Provider::Codex, &storage, &events, &metrics, &tls)?;
        let (stop, stopped) = watch::channel(false);
        let state = AppState::new(Parts {
            data_dir: self.data_dir,
            anthropic,
            codex,
            config: self.config,
            upstream,
            metrics,
            events,
            closing: stopped.clone(),
        });
        let app = router(state.clone());
        // The accept loop cannot fail: a failed accept is retried, a failed connection ends
        // only that connection.
        let task = tokio::spawn(crate::connections::serve(listener, app, stopped));
        Ok(RunningGateway { addr, state, stop, task })
    }

    /// `provider`'s pool, its events counted and published.
    fn open_pool(
        &self,
        provider: Provider,
        storage: &AccountsStorage,
        events: &EventHub,
        metrics: &Arc<Metrics>,
        tls: &TlsConfig,
    ) -> Result<ProviderPool, GatewayError> {
        let (hub, counters) = (events.clone(), Arc::clone(metrics));
        let sink: mac_executor::EventSink = Arc::new(move |event: &PoolEvent| {
            counters.pool_event(provider, event);
            hub.publish_with(|| GatewayEvent::Pool { provider, event: event.clone() });
        });
        let descriptor = match self.descriptors.iter().find(|d| d.provider == provider) {
            Some(descriptor) => descriptor.clone(),
            None => self
                .config
                .descriptor(provider)
                .map_err(|err| GatewayError::Endpoints { provider, message: err.to_string() })?,
        };
        let pool = MacPool::builder(self.data_dir.clone(), provider)
            .config(self.config.clone())
            .descriptor(descriptor.clone())
            .on_event(sink)
            .tls(tls.clone())
            .storage(storage.clone())
            .start()
            .context(PoolSnafu { provider })?;
        Ok(ProviderPool { pool, descriptor })
    }
}

/// A gateway that serves.
pub struct RunningGateway {
    addr: SocketAddr,
    state: AppState,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RunningGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningGateway").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RunningGateway {
    /// The address it listens on (the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The event hub (subscribe to see every pool event and finished request).
    pub fn events(&self) -> &EventHub {
        self.state.events()
    }

    /// Stops accepting, lets responses in flight finish for up to the configured grace time,
    /// then shuts the pools down (claims released, pending writes settled).
    pub async fn shutdown(self) -> Result<(), GatewayError> {
        let grace = self.state.settings().shutdown_grace;
        self.shutdown_within(grace).await
    }

    /// As [`shutdown`](Self::shutdown), with this grace time.
    pub async fn shutdown_within(self, grace: Duration) -> Result<(), GatewayError> {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!(grace = ?grace, "streams still open after the grace time; cutting them");
            task.abort();
        }
        for provider in Provider::ALL {
            self.state.pool(provider).shutdown().await;
        }
        Ok(())
    }
}
