//! [`inspect`]: what a database holds of mac's schema, read without changing anything — for
//! `mac doctor`, which must not migrate (or create) a schema just by looking at it.

use mac_storage::Secret;

use crate::error::{ClientFailure, PostgresError};
use crate::schema::SCHEMA_VERSION;
use crate::storage::{PostgresOptions, open_pool};
use crate::url::Target;

/// How the database's mac schema compares with this build's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaState {
    /// No mac schema yet: the first start creates it.
    Missing,
    /// Older than this build's: the next start migrates it.
    Older {
        /// The version found.
        found: i32,
    },
    /// This build's version.
    Current,
    /// Newer than this build's: this build refuses it (upgrade mac).
    Newer {
        /// The version found.
        found: i32,
    },
}

/// What [`inspect`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Where the database is, without the password.
    pub target: Target,
    /// The schema's state.
    pub schema: SchemaState,
}

/// Connects to the database at `url` once and reads the version of the schema named by
/// `options` — creating, migrating and locking nothing. Blocks (run it off an async worker).
pub fn inspect(url: &Secret, options: &PostgresOptions) -> Result<Inspection, PostgresError> {
    let (driver, pool, target) = open_pool(url, options, 1)?;
    let shown = target.to_string();
    let shown = &shown;
    let found = driver.wait(async {
        let client = pool.connect_client().await?;
        let failed = |step: &'static str| {
            move |err: tokio_postgres::Error| PostgresError::Query {
                target: shown.clone(),
                step,
                failure: ClientFailure::from_client(&err),
            }
        };
        let table = format!("\"{}\".schema_version", options.schema);
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .map_err(failed("looking for the schema"))?
            .get(0);
        if !exists {
            return Ok(None);
        }
        let version: i32 = client
            .query_one(&format!("SELECT coalesce(max(version), 0) FROM {table}"), &[])
            .await
            .map_err(failed("reading the schema version"))?
            .get(0);
        Ok::<_, PostgresError>(Some(version))
    })?;
    let schema = match found {
        None | Some(0) => SchemaState::Missing,
        Some(found) if found < SCHEMA_VERSION => SchemaState::Older { found },
        Some(found) if found > SCHEMA_VERSION => SchemaState::Newer { found },
        Some(_) => SchemaState::Current,
    };
    Ok(Inspection { target, schema })
}
