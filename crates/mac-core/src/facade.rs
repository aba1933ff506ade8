//! One-call pool setup: a data directory and a provider in, a ready pool out — the accounts
//! store, the claims (the claims file; the database's claims table when the accounts are on
//! PostgreSQL), the provider client, the executor with its proactive refresher —
//! configured from `config.toml` (and `MAC_*` overrides), with a clean shutdown.

use std::future::Future;
use std::sync::Arc;

use mac_adapters::{AdapterClient, ProviderDescriptor, TlsConfig};
use mac_claims::Claims;
use mac_executor::{
    AttemptResponse, EventSink, ExecuteError, Executed, Pool, RequestInfo, SendError,
};
use mac_postgres::PostgresClaims;
use mac_storage::{Clock, DataDir, Provider, SystemClock};
use snafu::{ResultExt, Snafu};

use crate::accounts_backend::{AccountsStorage, open_storage};
use crate::config::MacConfig;

/// Why a pool could not be set up. Each variant says which file or setting to fix.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum SetupError {
    /// `config.toml` (or a `MAC_*` variable) is invalid.
    #[snafu(display("{source}"))]
    Config {
        /// Every problem found, with file, line and key.
        source: crate::config::ConfigErrors,
    },
    /// The data directory or the accounts file could not be opened.
    #[snafu(display("{source}"))]
    Store {
        /// The cause.
        source: mac_storage::StoreError,
    },
    /// `[storage] backend = "postgres"` without `[storage] url`.
    #[snafu(display(
        "[storage] backend = \"postgres\" needs [storage] url (or MAC_STORAGE_URL): the \
         database's postgres://USER:PASSWORD@HOST:PORT/DATABASE URL"
    ))]
    StorageUrlMissing,
    /// The PostgreSQL storage could not be opened.
    #[snafu(display("{source}"))]
    Postgres {
        /// The cause (it never shows the URL's password).
        source: mac_postgres::PostgresError,
    },
    /// The claims table could not be opened.
    #[snafu(display("{source}"))]
    ClaimsTable {
        /// The cause.
        source: mac_claims::ClaimsError,
    },
    /// An endpoint override is not a valid URL, or names no endpoint.
    #[snafu(display("{message}"))]
    Provider {
        /// What is wrong, naming the key.
        message: String,
    },
    /// The HTTP client could not be built.
    #[snafu(display("{source}"))]
    Client {
        /// The cause.
        source: mac_adapters::ClientBuildError,
    },
}

/// Builds a [`MacPool`].
pub struct MacPoolBuilder {
    data_dir: DataDir,
    provider: Provider,
    config: Option<MacConfig>,
    descriptor: Option<ProviderDescriptor>,
    clock: Arc<dyn Clock>,
    events: Option<EventSink>,
    tls: Option<TlsConfig>,
    storage: Option<AccountsStorage>,
}

