//! What every command needs: the printer, the data directory, the configuration and the
//! stores, opened the same way everywhere — on the storage backend `config.toml` names (the
//! accounts files, or PostgreSQL: connected once per run, on first use).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_core::config::process_env;
use mac_core::{AccountsStorage, MacConfig};
use mac_storage::{AccountLocks, AccountStore, DataDir, Provider};
use tokio::runtime::Runtime;

use crate::args::GlobalArgs;
use crate::error::{CliError, RuntimeSnafu};
use crate::printer::Printer;
use snafu::IntoError;

/// One run's settings.
#[derive(Debug)]
pub(crate) struct Context {
    /// Output.
    pub(crate) printer: Printer,
    /// The data directory (`--home`, else `MAC_HOME`, else the default).
    pub(crate) data_dir: DataDir,
    /// The accounts storage, opened at the first store asked for.
    storage: OnceLock<AccountsStorage>,
}

impl Context {
    /// The context `args` ask for.
    pub(crate) fn new(args: &GlobalArgs, printer: Printer) -> Result<Self, CliError> {
        let data_dir = match &args.home {
            Some(path) => DataDir::at(path),
            None => DataDir::from_process_env()?,
        };
        if data_dir.path().exists() && !data_dir.path().is_dir() {
            return Err(CliError::NotADirectory { path: data_dir.path().to_path_buf() });
        }
        Ok(Self { printer, data_dir, storage: OnceLock::new() })
    }

    /// `config.toml` and the `MAC_*` variables, validated.
    pub(crate) fn config(&self) -> Result<MacConfig, CliError> {
        MacConfig::load_from(&self.data_dir, process_env)
            .map_err(|errors| CliError::Config { errors, path: self.data_dir.config_file() })
    }

    /// A store to read: creates nothing in the data directory, not even the directory.
    pub(crate) fn reader(
        &self,
        provider: Provider,
        config: &MacConfig,
    ) -> Result<AccountStore, CliError> {
        Ok(self.storage(config)?.store(provider, config.store_options()))
    }

    /// A store to change: creates the data directory (`0700`) if needed (on PostgreSQL too: it
    /// holds this host's refresh locks and journals).
    pub(crate) fn writer(
        &self,
        provider: Provider,
        config: &MacConfig,
    ) -> Result<AccountStore, CliError> {
        let storage = self.storage(config)?;
        self.data_dir.ensure()?;
        Ok(storage.store(provider, config.store_options()))
    }

    /// Where this host's refresh files of `provider` are named after (lock files, pending-grant
    /// journals): the accounts file, or where it would be when the accounts are elsewhere.
    pub(crate) fn local_files(&self, provider: Provider) -> PathBuf {
        self.data_dir.accounts_file(provider)
    }

    /// The refresh locks of `provider`'s accounts on the configured storage (shared by every
    /// host on PostgreSQL).
    pub(crate) fn account_locks(
        &self,
        provider: Provider,
        config: &MacConfig,
    ) -> Result<Arc<dyn AccountLocks>, CliError> {
        Ok(self.storage(config)?.account_locks(provider))
    }

    /// The accounts storage `config` names, opened once per command.
    pub(crate) fn storage(&self, config: &MacConfig) -> Result<&AccountsStorage, CliError> {
        if let Some(storage) = self.storage.get() {
            return Ok(storage);
        }
        let storage = AccountsStorage::open(config, &self.data_dir)?;
        Ok(self.storage.get_or_init(|| storage))
    }
}

/// An HTTP client for the provider's endpoints.
pub(crate) fn client(provider: Provider, config: &MacConfig) -> Result<AdapterClient, CliError> {
    Ok(AdapterClient::builder(descriptor(provider, config)?).build()?)
}

/// A single-threaded runtime for the commands that talk to a provider.
pub(crate) fn runtime() -> Result<Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| RuntimeSnafu.into_error(source))
}

/// The provider's descriptor with the configuration's endpoints.
pub(crate) fn descriptor(
    provider: Provider,
    config: &MacConfig,
) -> Result<ProviderDescriptor, CliError> {
    config
        .descriptor(provider)
        .map_err(|err| CliError::Endpoints { provider, message: err.to_string() })
}
