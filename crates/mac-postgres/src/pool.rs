//! A small pool of connections of one storage: at most `size` open at once, each with the
//! storage's statements prepared once, reused while healthy, replaced when closed.
//!
//! Why not a pool crate: a pool here is a semaphore and a list; mac's callers are few (a
//! handful of blocking threads per process), and a connection is marked broken by the
//! caller when a statement was abandoned mid-way, which a generic pool cannot know.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::Client;

use crate::error::{ClientFailure, PostgresError};
use crate::statements::Statements;
use crate::tls::Tls;
use crate::url::Target;

/// One open connection with the storage's prepared statements.
pub(crate) struct Connection {
    pub(crate) client: Client,
    pub(crate) statements: Statements,
}

/// The connections of one storage.
pub(crate) struct ConnectionPool {
    config: tokio_postgres::Config,
    tls: Tls,
    runtime: tokio::runtime::Handle,
    schema: String,
    target: Target,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the configuration: it holds the password.
        f.debug_struct("ConnectionPool").field("target", &self.target).finish_non_exhaustive()
    }
}

impl ConnectionPool {
    /// A pool of at most `size` connections made from `config` and `tls` on `runtime`.
    pub(crate) fn new(
        config: tokio_postgres::Config,
        tls: Tls,
        runtime: tokio::runtime::Handle,
        schema: String,
        target: Target,
        size: usize,
    ) -> Self {
        Self {
            config,
            tls,
            runtime,
            schema,
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }
    }

    /// The connection settings (never printed: they hold the password).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// How the connections speak TLS.
    pub(crate) fn tls(&self) -> &Tls {
        &self.tls
    }

    /// A connection, waiting up to `wait` for a free one or a new one to open.
    pub(crate) async fn get(&self, wait: Duration) -> Result<Pooled<'_>, PostgresError> {
        let timeout = || PostgresError::Timeout {
            target: self.target.to_string(),
            step: "waiting for a connection",
            waited: wait,
        };
        let started = tokio::time::Instant::now();
        let permit = tokio::time::timeout(wait, self.permits.acquire())
            .await
            .map_err(|_| timeout())?
            .map_err(|_| timeout())?;
        while let Some(connection) = self.idle().pop() {
            if !connection.client.is_closed() {
                return Ok(Pooled::new(connection, self, permit));
            }
        }
        let left = wait.saturating_sub(started.elapsed());
        let connection = tokio::time::timeout(left, self.connect()).await.map_err(|_| {
            PostgresError::Timeout {
                target: self.target.to_string(),
                step: "connecting",
                waited: wait,
            }
        })??;
        Ok(Pooled::new(connection, self, permit))
    }

    /// Opens a connection with the storage's statements prepared (the schema must exist).
    async fn connect(&self) -> Result<Connection, PostgresError> {
        let client = self.connect_client().await?;
        let statements = Statements::prepare(&client, &self.schema, &self.target).await?;
        Ok(Connection { client, statements })
    }

    /// Opens a bare connection: its I/O runs as a task on the storage's runtime.
    pub(crate) async fn connect_client(&self) -> Result<Client, PostgresError> {
        let config = self.config.clone();
        let tls = self.tls.clone();
        let task = self.runtime.spawn(async move {
            let (client, connection) = config.connect(tls).await?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    let failure = ClientFailure::from_client(&err);
                    tracing::debug!(error = %failure, "a PostgreSQL connection ended");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        match task.await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(err)) => Err(self.tls.failure(&self.target.to_string(), &err)),
            Err(_) => Err(PostgresError::Stopped { target: self.target.to_string() }),
        }
    }

    /// The longest wait for a new connection: the configured `connect_timeout` (which
    /// [`crate::url::parse`] always sets).
    pub(crate) fn connect_wait(&self) -> Duration {
        self.config.get_connect_timeout().copied().unwrap_or(Duration::from_secs(5))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection lent by the pool: back to the pool when dropped, unless closed or
/// [`Pooled::discard`]ed.
pub(crate) struct Pooled<'p> {
    /// `Some` until dropped.
    connection: Option<Connection>,
    broken: bool,
    pool: &'p ConnectionPool,
    _permit: SemaphorePermit<'p>,
}

impl<'p> Pooled<'p> {
    fn new(connection: Connection, pool: &'p ConnectionPool, permit: SemaphorePermit<'p>) -> Self {
        Self { connection: Some(connection), broken: false, pool, _permit: permit }
    }

    /// The connection.
    pub(crate) fn connection(&mut self) -> &mut Connection {
        match &mut self.connection {
            Some(connection) => connection,
            None => unreachable!("a pooled connection is taken only when dropped"),
        }
    }

    /// Closes the connection instead of returning it (a statement was abandoned mid-way, so
    /// its state is unknown).
    pub(crate) fn discard(&mut self) {
        self.broken = true;
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && !self.broken
            && !connection.client.is_closed()
        {
            self.pool.idle().push(connection);
        }
    }
}
