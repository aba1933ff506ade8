//! Opening the accounts storage `config.toml` names (`[storage] backend`, `url`): the accounts
//! files in the data directory, or a PostgreSQL database shared by several hosts
//! (`mac-postgres`, schema `mac`) — and describing it for `mac status` and `/v1/pool` without
//! the URL's password.

use std::sync::Arc;

use mac_claims::{Claims, ClaimsOptions, ClaimsSnapshot};
use mac_postgres::{PostgresClaims, PostgresOptions, PostgresStorage};
use mac_storage::{
    AccountLocks, AccountStore, DataDir, FileAccountLocks, Provider, StoreOptions, SystemClock,
};
use serde::Serialize;
use snafu::ResultExt;

use crate::config::{MacConfig, StorageBackend};
use crate::facade::{PostgresSnafu, SetupError, StoreSnafu};

/// `provider`'s accounts store as `config` says: `[storage] backend = "file"` opens the file
/// in `data_dir`; `"postgres"` connects to `[storage] url`, migrating its schema at the first
/// start. Either way `data_dir` is created (`0700`) if needed. Blocks (file system or network); call it off an
/// async worker when the caller is serving.
pub fn open_account_store(
    config: &MacConfig,
    data_dir: &DataDir,
    provider: Provider,
) -> Result<AccountStore, SetupError> {
    open_storage(config, data_dir, provider).map(|opened| opened.store)
}

/// A provider's accounts store, and the storage it is on, whose other parts (the refresh
/// locks, the claims) the pool shares with it: one storage, one set of connections.
pub(crate) struct OpenedStorage {
    pub(crate) store: AccountStore,
    pub(crate) storage: AccountsStorage,
}

/// [`open_account_store`], keeping the PostgreSQL storage for the pool's other parts.
pub(crate) fn open_storage(
    config: &MacConfig,
    data_dir: &DataDir,
    provider: Provider,
) -> Result<OpenedStorage, SetupError> {
    let options = config.store_options();
    match config.storage.backend {
        StorageBackend::File => {
            let store = AccountStore::open(data_dir, provider, options).context(StoreSnafu)?;
            Ok(OpenedStorage { store, storage: AccountsStorage::File(data_dir.clone()) })
        }
        StorageBackend::Postgres => {
            // The data directory still holds this host's files: config, claims and the
            // pending-grant journals.
            data_dir.ensure().map_err(|source| SetupError::Store { source: source.into() })?;
            let storage = connect_postgres(config)?;
            tracing::info!(target = %storage.target(), %provider, "accounts on PostgreSQL");
            Ok(OpenedStorage {
                store: storage.account_store(provider, options),
                storage: AccountsStorage::Postgres(storage),
            })
        }
    }
}

/// Connects to the database of `[storage] url` (migrating its schema at the first start).
/// Blocks.
pub fn connect_postgres(config: &MacConfig) -> Result<Arc<PostgresStorage>, SetupError> {
    let url = config.storage.url.as_ref().ok_or(SetupError::StorageUrlMissing)?;
    PostgresStorage::connect(url, &PostgresOptions::default()).context(PostgresSnafu)
}

/// The accounts storage of a data directory and configuration, opened once for both
/// providers' stores (one connection pool on PostgreSQL). Unlike [`open_account_store`] it
/// creates nothing in the data directory: for reading commands.
#[derive(Debug, Clone)]
pub enum AccountsStorage {
    /// The accounts files of this data directory.
    File(DataDir),
    /// A PostgreSQL database.
    Postgres(Arc<PostgresStorage>),
}

impl AccountsStorage {
    /// The storage `config` names. Connects (and migrates the schema at the first start) for
    /// `postgres`; touches nothing for `file`. Blocks.
    pub fn open(config: &MacConfig, data_dir: &DataDir) -> Result<Self, SetupError> {
        match config.storage.backend {
            StorageBackend::File => Ok(Self::File(data_dir.clone())),
            StorageBackend::Postgres => Ok(Self::Postgres(connect_postgres(config)?)),
        }
    }

    /// `provider`'s store on this storage (a file store creates nothing until it writes).
    pub fn store(&self, provider: Provider, options: StoreOptions) -> AccountStore {
        match self {
            Self::File(data_dir) => {
                AccountStore::at_path(data_dir.accounts_file(provider), options)
            }
            Self::Postgres(storage) => storage.account_store(provider, options),
        }
    }

    /// The refresh locks of `provider`'s accounts, as the pool takes them: lock files beside
    /// the accounts file (this host), or the database's (every host of the pool).
    pub fn account_locks(&self, provider: Provider) -> Arc<dyn AccountLocks> {
        match self {
            Self::File(data_dir) => {
                Arc::new(FileAccountLocks::beside(data_dir.accounts_file(provider)))
            }
            Self::Postgres(storage) => Arc::new(storage.account_locks(provider)),
        }
    }

    /// The live claims of `provider`'s pool as another process sees them now: the claims file
    /// of `data_dir`, or the database's claims table. Claims are soft state: ones that cannot
    /// be read show as no holder. Blocking (one connection to the database on PostgreSQL).
    pub fn claims(&self, data_dir: &DataDir, provider: Provider) -> ClaimsSnapshot {
        let options = ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() };
        let claims = match self {
            Self::File(_) => {
                Claims::at_path(data_dir.claims_file(provider), options, Arc::new(SystemClock))
            }
            Self::Postgres(storage) => match PostgresClaims::open(storage, provider, &options) {
                Ok(store) => {
                    Claims::builder_with_store(Arc::new(store), options, Arc::new(SystemClock))
                        .build()
                }
                Err(err) => {
                    tracing::debug!(error = %err, "could not read the claims");
                    return ClaimsSnapshot::default();
                }
            },
        };
        claims.snapshot().unwrap_or_default()
    }

    /// Where the accounts are, for output: never the password.
    pub fn view(&self) -> StorageView {
        match self {
            Self::File(data_dir) => StorageView {
                backend: StorageBackend::File.as_str(),
                location: data_dir.path().display().to_string(),
                schema: None,
                schema_version: None,
            },
            Self::Postgres(storage) => StorageView {
                backend: StorageBackend::Postgres.as_str(),
                location: storage.target().server().to_owned(),
                schema: Some(storage.schema().to_owned()),
                schema_version: Some(storage.schema_version()),
            },
        }
    }
}

/// Which storage holds the accounts, as `mac status --json` and `/v1/pool` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageView {
    /// `file` or `postgres`.
    pub backend: &'static str,
    /// The data directory (`file`), or `postgres://USER@HOST:PORT/DATABASE` — never the
    /// password.
    pub location: String,
    /// The PostgreSQL schema.
    pub schema: Option<String>,
    /// The PostgreSQL schema's version.
    pub schema_version: Option<i32>,
}

impl StorageView {
    /// The configured storage when it could not be opened: the backend and what is known of
    /// its place (the data directory, or the server of a URL that could not be reached).
    pub fn configured(config: &MacConfig, data_dir: &DataDir) -> Self {
        match config.storage.backend {
            StorageBackend::File => AccountsStorage::File(data_dir.clone()).view(),
            StorageBackend::Postgres => Self {
                backend: StorageBackend::Postgres.as_str(),
                location: "[storage] url".to_owned(),
                schema: None,
                schema_version: None,
            },
        }
    }
}

impl std::fmt::Display for StorageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.schema, self.schema_version) {
            (Some(schema), Some(version)) => write!(
                f,
                "{} at {} (schema {schema}, version {version})",
                self.backend, self.location
            ),
            _ => write!(f, "{} in {}", self.backend, self.location),
        }
    }
}
