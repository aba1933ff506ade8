//! The fake's shared state: tokens, codes, device sessions, scripts and the request log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::device::{DeviceOutcome, DeviceSession};
use super::endpoint::{Endpoint, RecordedRequest};
use super::grant::{FakeGrant, jwt, with_fields};
use super::oauth::{AuthorizeOutcome, CodeEntry};
use super::script::Scripted;
use super::server::Reply;
use super::time::unix_now;

/// The state behind one lock; handlers never hold it across an `await`.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which provider's conventions an answer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Flat OAuth errors `{"error": code, "error_description": message}`.
    Anthropic,
    /// Nested errors `{"error": {"code": code, "message": message}}`.
    OpenAi,
}

/// Where a refresh token stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshStatus {
    Live,
    Spent,
    Revoked,
}

#[derive(Clone, Debug)]
pub(crate) struct RefreshEntry {
    pub(crate) grant: FakeGrant,
    pub(crate) status: RefreshStatus,
    /// The first token of this rotation chain.
    pub(crate) root: String,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessEntry {
    pub(crate) grant: FakeGrant,
    pub(crate) expires_at: Instant,
    pub(crate) revoked: bool,
}

/// Tokens one exchange issued.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) id_token: Option<String>,
    pub(crate) grant: FakeGrant,
}

#[derive(Debug)]
pub(crate) struct State {
    counter: u64,
    /// `http://127.0.0.1:PORT`: the issuer a device login's redirect URI lives under.
    pub(crate) origin: String,
    pub(crate) refresh: HashMap<String, RefreshEntry>,
    /// Root refresh token → the chain's live token.
    pub(crate) chains: HashMap<String, String>,
    pub(crate) access: HashMap<String, AccessEntry>,
    pub(crate) access_order: Vec<String>,
    pub(crate) codes: HashMap<String, CodeEntry>,
    pub(crate) authorize_grant: FakeGrant,
    pub(crate) authorize_outcome: AuthorizeOutcome,
    pub(crate) device_outcome: DeviceOutcome,
    pub(crate) device_interval: u64,
    pub(crate) device_expires_in: u64,
    pub(crate) devices: HashMap<String, DeviceSession>,
    pub(crate) anthropic_usage: Option<Value>,
    pub(crate) anthropic_profile: Option<Value>,
    pub(crate) codex_usage: Option<Value>,
    pub(crate) reply_text: String,
    pub(crate) stream_pause: Duration,
    pub(crate) delays: HashMap<Endpoint, Duration>,
    pub(crate) scripts: HashMap<Endpoint, VecDeque<Scripted>>,
    pub(crate) requests: Vec<RecordedRequest>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            counter: 0,
            origin: String::new(),
            refresh: HashMap::new(),
            chains: HashMap::new(),
            access: HashMap::new(),
            access_order: Vec::new(),
            codes: HashMap::new(),
            authorize_grant: FakeGrant::default(),
            authorize_outcome: AuthorizeOutcome::Approve,
            device_outcome: DeviceOutcome::ApproveAfterPolls(1, FakeGrant::default()),
            device_interval: 1,
            device_expires_in: 900,
            devices: HashMap::new(),
            anthropic_usage: None,
            anthropic_profile: None,
            codex_usage: None,
            reply_text: "Hello from the fake provider.".into(),
            stream_pause: Duration::from_millis(10),
            delays: HashMap::new(),
            scripts: HashMap::new(),
            requests: Vec::new(),
        }
    }
}

impl State {
    /// A number unique within this fake.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Registers `token` as a live refresh token starting its own chain.
    pub(crate) fn add_refresh(&mut self, token: &str, grant: FakeGrant) {
        self.refresh.insert(
            token.to_owned(),
            RefreshEntry { grant, status: RefreshStatus::Live, root: token.to_owned() },
        );
        self.chains.insert(token.to_owned(), token.to_owned());
    }

    /// Registers `token` as an access token of `grant`, valid `grant.expires_in` from now.
    pub(crate) fn add_access(&mut self, token: &str, grant: FakeGrant) {
        let expires_at = Instant::now() + Duration::from_secs(grant.expires_in);
        self.access.insert(token.to_owned(), AccessEntry { grant, expires_at, revoked: false });
        self.access_order.push(token.to_owned());
    }

