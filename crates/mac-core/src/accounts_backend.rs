//! Opening a provider's accounts store on the backend `config.toml` names (`[storage]
//! backend`, `url`): the accounts file in the data directory, or a PostgreSQL database shared
//! by several hosts (`mac-postgres`, schema `mac`).

use std::sync::Arc;

use mac_postgres::{PostgresOptions, PostgresStorage};
use mac_storage::{AccountStore, DataDir, Provider};
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
    Ok(open_storage(config, data_dir, provider)?.store)
}

/// What [`open_storage`] opened: the accounts store, and the PostgreSQL storage under it when
/// the backend is `postgres` (the pool's claims share its database).
pub(crate) struct OpenedStorage {
    pub(crate) store: AccountStore,
    pub(crate) postgres: Option<Arc<PostgresStorage>>,
}

/// [`open_account_store`], keeping the PostgreSQL storage for the rest of the pool.
pub(crate) fn open_storage(
    config: &MacConfig,
    data_dir: &DataDir,
    provider: Provider,
) -> Result<OpenedStorage, SetupError> {
    let options = config.store_options();
    match config.storage.backend {
        StorageBackend::File => {
            let store = AccountStore::open(data_dir, provider, options).context(StoreSnafu)?;
            Ok(OpenedStorage { store, postgres: None })
        }
        StorageBackend::Postgres => {
            let url = config.storage.url.as_ref().ok_or(SetupError::StorageUrlMissing)?;
            // The data directory still holds this host's files: config, claims, refresh
            // locks and journals.
            data_dir.ensure().map_err(|source| SetupError::Store { source: source.into() })?;
            let storage: Arc<PostgresStorage> =
                PostgresStorage::connect(url, &PostgresOptions::default())
                    .context(PostgresSnafu)?;
            tracing::info!(target = %storage.target(), %provider, "accounts on PostgreSQL");
            Ok(OpenedStorage {
                store: storage.account_store(provider, options),
                postgres: Some(storage),
            })
        }
    }
}
