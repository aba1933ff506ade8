//! What the status page's event stream (`GET /v1/events`) says, as JSON: one [`Wire`] per
//! gateway event worth showing, tagged by `type`. Built from the events' own fields (account
//! ids, labels, states, classes, times, statuses); no variant has a field that could hold a
//! token or a body.

use mac_executor::{PoolEvent, StreamEndKind};
use mac_ratelimit::Scope;
use mac_storage::{EpochMs, Provider};
use serde::Serialize;

use crate::events::{GatewayEvent, Outcome, RequestRecord};

/// One event of the stream. `at` is the gateway's clock (epoch ms) when it was seen.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub(crate) enum Wire {
    /// An account was chosen for an attempt.
    Selected { provider: &'static str, account: String, label: String, reason: String, at: i64 },
    /// A request left an account.
    Rotated {
        provider: &'static str,
        account: String,
        /// `rate_limited`, `auth_failed`, `revoked`, `server_error`, `network_error`.
        cause: &'static str,
        /// The upstream status of a server error.
        status: Option<u16>,
        at: i64,
    },
    /// An account is blocked by a rate limit until `until` (epoch ms).
    CooledDown {
        provider: &'static str,
        account: String,
        /// `throttle`, `five_hour`, `seven_day`, `billing`, `overload`.
        class: &'static str,
        until: i64,
        /// The model family it blocks (`opus`, `sonnet`) while the account serves the others;
        /// `null` when it blocks the whole account.
        family: Option<&'static str>,
        at: i64,
    },
    /// An account's token was renewed (`adopted`: another process had renewed it).
    Refreshed { provider: &'static str, account: String, adopted: bool, at: i64 },
    /// An account was disabled and needs a new login.
    Disabled { provider: &'static str, account: String, reason: String, at: i64 },
    /// Every account of the pool is blocked; a request waits until `until`.
    Waiting { provider: &'static str, until: i64, at: i64 },
    /// A response handed to a client ended.
    StreamEnded {
        provider: &'static str,
        account: String,
        /// `completed`, `in_band_error`, `upstream_cut`, `client_gone`.
        end: &'static str,
        ms: u64,
        at: i64,
    },
    /// A request was answered.
    Request {
        id: u64,
        route: &'static str,
        provider: Option<&'static str>,
        /// The label of the account that served it.
        label: Option<String>,
        status: u16,
        attempts: u32,
        ms: u64,
        /// `completed`, `in_band_error`, `upstream_cut`, `client_gone`, `refused`,
        /// `no_account`, `upstream_failed`.
        outcome: &'static str,
        at: i64,
    },
}

impl Wire {
    /// The stream's form of `event` seen at `now`, or `None` for what the page does not show:
    /// the answers of the gateway's own routes (`/healthz`, `/v1/pool`, `/metrics`: outcome
    /// `local`), which the page's own polling would otherwise fill the stream with.
    pub(crate) fn of(event: &GatewayEvent, now: EpochMs) -> Option<Self> {
        let at = now.as_millis();
        Some(match event {
            GatewayEvent::Pool { provider, event } => Self::of_pool(provider.as_str(), event, at),
            GatewayEvent::RequestFinished(record) => Self::of_request(record, at)?,
        })
    }

    fn of_pool(provider: &'static str, event: &PoolEvent, at: i64) -> Self {
        match event {
            PoolEvent::Selected { account, label, reason } => Self::Selected {
                provider,
                account: account.clone(),
                label: label.clone(),
                reason: reason.clone(),
                at,
            },
            PoolEvent::Rotated { from, why } => Self::Rotated {
                provider,
                account: from.clone(),
                cause: why.as_str(),
                status: match why {
                    mac_executor::RotationCause::ServerError(status) => Some(*status),
                    _ => None,
                },
                at,
            },
            PoolEvent::CooledDown { account, class, until, scope } => Self::CooledDown {
                provider,
                account: account.clone(),
                class: class.as_str(),
                until: until.as_millis(),
                family: family_of(*scope),
                at,
            },
            PoolEvent::Refreshed { account, adopted } => {
                Self::Refreshed { provider, account: account.clone(), adopted: *adopted, at }
            }
            PoolEvent::Disabled { account, reason } => {
                Self::Disabled { provider, account: account.clone(), reason: reason.clone(), at }
            }
            PoolEvent::Waiting { until, .. } => {
                Self::Waiting { provider, until: until.as_millis(), at }
            }
            PoolEvent::StreamEnded { account, end, elapsed } => Self::StreamEnded {
                provider,
                account: account.clone(),
                end: end.as_str(),
                ms: millis(*elapsed),
                at,
            },
        }
    }

    fn of_request(record: &RequestRecord, at: i64) -> Option<Self> {
        if record.outcome == Outcome::Local {
            return None;
        }
        let provider = record.route.provider().map(Provider::as_str);
        Some(Self::Request {
            id: record.id,
            route: record.route.as_str(),
            provider,
            label: record.account.clone(),
            status: record.status,
            attempts: record.attempts,
            ms: millis(record.elapsed),
            outcome: record.outcome.as_str(),
            at,
        })
    }
}

/// Whether the page's "recent events" list shows `event`: what changed an account or failed.
/// Selections, completed streams and successful requests only move counters. Decided on the
/// event itself, so the counters' task builds a [`Wire`] only for the events it keeps.
pub(crate) fn is_notable(event: &GatewayEvent) -> bool {
    match event {
        GatewayEvent::Pool { event, .. } => match event {
            PoolEvent::Selected { .. } => false,
            PoolEvent::StreamEnded { end, .. } => {
                matches!(end, StreamEndKind::InBandError | StreamEndKind::UpstreamCut)
            }
            PoolEvent::Rotated { .. }
            | PoolEvent::CooledDown { .. }
            | PoolEvent::Refreshed { .. }
            | PoolEvent::Disabled { .. }
            | PoolEvent::Waiting { .. } => true,
        },
        GatewayEvent::RequestFinished(record) => {
            record.status >= 400 && record.outcome != Outcome::Local
        }
    }
}

/// The name of the family a limit of `scope` blocks, `None` for the whole account.
pub(crate) fn family_of(scope: Scope) -> Option<&'static str> {
    match scope {
        Scope::Account => None,
        Scope::Family(family) => Some(family.as_str()),
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mac_executor::RotationCause;
    use mac_ratelimit::RateLimitClass;

    use super::*;
    use crate::events::Route;

    fn json(wire: &Wire) -> serde_json::Value {
        serde_json::to_value(wire).unwrap()
    }

    #[test]
    fn pool_events_carry_ids_names_and_times() {
        let now = EpochMs::from_millis(1_000);
        let event = GatewayEvent::Pool {
            provider: Provider::Anthropic,
            event: PoolEvent::CooledDown {
                account: "u-1".into(),
                class: RateLimitClass::FiveHourExhausted,
                until: EpochMs::from_millis(61_000),
                scope: Scope::Account,
            },
        };
        assert_eq!(
            json(&Wire::of(&event, now).unwrap()),
            serde_json::json!({"type": "cooled_down", "provider": "anthropic", "account": "u-1",
                "class": "five_hour", "until": 61_000, "family": null, "at": 1_000})
        );
        let opus = GatewayEvent::Pool {
            provider: Provider::Anthropic,
            event: PoolEvent::CooledDown {
                account: "u-1".into(),
                class: RateLimitClass::SevenDayExhausted,
                until: EpochMs::from_millis(61_000),
                scope: Scope::Family(mac_ratelimit::ModelFamily::Opus),
            },
        };
        assert_eq!(json(&Wire::of(&opus, now).unwrap())["family"], "opus");
        let rotated = GatewayEvent::Pool {
            provider: Provider::Codex,
            event: PoolEvent::Rotated { from: "u-2".into(), why: RotationCause::ServerError(502) },
        };
        assert_eq!(
            json(&Wire::of(&rotated, now).unwrap()),
            serde_json::json!({"type": "rotated", "provider": "codex", "account": "u-2",
                "cause": "server_error", "status": 502, "at": 1_000})
        );
        let ended = GatewayEvent::Pool {
            provider: Provider::Codex,
            event: PoolEvent::StreamEnded {
                account: "u-2".into(),
                end: StreamEndKind::UpstreamCut,
                elapsed: Duration::from_millis(1500),
            },
        };
        assert!(is_notable(&ended));
        assert_eq!(json(&Wire::of(&ended, now).unwrap())["end"], "upstream_cut");
    }

    #[test]
    fn the_gateways_own_routes_stay_out_unless_they_fail() {
        let record = |route, status, outcome| {
            GatewayEvent::RequestFinished(RequestRecord {
                id: 7,
                route,
                account: Some("work".into()),
                status,
                attempts: 1,
                elapsed: Duration::from_millis(12),
                outcome,
            })
        };
        let now = EpochMs::from_millis(5);
        assert_eq!(Wire::of(&record(Route::Pool, 200, Outcome::Local), now), None);
        assert_eq!(Wire::of(&record(Route::Health, 200, Outcome::Local), now), None);
        let refused = record(Route::Unknown, 404, Outcome::Refused);
        assert!(is_notable(&refused) && Wire::of(&refused, now).is_some());
        let served = record(Route::Messages, 200, Outcome::Completed);
        assert!(!is_notable(&served));
        let served = Wire::of(&served, now).unwrap();
        assert_eq!(
            json(&served),
            serde_json::json!({"type": "request", "id": 7, "route": "messages",
                "provider": "anthropic", "label": "work", "status": 200, "attempts": 1,
                "ms": 12, "outcome": "completed", "at": 5})
        );
    }
}
