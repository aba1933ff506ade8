//! The harness of the `Pool::execute` tests: accounts at the loopback fake provider, a pool
//! over them with events recorded, and a send closure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_executor::{
    Attempt, BufferedResponse, Pool, PoolBuilder, PoolConfig, PoolEvent, ProactiveConfig,
    RotationCause, SendError,
};
use mac_storage::{AccountStore, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted, TempDataDir};

/// Three Anthropic accounts `a0`, `a1`, `a2` at the fake; every token of account `aN` starts
/// with `aN-`, so a recorded bearer names its account.
pub(crate) struct Harness {
    pub(crate) fake: FakeProvider,
    pub(crate) dir: TempDataDir,
    pub(crate) store: Arc<AccountStore>,
    pub(crate) uuids: Vec<String>,
    pub(crate) events: Arc<Mutex<Vec<PoolEvent>>>,
}

impl Harness {
    pub(crate) async fn new(accounts: usize) -> Self {
        Self::with_store_options(accounts, StoreOptions::default()).await
    }

    /// [`Harness::new`] with the store's options.
    pub(crate) async fn with_store_options(accounts: usize, options: StoreOptions) -> Self {
        let fake = FakeProvider::start().await.unwrap();
        let dir = TempDataDir::new().unwrap();
        let store =
            Arc::new(AccountStore::open(dir.data_dir(), Provider::Anthropic, options).unwrap());
        let mut uuids = Vec::new();
        for n in 0..accounts {
            uuids.push(add_account(&fake, &store, n, Some(3_600)));
        }
        Self { fake, dir, store, uuids, events: Arc::new(Mutex::new(Vec::new())) }
    }

    pub(crate) fn config() -> PoolConfig {
        PoolConfig {
            server_retry_base: Duration::from_millis(5),
            server_retry_max: Duration::from_millis(20),
            max_wait: Duration::from_millis(0),
            proactive: ProactiveConfig { enabled: false, ..ProactiveConfig::default() },
            ..PoolConfig::default()
        }
    }

    pub(crate) fn pool(&self, config: PoolConfig) -> Pool {
        self.pool_with_client(config, self.client(Duration::from_secs(30)))
    }

    /// A client of the fake whose requests (token refreshes) time out after `timeout`.
    pub(crate) fn client(&self, timeout: Duration) -> AdapterClient {
        let descriptor = ProviderDescriptor::anthropic().with_origin(&self.fake.origin()).unwrap();
        AdapterClient::builder(descriptor).no_proxy().timeout(timeout).build().unwrap()
    }

    pub(crate) fn pool_with_client(&self, config: PoolConfig, client: AdapterClient) -> Pool {
        self.builder_with_client(config, client).build()
    }

    /// A builder of [`Harness::pool`], for extra parts (claims).
    pub(crate) fn pool_builder(&self, config: PoolConfig) -> PoolBuilder {
        self.builder_with_client(config, self.client(Duration::from_secs(30)))
    }

    fn builder_with_client(&self, config: PoolConfig, client: AdapterClient) -> PoolBuilder {
        let events = Arc::clone(&self.events);
        Pool::builder(Arc::clone(&self.store), client)
            .config(config)
            .on_event(Arc::new(move |event: &PoolEvent| events.lock().unwrap().push(event.clone())))
    }

    /// Which accounts the Messages requests went to, in order (`0`, `1`, `2`).
    pub(crate) fn sequence(&self) -> Vec<usize> {
        self.fake
            .requests(Endpoint::Messages)
            .iter()
            .map(|request| {
                let bearer = request.bearer().unwrap();
                bearer[1..bearer.find('-').unwrap()].parse().unwrap()
            })
            .collect()
    }

    pub(crate) fn account(&self, n: usize) -> mac_storage::StoredAccount {
        self.store.load().unwrap().account(&self.uuids[n]).unwrap().clone()
    }

    pub(crate) fn rotations(&self) -> Vec<RotationCause> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|event| match event {
                PoolEvent::Rotated { why, .. } => Some(why.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Adds account `aN` with a valid access token expiring in `expires_in` seconds (or none) and
/// a rotating refresh token the fake accepts once.
pub(crate) fn add_account(
    fake: &FakeProvider,
    store: &AccountStore,
    n: usize,
    expires_in: Option<i64>,
) -> String {
    let grant = FakeGrant {
        access_token_prefix: format!("a{n}-access-"),
        ..FakeGrant::anthropic(&format!("remote-{n}"), &format!("a{n}@example.com"))
    };
    let refresh = format!("a{n}-refresh");
    fake.add_refresh_token(&refresh, grant.clone());
    let access = format!("a{n}-initial");
    fake.add_access_token(&access, grant);
    let now = EpochMs::now();
    let mut new = NewAccount::from_credentials(Credentials {
        refresh_token: Secret::new(refresh),
        access_token: expires_in.map(|_| Secret::new(access)),
        expires_at: expires_in.map(|s| EpochMs::from_millis(now.as_millis() + s * 1000)),
    });
    new.email = Some(format!("a{n}@example.com"));
    match store.add_account(&new, now).unwrap() {
        mac_storage::AddOutcome::Added { uuid } | mac_storage::AddOutcome::Updated { uuid, .. } => {
            uuid
        }
    }
}

/// A send closure: POST /v1/messages with the attempt's bearer; the whole response buffered.
/// (mac-core's `http_response` is the adapter everywhere else; this crate's tests cannot use a
/// crate of a higher layer, and a buffered response is all they need.)
pub(crate) fn sender(
    fake: &FakeProvider,
) -> impl FnMut(
    Attempt,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<BufferedResponse, SendError>> + Send>,
> + Send
+ use<> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = fake.url("/v1/messages");
    move |attempt: Attempt| {
        let request = client
            .post(&url)
            .bearer_auth(attempt.access_token.expose())
            .header("content-type", "application/json")
            .body(r#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#);
        Box::pin(async move {
            let response = request.send().await.map_err(|e| SendError::network(e.to_string()))?;
            let (status, headers) = (response.status(), response.headers().clone());
            let body = response.bytes().await.map_err(|e| SendError::network(e.to_string()))?;
            Ok(BufferedResponse { status, headers, body })
        })
    }
}

pub(crate) fn retry_after_ms(ms: u64) -> Scripted {
    Scripted::rate_limited(vec![("retry-after-ms".into(), ms.to_string())])
}
