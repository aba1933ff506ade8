//! The pure step of the request state machine: the facts of one response → what to do next.
//! No I/O, no clock, no sleeping: [`next_step`] is the table in the `pool` module docs, and
//! the pool's effects layer carries the step out (refreshes, writes, holds, events) while its
//! loop does the waiting.

use mac_ratelimit::{RateLimitClass, Scope};

/// What one response said, as far as the state machine cares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Facts {
    /// The HTTP status.
    pub status: u16,
    /// A 403 whose body says the token was revoked.
    pub revoked: bool,
    /// The rate-limit class and scope (mac-ratelimit's `classify` and `scope`), `None` when the
    /// response is not a rate limit.
    pub limit: Option<(RateLimitClass, Scope)>,
    /// Whether this request already refreshed the account (before sending or after a 401):
    /// at most one refresh per account per request.
    pub refreshed: bool,
    /// Same-account 5xx retries left.
    pub server_retries_left: u32,
}

/// What to do after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A success: record it, bind the session, return the response.
    Success,
    /// The request's own answer (3xx, a 4xx that is not the account's fault): return it as is.
    Return,
    /// A 401, or a revoked 403, not yet refreshed in this request: refresh once (or adopt
    /// another process's refresh) and send again on the same account. A permanent refresh
    /// failure is the evidence that disables the account.
    Refresh,
    /// A 401 after a refresh in this request: a short in-memory auth backoff (counts nothing,
    /// passes by itself), rotate.
    AuthBackoff,
    /// A revoked 403 after a refresh in this request (the new token is revoked too): the
    /// evidence that disables the account (while another usable one remains), rotate.
    Revoked,
    /// A rate limit of this class and scope: cool the account down (account scope in the shared
    /// file, a family's limit in memory), rotate.
    RateLimited(RateLimitClass, Scope),
    /// The provider is overloaded: rest the account briefly in this process only (jittered,
    /// growing), rotate; the loop waits when no other account is usable.
    Overloaded,
    /// A 5xx with retries left: pause (jittered, doubling), send again on the same account.
    ServerRetry,
    /// A 5xx without retries left: rotate.
    ServerRotate,
}

/// The state machine's step for one response (the table in the `pool` module docs).
pub(crate) fn next_step(facts: &Facts) -> Step {
    let overloaded = matches!(facts.limit, Some((RateLimitClass::Overload, _)));
    match facts.status {
        200..=299 => Step::Success,
        401 | 403 if facts.status == 401 || facts.revoked => {
            match (facts.refreshed, facts.status) {
                (false, _) => Step::Refresh,
                (true, 401) => Step::AuthBackoff,
                (true, _) => Step::Revoked,
            }
        }
        _ if overloaded => Step::Overloaded,
        429 => match facts.limit {
            Some((class, scope)) => Step::RateLimited(class, scope),
            // mac-ratelimit classifies every 429; a throttle of the account is the safe reading.
            None => Step::RateLimited(RateLimitClass::Throttle, Scope::Account),
        },
        500..=599 if facts.server_retries_left > 0 => Step::ServerRetry,
        500..=599 => Step::ServerRotate,
        _ => Step::Return,
    }
}

/// Whether the classifier needs the response's body for `status` (the revoked 403 check, the
/// rate-limit and overload bodies).
pub(crate) fn needs_body(status: u16) -> bool {
    matches!(status, 403 | 429 | 500..=599)
}

#[cfg(test)]
mod tests {
    use mac_ratelimit::ModelFamily;

    use super::*;

    fn facts(status: u16) -> Facts {
        Facts { status, revoked: false, limit: None, refreshed: false, server_retries_left: 2 }
    }

    #[test]
    fn every_row_of_the_state_machine() {
        use RateLimitClass::{Overload, SevenDayExhausted, Throttle};
        let family = Scope::Family(ModelFamily::Opus);
        let rows: Vec<(Facts, Step)> = vec![
            (facts(200), Step::Success),
            (facts(204), Step::Success),
            (Facts { refreshed: true, ..facts(200) }, Step::Success),
            (facts(304), Step::Return),
            (facts(400), Step::Return),
            (facts(404), Step::Return),
            (facts(401), Step::Refresh),
            (Facts { refreshed: true, ..facts(401) }, Step::AuthBackoff),
            (Facts { revoked: true, ..facts(403) }, Step::Refresh),
            (Facts { revoked: true, refreshed: true, ..facts(403) }, Step::Revoked),
            (facts(403), Step::Return),
            (Facts { refreshed: true, ..facts(403) }, Step::Return),
            (
                Facts { limit: Some((Throttle, Scope::Account)), ..facts(429) },
                Step::RateLimited(Throttle, Scope::Account),
            ),
            (
                Facts { limit: Some((SevenDayExhausted, family)), ..facts(429) },
                Step::RateLimited(SevenDayExhausted, family),
            ),
            (facts(429), Step::RateLimited(Throttle, Scope::Account)),
            (Facts { limit: Some((Overload, Scope::Account)), ..facts(529) }, Step::Overloaded),
            (Facts { limit: Some((Overload, Scope::Account)), ..facts(503) }, Step::Overloaded),
            (
                Facts {
                    limit: Some((Overload, Scope::Account)),
                    server_retries_left: 0,
                    ..facts(500)
                },
                Step::Overloaded,
            ),
            (facts(500), Step::ServerRetry),
            (facts(503), Step::ServerRetry),
            (Facts { server_retries_left: 0, ..facts(502) }, Step::ServerRotate),
            (Facts { refreshed: true, server_retries_left: 0, ..facts(500) }, Step::ServerRotate),
        ];
        for (facts, expected) in rows {
            assert_eq!(next_step(&facts), expected, "{facts:?}");
        }
    }

    #[test]
    fn the_body_is_read_only_where_it_decides() {
        for status in [403, 429, 500, 503, 529] {
            assert!(needs_body(status), "{status}");
        }
        for status in [200, 204, 301, 400, 401, 404] {
            assert!(!needs_body(status), "{status}");
        }
    }
}
