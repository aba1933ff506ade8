//! [`PostgresStorage`]: one database and schema, as one process uses it — the client's
//! runtime, the connection pool, the migrated schema — from which the accounts stores of
//! each provider are made.

use std::sync::Arc;
use std::time::Duration;

use mac_storage::{AccountStore, Provider, Secret, StoreOptions};

use crate::account_locks::PostgresAccountLocks;
use crate::accounts::PostgresBackend;
use crate::changes::{self, Changes};
use crate::driver::Driver;
use crate::error::PostgresError;
use crate::pool::ConnectionPool;
use crate::schema;
use crate::tls::Tls;
use crate::url::{self, Target};

/// How a [`PostgresStorage`] connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The schema holding mac's tables (created if missing). Default `mac`.
    pub schema: String,
    /// The most connections open at once. Default 4.
    pub pool_size: usize,
    /// The longest wait for a new connection, unless the URL sets `connect_timeout`.
    /// Default 5 s.
    pub connect_timeout: Duration,
}

/// The schema mac uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "mac";

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// One database and schema shared by every mac process that names it. Share it as an
/// `Arc`; every store made from it uses its connections.
#[derive(Debug)]
pub struct PostgresStorage {
    // Dropped before the driver: idle connections close while their runtime still runs.
    pool: ConnectionPool,
    driver: Driver,
    schema: String,
    target: Target,
    schema_version: i32,
    changes: Arc<Changes>,
}

impl PostgresStorage {
    /// Connects to the database at `url`, creates the schema or applies its missing
    /// migrations, and refuses a schema newer than this build ([`PostgresError::SchemaNewer`]).
    /// Blocks (run it off an async worker).
    pub fn connect(url: &Secret, options: &PostgresOptions) -> Result<Arc<Self>, PostgresError> {
        let (driver, pool, target) = open_pool(url, options, options.pool_size)?;
        let schema_version = driver.wait(async {
            let mut client = pool.connect_client().await?;
            schema::migrate(&mut client, &options.schema, &target).await
        })?;
        tracing::debug!(%target, schema_version, "connected to the PostgreSQL storage");
        Ok(Arc::new(Self {
            pool,
            driver,
            schema: options.schema.clone(),
            target,
            schema_version,
            changes: Arc::new(Changes::default()),
        }))
    }

    /// The backend of `provider`'s accounts document.
    pub fn accounts(
        self: &Arc<Self>,
        provider: Provider,
        options: StoreOptions,
    ) -> PostgresBackend {
        PostgresBackend::new(Arc::clone(self), provider, options)
    }

    /// `provider`'s account store on this storage.
    pub fn account_store(
        self: &Arc<Self>,
        provider: Provider,
        options: StoreOptions,
    ) -> AccountStore {
        let backend = self.accounts(provider, options.clone());
        AccountStore::with_backend(Arc::new(backend), options)
    }

    /// The refresh locks of `provider`'s accounts on this storage, shared by every process and
    /// host that uses it ([`PostgresAccountLocks`]).
    pub fn account_locks(self: &Arc<Self>, provider: Provider) -> PostgresAccountLocks {
        PostgresAccountLocks::new(Arc::clone(self), provider)
    }

    /// Where the storage is, without the password (for messages and `mac status`).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The schema holding mac's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema version in force (this build's, after start-up).
    pub fn schema_version(&self) -> i32 {
        self.schema_version
    }

    /// Whether the change listener listens now (`LISTEN`/`NOTIFY`; started by the first
    /// `refresh_cached` of a store made from this storage). While it does not, a store's
    /// `refresh_cached` reads from the server like `load`.
    pub fn is_listening(&self) -> bool {
        self.changes.session().is_some()
    }

    /// How many change notifications this storage's listener has received (a diagnostic).
    pub fn notifications_received(&self) -> u64 {
        self.changes.received()
    }

    /// The change listener, started on first use.
    pub(crate) fn changes(&self) -> &Changes {
        if self.changes.is_started() {
            return &self.changes;
        }
        self.changes.start(
            self.driver.handle(),
            self.pool.config(),
            self.pool.tls(),
            changes::channel(&self.schema),
            self.target.clone(),
        );
        &self.changes
    }

    pub(crate) fn pool(&self) -> &ConnectionPool {
        &self.pool
    }

    pub(crate) fn driver(&self) -> &Driver {
        &self.driver
    }
}

/// The first steps of every use of a database: the schema name checked, the URL parsed (TLS
/// settings taken out), the TLS connector, the driver runtime, and a pool of up to `size`
/// connections (none opened yet).
pub(crate) fn open_pool(
    url: &Secret,
    options: &PostgresOptions,
    size: usize,
) -> Result<(Driver, ConnectionPool, Target), PostgresError> {
    schema::check_name(&options.schema)?;
    let (config, ssl) = url::parse(url, options.connect_timeout)?;
    let tls = Tls::new(&ssl)?;
    let target = Target::of(&config, &options.schema);
    let driver = Driver::start()?;
    let pool = ConnectionPool::new(
        config,
        tls,
        driver.handle().clone(),
        options.schema.clone(),
        target.clone(),
        size,
    );
    Ok((driver, pool, target))
}
