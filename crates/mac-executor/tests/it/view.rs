//! The request path's view of the accounts: refreshed behind requests with at most one read in
//! flight, however slow the storage is. (A database that hangs — unreachable without a reset —
//! must not pile up one blocked thread per `VIEW_REFRESH` on the blocking pool.)

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_executor::{Attempt, BufferedResponse, Pool, RequestInfo, SendError};
use mac_storage::file::FileBackend;
use mac_storage::{
    AccountStore, AccountsBackend, AccountsDocument, Credentials, EpochMs, NewAccount, Provider,
    Secret, StoreError, StoreOptions, TxClosure, TxOutcome,
};
use mac_test_support::TempDataDir;

/// The file backend, with a `refresh_cached` that takes `delay` and counts how many run at once.
#[derive(Debug)]
struct SlowView {
    file: FileBackend,
    delay: Duration,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

impl AccountsBackend for SlowView {
    fn location(&self) -> &Path {
        self.file.location()
    }

    fn load(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        self.file.load()
    }

    fn refresh_cached(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.file.load()
    }

    fn cached(&self) -> Option<Arc<AccountsDocument>> {
        self.file.cached()
    }

    fn transact(&self, change: &mut TxClosure<'_>) -> Result<TxOutcome, StoreError> {
        self.file.transact(change)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_storage_has_at_most_one_view_read_in_flight() {
    let dir = TempDataDir::new().unwrap();
    let options = StoreOptions::default();
    let backend = Arc::new(SlowView {
        file: FileBackend::new(dir.accounts_file(Provider::Anthropic), options.clone()),
        delay: Duration::from_millis(300),
        in_flight: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let store = Arc::new(AccountStore::with_backend(backend.clone(), options));
    let credentials = Credentials {
        refresh_token: Secret::new("view-refresh"),
        access_token: Some(Secret::new("view-access")),
        expires_at: Some(EpochMs::now().saturating_add(Duration::from_secs(3_600))),
    };
    store.add_account(&NewAccount::from_credentials(credentials), EpochMs::now()).unwrap();
    // Never contacted: the token is fresh. Port 9 (discard) on loopback.
    let descriptor = ProviderDescriptor::anthropic().with_origin("http://127.0.0.1:9").unwrap();
    let client = AdapterClient::builder(descriptor).no_proxy().build().unwrap();
    let pool = Pool::builder(Arc::clone(&store), client).build();
    let send = |_: Attempt| async {
        Ok::<_, SendError>(BufferedResponse::new(StatusCode::OK, Bytes::new()))
    };
    // Requests for a second, many view refresh periods and several slow reads long.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        pool.execute(&RequestInfo::default(), send).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pool.settle().await;
    pool.shutdown().await;
    assert!(backend.most.load(Ordering::SeqCst) >= 1, "the view was refreshed");
    assert_eq!(backend.most.load(Ordering::SeqCst), 1, "view reads in flight at once");
}