impl MacPoolBuilder {
    /// Uses this configuration instead of reading `config.toml` and the process environment.
    #[must_use]
    pub fn config(mut self, config: MacConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Uses this provider descriptor instead of the configured one (tests: the loopback fake).
    #[must_use]
    pub fn descriptor(mut self, descriptor: ProviderDescriptor) -> Self {
        self.descriptor = Some(descriptor);
        self
    }

    /// The clock (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where the pool's events go (selected, rotated, cooled down, refreshed, disabled).
    #[must_use]
    pub fn on_event(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Opens the pool on `storage`, already open (it must be the one the configuration names),
    /// instead of opening it again: a process with both providers' pools (the gateway) shares
    /// one database connection pool, change listener and set of sessions.
    #[must_use]
    pub fn storage(mut self, storage: AccountsStorage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Shares `tls` with the process's other HTTP clients instead of loading the system roots
    /// for this pool's client again (a gateway opens two pools and has a client of its own).
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Opens everything — the accounts store on the configured backend
    /// ([`crate::open_account_store`]) — and starts the proactive refresher. Call inside a
    /// tokio runtime (outside one the pool works, without proactive refresh).
    pub fn start(self) -> Result<MacPool, SetupError> {
        let config = match self.config {
            Some(config) => config,
            None => MacConfig::load(&self.data_dir.config_file(), crate::config::process_env)
                .context(ConfigSnafu)?,
        };
        let (store, storage) = match self.storage {
            Some(storage) => {
                let store =
                    storage.pool_store(&self.data_dir, self.provider, config.store_options())?;
                (store, storage)
            }
            None => open_storage(&config, &self.data_dir, self.provider)?,
        };
        let store = Arc::new(store);
        let postgres = match &storage {
            AccountsStorage::Postgres(postgres) => Some(postgres),
            AccountsStorage::File(_) => None,
        };
        let descriptor = match self.descriptor {
            Some(descriptor) => descriptor,
            None => config
                .descriptor(self.provider)
                .map_err(|err| SetupError::Provider { message: err.to_string() })?,
        };
        let mut client = AdapterClient::builder(descriptor).clock(Arc::clone(&self.clock));
        if let Some(tls) = self.tls {
            client = client.tls(tls);
        }
        let client = client.build().context(ClientSnafu)?;
        let pool_config = config.pool_config(self.provider);
        // Pending-grant journals (and file refresh locks) are this host's files, in the data
        // directory (beside the accounts file, or where it would be on another backend).
        let mut builder = Pool::builder(Arc::clone(&store), client)
            .config(pool_config.clone())
            .clock(Arc::clone(&self.clock))
            .local_files(self.data_dir.accounts_file(self.provider));
        // The storage's refresh locks: lock files beside the accounts file, or the database's
        // (one refresh per account across every host of the pool).
        builder = builder.account_locks(storage.account_locks(self.provider));
        if pool_config.cross_process_claims {
            let claims = match postgres {
                // Claims across hosts: the claims table of the accounts' database.
                Some(postgres) => {
                    let store =
                        PostgresClaims::open(postgres, self.provider, &config.claims_options())
                            .context(PostgresSnafu)?;
                    Claims::builder_with_store(
                        Arc::new(store),
                        config.claims_options(),
                        Arc::clone(&self.clock),
                    )
                    .build()
                }
                None => Claims::open(
                    &self.data_dir,
                    self.provider,
                    config.claims_options(),
                    Arc::clone(&self.clock),
                )
                .context(ClaimsTableSnafu)?,
            };
            builder = builder.claims(claims);
        }
        if let Some(events) = self.events {
            builder = builder.on_event(events);
        }
        Ok(MacPool { pool: builder.build(), config, storage })
    }
}

/// A ready pool of one provider: everything a plugin needs to send requests with rotation,
/// refresh and waiting.
#[derive(Clone)]
pub struct MacPool {
    pool: Pool,
    config: MacConfig,
    storage: AccountsStorage,
}

impl MacPool {
    /// A builder for `provider`'s pool in `data_dir` (see [`DataDir::from_process_env`]).
    pub fn builder(data_dir: DataDir, provider: Provider) -> MacPoolBuilder {
        MacPoolBuilder {
            data_dir,
            provider,
            config: None,
            descriptor: None,
            clock: Arc::new(SystemClock),
            events: None,
            tls: None,
            storage: None,
        }
    }

    /// Sends a request through the pool (see [`Pool::execute`]). The answer's
    /// [`Executed::lease`] keeps its account held until the caller reports how the response
    /// ended (`lease.finish(StreamEnd::…)`) or drops it.
    pub async fn execute<R, F, Fut>(
        &self,
        request: &RequestInfo,
        send: F,
    ) -> Result<Executed<R>, ExecuteError>
    where
        R: AttemptResponse,
        F: FnMut(mac_executor::Attempt) -> Fut,
        Fut: Future<Output = Result<R, SendError>>,
    {
        self.pool.execute(request, send).await
    }

    /// The executor's pool: its store, refresh service and queries.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The configuration in effect.
    pub fn config(&self) -> &MacConfig {
        &self.config
    }

    /// The storage the pool's accounts are on (the data directory's files, or the database
    /// whose connections the pool uses): for reading views without opening it again.
    pub fn storage(&self) -> &AccountsStorage {
        &self.storage
    }

    /// Stops the proactive refresher (awaiting a refresh in flight), releases claims and writes
    /// pending bookkeeping.
    pub async fn shutdown(&self) {
        self.pool.shutdown().await;
    }
}
