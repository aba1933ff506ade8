//! The database schema of mac and its migrations, applied at start-up.
//!
//! Everything mac stores lives in one PostgreSQL schema (`mac` unless told otherwise), so
//! several pools can share a database and a test can drop its own. `schema_version` records
//! each migration applied; [`migrate`] applies the missing ones in one transaction under an
//! advisory lock (processes starting together migrate once), and refuses a schema whose
//! version is newer than this build's ([`PostgresError::SchemaNewer`]): an older mac never
//! reads or writes tables whose meaning may have changed.
//!
//! The schema version is not the accounts document's `version`: the document keeps its own
//! (`mac_storage::SUPPORTED_VERSION`, checked on every read and write, as for the file).

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::error::{ClientFailure, PostgresError};
use crate::url::Target;

/// The migrations, in order: migration `i` brings the schema to version `i + 1`. `{schema}`
/// stands for the quoted schema name. Never edit one that has shipped; add another.
const MIGRATIONS: &[&str] = &[
    // 1: the accounts documents, one row per provider (statements.rs says why `json`).
    "CREATE TABLE {schema}.accounts_documents (
        provider text PRIMARY KEY,
        generation bigint NOT NULL DEFAULT 0,
        commit_id text,
        body json,
        recent_commits text[] NOT NULL DEFAULT '{}',
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((commit_id IS NULL) = (body IS NULL))
    )",
    // 2: the claims, one row per (provider, account, holder) (claims.rs says how they are
    // kept and how a holder's liveness is told).
    "CREATE TABLE IF NOT EXISTS {schema}.claims (
        provider text NOT NULL,
        account text NOT NULL,
        holder text NOT NULL,
        host text,
        pid bigint NOT NULL,
        start_time bigint,
        instance text,
        claimed_at bigint NOT NULL,
        heartbeat_at bigint NOT NULL,
        PRIMARY KEY (provider, account, holder)
    )",
];

/// The newest schema version this build knows.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "a handful of migrations"
)]
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Whether `name` is a schema name mac uses: 1 to 63 of `[a-z0-9_]`, not starting with a
/// digit (always quoted in SQL all the same).
pub(crate) fn check_name(name: &str) -> Result<(), PostgresError> {
    let valid = (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if valid { Ok(()) } else { Err(PostgresError::SchemaName { name: name.to_owned() }) }
}

/// The advisory lock key that serializes migrations of `schema` across processes.
fn migration_lock_key(schema: &str) -> i64 {
    advisory_key(&["mac-postgres migrate", schema])
}

/// A stable 64-bit advisory lock key for the name made of `parts` (the first 8 bytes of the
/// SHA-256 of the length-prefixed parts): every process on every host computes the same key,
/// and distinct names (each starts with its purpose, then the schema) give distinct keys. The
/// length prefixes keep two different lists of parts from hashing the same bytes.
pub(crate) fn advisory_key(parts: &[&str]) -> i64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut key = [0_u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// Creates `schema` if needed and applies the missing migrations; returns the version now in
/// force.
pub(crate) async fn migrate(
    client: &mut Client,
    schema: &str,
    target: &Target,
) -> Result<i32, PostgresError> {
    let failed = |step: &'static str| {
        move |err: tokio_postgres::Error| PostgresError::Query {
            target: target.to_string(),
            step,
            failure: ClientFailure::from_client(&err),
        }
    };
    let quoted = format!("\"{schema}\"");
    let transaction = client.transaction().await.map_err(failed("starting the migration"))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&migration_lock_key(schema)])
        .await
        .map_err(failed("waiting for another process's migration"))?;
    transaction
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {quoted};
             CREATE TABLE IF NOT EXISTS {quoted}.schema_version (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .await
        .map_err(failed("creating the schema"))?;
    let found: i32 = transaction
        .query_one(&format!("SELECT coalesce(max(version), 0) FROM {quoted}.schema_version"), &[])
        .await
        .map_err(failed("reading the schema version"))?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(PostgresError::SchemaNewer {
            target: target.to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let mut version = found;
    for migration in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        version += 1;
        transaction
            .batch_execute(&migration.replace("{schema}", &quoted))
            .await
            .map_err(failed("applying a migration"))?;
        transaction
            .execute(
                &format!("INSERT INTO {quoted}.schema_version (version) VALUES ($1)"),
                &[&version],
            )
            .await
            .map_err(failed("recording a migration"))?;
        tracing::info!(%target, version, "applied a schema migration");
    }
    transaction.commit().await.map_err(failed("committing the migration"))?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        for good in ["mac", "mac_test_0af3", "_x", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(64);
        for bad in ["", "Mac", "9mac", "mac-test", "mac\"; drop", &long] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_keys_differ_per_schema() {
        assert_ne!(migration_lock_key("mac"), migration_lock_key("mac2"));
    }

    #[test]
    fn advisory_keys_tell_where_one_part_ends() {
        assert_eq!(advisory_key(&["a", "b c"]), advisory_key(&["a", "b c"]));
        assert_ne!(advisory_key(&["a", "b c"]), advisory_key(&["a b", "c"]));
        assert_ne!(advisory_key(&["ab", "c"]), advisory_key(&["a", "bc"]));
    }
}
