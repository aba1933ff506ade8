//! The claims file, `<provider>-claims.json`: the seed's `{ "<uuid>": {"pid", "at"} }` plus the
//! process start time, the claim time and the claiming instance (D8).
//!
//! Claims are soft state. Reading is lenient: a file that is not a JSON object reads as empty,
//! and an entry without a positive integer `pid` and a numeric `at` is skipped. The next write
//! replaces such a file (after a one-time `0600` backup of one that did not parse at all) —
//! unlike the accounts file, which is never written over when bad.

use std::collections::BTreeMap;
use std::time::Duration;

use mac_storage::EpochMs;
use serde::Serialize;
use serde_json::Value;

use crate::store::Holder;

/// One account's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimEntry {
    /// Who claims it.
    pub holder: Holder,
    /// When the claim was taken.
    pub claimed_at: EpochMs,
    /// The last heartbeat (`at` in the seed's shape); the claim expires some time after it.
    pub at: EpochMs,
}

/// How far ahead of the reader's clock a heartbeat may be and still count. Writers share the
/// machine's clock, so a heartbeat from the future means the clock stepped back since it was
/// written; trusting it would keep a claim without heartbeats alive for as long as the step
/// (an hour, for a time-zone-sized mistake). Beyond this tolerance it counts as expired; a
/// live holder re-claims at its next heartbeat, which its monotonic clock schedules.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(5);

impl ClaimEntry {
    /// Whether the entry's heartbeat is current at `now`: no older than `expiry`, and not
    /// ahead of `now` by more than [`FUTURE_TOLERANCE`].
    pub fn is_current(&self, now: EpochMs, expiry: Duration) -> bool {
        self.at <= now.saturating_add(FUTURE_TOLERANCE) && now.duration_since(self.at) <= expiry
    }
}

/// Every entry of a claims file, by account uuid.
pub type ClaimMap = BTreeMap<String, ClaimEntry>;

/// What reading the file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A JSON object; its well-formed entries.
    Entries(ClaimMap),
    /// Bytes that are not a JSON object: read as empty, backed up before being replaced.
    Malformed,
}

pub(crate) fn decode(bytes: &[u8]) -> Parsed {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Entries(ClaimMap::new());
    }
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(bytes) else {
        return Parsed::Malformed;
    };
    Parsed::Entries(
        object.into_iter().filter_map(|(uuid, value)| Some((uuid, entry(&value)?))).collect(),
    )
}

fn entry(value: &Value) -> Option<ClaimEntry> {
    let object = value.as_object()?;
    let pid = u32::try_from(object.get("pid")?.as_u64()?).ok().filter(|pid| *pid > 0)?;
    let at = epoch(object.get("at")?)?;
    Some(ClaimEntry {
        holder: Holder {
            host: object.get("host").and_then(Value::as_str).map(str::to_owned),
            pid,
            start: object.get("startTime").and_then(Value::as_u64),
            instance: object.get("instance").and_then(Value::as_str).map(str::to_owned),
        },
        claimed_at: object.get("claimedAt").and_then(epoch).unwrap_or(at),
        at,
    })
}

#[allow(clippy::cast_possible_truncation)] // range-checked: finite and within ±2^53
fn epoch(value: &Value) -> Option<EpochMs> {
    let ms = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|v| v.is_finite() && v.abs() < 9_007_199_254_740_992.0)
            .map(|v| v as i64)
    })?;
    Some(EpochMs::from_millis(ms))
}

/// An entry as written: the seed's `pid` and `at`, then this build's additions.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryOnDisk<'a> {
    pid: u32,
    at: i64,
    claimed_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    /// Only in entries of a holder that names its host (never one a file store writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
}

pub(crate) fn encode(map: &ClaimMap) -> Result<Vec<u8>, serde_json::Error> {
    let on_disk: BTreeMap<&str, EntryOnDisk<'_>> = map
        .iter()
        .map(|(uuid, entry)| {
            let entry = EntryOnDisk {
                pid: entry.holder.pid,
                at: entry.at.as_millis(),
                claimed_at: entry.claimed_at.as_millis(),
                start_time: entry.holder.start,
                instance: entry.holder.instance.as_deref(),
                host: entry.holder.host.as_deref(),
            };
            (uuid.as_str(), entry)
        })
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&on_disk)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_entries_read_and_bad_ones_are_skipped() {
        let text = r#"{
            "a": {"pid": 12, "at": 1000},
            "b": {"pid": 0, "at": 1000},
            "c": {"pid": -3, "at": 1000},
            "d": {"pid": 5},
            "e": "nope",
            "f": {"pid": 7, "at": 2000.5, "startTime": 99, "claimedAt": 1500, "instance": "i"}
        }"#;
        let Parsed::Entries(map) = decode(text.as_bytes()) else { panic!("should parse") };
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "f"]);
        assert_eq!(
            map["a"],
            ClaimEntry {
                holder: Holder { host: None, pid: 12, start: None, instance: None },
                claimed_at: EpochMs::from_millis(1000),
                at: EpochMs::from_millis(1000)
            }
        );
        assert_eq!(map["f"].holder.start, Some(99));
        assert_eq!(map["f"].at, EpochMs::from_millis(2000));
    }

    #[test]
    fn non_objects_are_malformed_and_empty_is_empty() {
        assert_eq!(decode(b"[]"), Parsed::Malformed);
        assert_eq!(decode(b"{oops"), Parsed::Malformed);
        assert_eq!(decode(b"\xff"), Parsed::Malformed);
        assert_eq!(decode(b""), Parsed::Entries(ClaimMap::new()));
    }

    #[test]
    fn a_heartbeat_is_current_within_the_expiry_and_a_small_skew_only() {
        let entry = |at| ClaimEntry {
            holder: Holder { host: None, pid: 1, start: None, instance: None },
            claimed_at: EpochMs::from_millis(at),
            at: EpochMs::from_millis(at),
        };
        let now = EpochMs::from_millis(1_000_000);
        let expiry = Duration::from_secs(60);
        assert!(entry(1_000_000 - 60_000).is_current(now, expiry));
        assert!(!entry(1_000_000 - 60_001).is_current(now, expiry));
        assert!(entry(1_000_000 + 5_000).is_current(now, expiry));
        assert!(!entry(1_000_000 + 5_001).is_current(now, expiry));
        assert!(!entry(i64::MAX).is_current(now, expiry));
    }

    #[test]
    fn round_trip() {
        let mut map = ClaimMap::new();
        map.insert(
            "u".into(),
            ClaimEntry {
                holder: Holder { host: None, pid: 3, start: Some(4), instance: Some("x".into()) },
                claimed_at: EpochMs::from_millis(5),
                at: EpochMs::from_millis(6),
            },
        );
        assert_eq!(decode(&encode(&map).unwrap()), Parsed::Entries(map));
    }
}
