//! The SQL of the accounts store, prepared once per connection (a prepared statement is
//! parsed and planned once, and each use is one round trip).
//!
//! The table (`schema.rs` creates it): one row per provider, holding the whole accounts
//! document as `json` — the `json` type keeps the text exactly as written, so unknown fields
//! keep their order and number spelling (`jsonb` would not) — with `generation` mirrored in a
//! column, a random `commit_id` per commit (a reader's cache key) and the ids of the last
//! commits (`recent_commits`), which tell whether a commit whose answer was lost was applied.

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Statement};

use crate::changes;
use crate::error::{ClientFailure, PostgresError};
use crate::url::Target;

/// How many commit ids `recent_commits` keeps.
pub(crate) const RECENT_COMMITS: i64 = 16;

/// The prepared statements of one connection.
pub(crate) struct Statements {
    /// `$1` provider, `$2` the cached commit id: generation, commit id, and the body unless
    /// the commit id is the cached one.
    pub(crate) read: Statement,
    /// `$1` provider: generation, commit id, body, with the row locked.
    pub(crate) lock: Statement,
    /// `$1` provider: creates the row of a provider without a document.
    pub(crate) create: Statement,
    /// `$1` provider, `$2` generation, `$3` commit id, `$4` body; announces the commit on the
    /// schema's channel (`changes.rs`) in the same statement, so it costs no round trip and
    /// is delivered only if the transaction commits.
    pub(crate) write: Statement,
    /// `$1` provider: generation and recent commit ids.
    pub(crate) recent: Statement,
}

impl Statements {
    /// Prepares the statements on `client` for the tables of `schema` (a checked name).
    pub(crate) async fn prepare(
        client: &Client,
        schema: &str,
        target: &Target,
    ) -> Result<Self, PostgresError> {
        let table = format!("\"{schema}\".accounts_documents");
        let channel = changes::channel(schema);
        let prepare = |sql: String, types: &'static [Type]| async move {
            client.prepare_typed(&sql, types).await.map_err(|err| PostgresError::Query {
                target: target.to_string(),
                step: "preparing statements",
                failure: ClientFailure::from_client(&err),
            })
        };
        Ok(Self {
            read: prepare(
                format!(
                    "SELECT generation, commit_id, \
                     CASE WHEN commit_id IS NOT DISTINCT FROM $2 THEN NULL ELSE body::text END \
                     FROM {table} WHERE provider = $1"
                ),
                &[Type::TEXT, Type::TEXT],
            )
            .await?,
            lock: prepare(
                format!(
                    "SELECT generation, commit_id, body::text FROM {table} \
                     WHERE provider = $1 FOR UPDATE"
                ),
                &[Type::TEXT],
            )
            .await?,
            create: prepare(
                format!(
                    "INSERT INTO {table} (provider) VALUES ($1) ON CONFLICT (provider) DO NOTHING"
                ),
                &[Type::TEXT],
            )
            .await?,
            write: prepare(
                format!(
                    "UPDATE {table} SET generation = $2, commit_id = $3, body = $4::json, \
                     recent_commits = (ARRAY[$3] || recent_commits)[1:{RECENT_COMMITS}], \
                     updated_at = now() WHERE provider = $1 \
                     RETURNING pg_notify('{channel}', $1 || ':' || $2::text)"
                ),
                &[Type::TEXT, Type::INT8, Type::TEXT, Type::TEXT],
            )
            .await?,
            recent: prepare(
                // FOR SHARE: a commit whose answer was lost may still be under way on the
                // server; the row lock makes this read wait for it to end either way.
                format!(
                    "SELECT generation, recent_commits FROM {table} WHERE provider = $1 FOR SHARE"
                ),
                &[Type::TEXT],
            )
            .await?,
        })
    }
}
