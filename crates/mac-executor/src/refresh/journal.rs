//! The pending-grant journal: a rotated refresh token is never lost.
//!
//! The provider spends the old refresh token the moment it answers a refresh; the new one
//! exists only in that answer. If the write of the grant to the accounts file then fails (a
//! lock timeout, a read-only or newer-version file) or the process dies first, the account is
//! dead at its next refresh (`invalid_grant`). So the grant is written first to a journal file
//! beside the accounts file — `<accounts file>.grant.<uuid>.pending`, mode `0600` (it holds
//! tokens, like the accounts file itself), written through mac-storage's crash-safe private
//! write (temp file, fsync, rename, directory fsync) — while the account's refresh lock is held
//! (that lock, not the accounts file's, keeps writers of one journal apart). Only then is the accounts file written; the journal is
//! removed once the grant is there.
//!
//! Whoever takes the refresh lock next — this process or another, or a new process at its first
//! refresh of the account — applies a journal it finds (compare-and-swap on the refresh token
//! the grant was obtained with) before deciding anything, and removes it. A journal whose
//! refresh token no longer matches the stored one (a re-login replaced it, or the grant was
//! applied already) is stale and removed.
//!
//! Before a refresh is sent, the journal's directory must accept a file: a refresh that could
//! not be made durable is refused rather than spending the token.

use std::fs;
use std::path::{Path, PathBuf};

use mac_storage::file::{FileIoError, remove_private, write_private_atomic};
use mac_storage::{CredentialPatch, EpochMs, Secret};
use serde_json::{Value, json};

/// A grant waiting to reach the accounts file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PendingGrant {
    /// The refresh token the grant was obtained with (spent at the provider).
    pub used_refresh_token: Secret,
    /// The grant.
    pub patch: CredentialPatch,
}

/// Checks that a journal can be written at `path`: writes and removes a probe beside it, the
/// same way the journal itself is written.
pub(crate) fn probe(path: &Path) -> Result<(), FileIoError> {
    let probe = probe_path(path);
    write_private_atomic(&probe, b"")?;
    remove_private(&probe)
}

/// Writes `grant` to `path` durably (`0600`, atomic, fsynced; see the module docs).
pub(crate) fn write(path: &Path, grant: &PendingGrant) -> Result<(), FileIoError> {
    let body = json!({
        "usedRefreshToken": grant.used_refresh_token,
        "accessToken": grant.patch.access_token,
        "expiresAt": grant.patch.expires_at.as_millis(),
        "refreshToken": grant.patch.refresh_token,
        "accountUuid": grant.patch.account_uuid,
        "accountId": grant.patch.account_id,
        "email": grant.patch.email,
    });
    write_private_atomic(path, body.to_string().as_bytes())
}

/// Reads the journal at `path`: `Ok(None)` when there is none, or when it does not parse (a
/// torn write cannot happen with the rename, so an unreadable journal is not ours to guess at;
/// it is left in place for a human and logged).
pub(crate) fn read(path: &Path) -> std::io::Result<Option<PendingGrant>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let parsed = serde_json::from_str::<Value>(&text).ok().and_then(|value| decode(&value));
    if parsed.is_none() {
        tracing::error!(journal = %path.display(), "a pending-grant journal does not parse; left in place");
    }
    Ok(parsed)
}

/// Removes the journal at `path` (absent is fine).
pub(crate) fn remove(path: &Path) -> Result<(), FileIoError> {
    remove_private(path)
}

fn decode(value: &Value) -> Option<PendingGrant> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(PendingGrant {
        used_refresh_token: Secret::new(text("usedRefreshToken")?),
        patch: CredentialPatch {
            access_token: Secret::new(text("accessToken")?),
            expires_at: EpochMs::from_millis(value.get("expiresAt")?.as_i64()?),
            refresh_token: text("refreshToken").map(Secret::new),
            account_uuid: text("accountUuid"),
            account_id: text("accountId"),
            email: text("email"),
        },
    })
}

/// `<journal>.probe`: one name per journal, so a probe left by a killed process is overwritten
/// by the next one instead of piling up.
fn probe_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".probe");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_round_trips_and_is_private() {
        let dir = std::env::temp_dir().join(format!("mac-journal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = mac_storage::file::pending_grant_path(&dir.join("accounts.json"), "abc");
        let grant = PendingGrant {
            used_refresh_token: Secret::new("old"),
            patch: CredentialPatch {
                access_token: Secret::new("access"),
                expires_at: EpochMs::from_millis(1_234),
                refresh_token: Some(Secret::new("new")),
                account_uuid: Some("remote".into()),
                account_id: None,
                email: Some("a@example.com".into()),
            },
        };
        probe(&path).unwrap();
        assert_eq!(read(&path).unwrap(), None);
        write(&path, &grant).unwrap();
        assert_eq!(read(&path).unwrap(), Some(grant));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(read(&path).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