    /// The grant of `token` if it is a live, unexpired access token.
    pub(crate) fn valid_access(&self, token: Option<&str>) -> Option<FakeGrant> {
        let entry = self.access.get(token?)?;
        (!entry.revoked && Instant::now() < entry.expires_at).then(|| entry.grant.clone())
    }

    /// Issues an access token (and id token) for `grant`. `rotate_from`: the refresh token being
    /// used (spent and replaced when the grant rotates); `None` starts a new chain.
    pub(crate) fn issue(&mut self, grant: &FakeGrant, rotate_from: Option<&str>) -> Issued {
        let n = self.next_id();
        let now = unix_now();
        let exp = now + grant.expires_in;
        let access_token = match &grant.id_token_claims {
            Some(claims) => jwt(&with_fields(
                claims,
                &[
                    ("jti", json!(format!("{}{n}", grant.access_token_prefix))),
                    ("iat", json!(now)),
                    ("exp", json!(exp)),
                ],
            )),
            None => format!("{}{n}", grant.access_token_prefix),
        };
        let id_token = grant
            .id_token_claims
            .as_ref()
            .map(|claims| jwt(&with_fields(claims, &[("iat", json!(now)), ("exp", json!(exp))])));
        self.add_access(&access_token, grant.clone());
        let refresh_token = match rotate_from {
            Some(_) if !grant.rotate => None,
            Some(old) => {
                let new = format!("fake-refresh-{}", self.next_id());
                let root = self.refresh.get(old).map_or_else(|| old.to_owned(), |e| e.root.clone());
                if let Some(entry) = self.refresh.get_mut(old) {
                    entry.status = RefreshStatus::Spent;
                }
                self.refresh.insert(
                    new.clone(),
                    RefreshEntry {
                        grant: grant.clone(),
                        status: RefreshStatus::Live,
                        root: root.clone(),
                    },
                );
                self.chains.insert(root, new.clone());
                Some(new)
            }
            None => {
                let new = format!("fake-refresh-{}", self.next_id());
                self.add_refresh(&new, grant.clone());
                Some(new)
            }
        };
        Issued { access_token, refresh_token, id_token, grant: grant.clone() }
    }

    /// The token response body in `flavor`'s shape.
    pub(crate) fn token_body(issued: &Issued, flavor: Flavor) -> Value {
        let mut body = Map::new();
        body.insert("access_token".into(), json!(issued.access_token));
        if let Some(refresh) = &issued.refresh_token {
            body.insert("refresh_token".into(), json!(refresh));
        }
        body.insert("expires_in".into(), json!(issued.grant.expires_in));
        body.insert("token_type".into(), json!("Bearer"));
        match flavor {
            Flavor::Anthropic => {
                let mut account = Map::new();
                if let Some(uuid) = &issued.grant.account_uuid {
                    account.insert("uuid".into(), json!(uuid));
                }
                if let Some(email) = &issued.grant.email {
                    account.insert("email_address".into(), json!(email));
                }
                if !account.is_empty() {
                    body.insert("account".into(), Value::Object(account));
                }
            }
            Flavor::OpenAi => {
                if let Some(id_token) = &issued.id_token {
                    body.insert("id_token".into(), json!(id_token));
                }
            }
        }
        Value::Object(body)
    }

    /// Records `request`; returns the endpoint's delay and its next script, if any.
    pub(crate) fn begin(&mut self, request: RecordedRequest) -> (Duration, Option<Scripted>) {
        let endpoint = request.endpoint;
        self.requests.push(request);
        let delay = self.delays.get(&endpoint).copied().unwrap_or_default();
        let script = self.scripts.get_mut(&endpoint).and_then(VecDeque::pop_front);
        (delay, script)
    }
}

/// An OAuth error in `flavor`'s shape.
pub(crate) fn oauth_error(flavor: Flavor, status: u16, code: &str, message: &str) -> Reply {
    let body = match flavor {
        Flavor::Anthropic => json!({ "error": code, "error_description": message }),
        Flavor::OpenAi => json!({ "error": { "code": code, "message": message } }),
    };
    Reply::json(status, &body)
}
