//! Proactive refresh (D13): a tokio task per pool that refreshes access
//! tokens about to expire before a request has to wait for it.
//!
//! [`ProactiveRefresher`] documents the schedule, the candidates and stopping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::jitter::Jitter;
use crate::refresh::{Obtained, RefreshService};

/// Called with an account's local uuid after the proactive refresher obtained new credentials
/// for it (refreshed, or adopted from another process): the executor's cache invalidation.
pub type OnRefreshed = Arc<dyn Fn(&str) + Send + Sync>;

/// When and how far ahead the proactive refresher looks.
#[derive(Clone, Debug, PartialEq)]
pub struct ProactiveConfig {
    /// `false`: no task is started (`proactive_refresh = false`). Default `true`.
    pub enabled: bool,
    /// From the start to the first check. Default 5 s.
    pub initial_delay: Duration,
    /// From the end of one check to the start of the next. Default 300 s.
    pub interval: Duration,
    /// Access tokens expiring within this time are refreshed. Default 1 800 s.
    pub buffer: Duration,
    /// Each interval is varied by up to this fraction of itself, either way (0 to 1; default
    /// 0.1).
    pub jitter: f64,
    /// The seed of the jitter; `None` derives one from the process id and the start time.
    pub seed: Option<u64>,
}

impl Default for ProactiveConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_delay: Duration::from_secs(5),
            interval: Duration::from_secs(300),
            buffer: Duration::from_secs(1800),
            jitter: 0.1,
            seed: None,
        }
    }
}

/// The proactive refresh task of one pool.
///
/// Every check lists the eligible accounts (enabled, not disabled for authentication, with a
/// uuid) whose access token expires within the buffer (default 30 min) but not within the
/// on-demand margin (60 s; those are left to the on-demand path, as in the seed), and refreshes
/// them one after the other through [`RefreshService::refresh_if_expiring`]: the same single
/// flight, cross-process lock, double check and compare-and-swap as on-demand refresh, and the
/// same one disabling rule for failures. (The TypeScript library's proactive path disabled
/// accounts without its circuit breaker; here there is no other path to take.)
///
/// The first check runs `initial_delay` (5 s) after [`ProactiveRefresher::start`], then one
/// `interval` (5 min, ± `jitter` of it) after the previous check finished, so checks never
/// overlap. The jitter comes from a small seeded generator of this refresher (seeded from the
/// config, else from the process id and the start time, so processes started together spread
/// out) — no global random source.
///
/// [`ProactiveRefresher::stop`] signals the task and waits for it: a refresh in flight is
/// finished (and stored), the accounts after it in the same check are not refreshed, and no
/// further check starts. A generation counter guards every step, so a timer that fires after
/// the stop does nothing. Dropping the refresher signals the stop without waiting.
pub struct ProactiveRefresher {
    running: Option<Running>,
    checks: Arc<AtomicU64>,
}

struct Running {
    /// Bumped by a stop; the task runs only while it equals `generation`.
    current: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl fmt::Debug for ProactiveRefresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProactiveRefresher")
            .field("running", &self.is_running())
            .field("checks", &self.checks())
            .finish()
    }
}

impl ProactiveRefresher {
    /// Starts the task on the current tokio runtime (none when `config.enabled` is `false`);
    /// it checks the accounts of the service's own store.
    ///
    /// Outside a tokio runtime no task can start: the refresher then logs an error and stays
    /// idle (on-demand refresh still works).
    pub fn start(service: RefreshService, config: ProactiveConfig) -> Self {
        Self::start_with_callback(service, config, None)
    }

    /// Like [`ProactiveRefresher::start`], calling `on_refreshed` after each account whose
    /// credentials changed.
    pub fn start_with_callback(
        service: RefreshService,
        config: ProactiveConfig,
        on_refreshed: Option<OnRefreshed>,
    ) -> Self {
        let checks = Arc::new(AtomicU64::new(0));
        if !config.enabled {
            tracing::debug!("proactive refresh disabled");
            return Self { running: None, checks };
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("proactive refresh not started: no tokio runtime");
            return Self { running: None, checks };
        };
        let current = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let seed = config.seed.unwrap_or_else(crate::jitter::default_seed);
        let worker = Worker {
            service,
            jitter: Jitter::new(config.jitter, seed),
            config,
            on_refreshed,
            current: Arc::clone(&current),
            generation: 0,
            checks: Arc::clone(&checks),
        };
        tracing::debug!(
            interval_s = worker.config.interval.as_secs(),
            buffer_s = worker.config.buffer.as_secs(),
            "proactive refresh started"
        );
        let span = tracing::debug_span!("proactive_refresh");
        let task = runtime.spawn(worker.run(stopped).instrument(span));
        Self { running: Some(Running { current, stop, task }), checks }
    }

    /// Whether a task is running (not disabled, not stopped).
    pub fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|running| !running.task.is_finished())
    }

    /// How many checks have finished so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Acquire)
    }

    /// Stops the task and waits for it: a wait for a lock is cancelled at once, a refresh
    /// already sent finishes in the refresh service (await `RefreshService::settle` for its
    /// result to be stored), no other refresh or check starts.
    pub async fn stop(mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.signal();
        if let Err(err) = running.task.await {
            tracing::warn!(error = %err, "the proactive refresh task ended abnormally");
        }
        tracing::debug!("proactive refresh stopped");
    }
}

impl Running {
    fn signal(&self) {
        self.current.fetch_add(1, Ordering::AcqRel);
        // The task may have ended already; then there is nobody to tell.
        let _ = self.stop.send(true);
    }
}

impl Drop for ProactiveRefresher {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.signal();
        }
    }
}

/// The task's state.
struct Worker {
    service: RefreshService,
    config: ProactiveConfig,
    jitter: Jitter,
    on_refreshed: Option<OnRefreshed>,
    current: Arc<AtomicU64>,
    generation: u64,
    checks: Arc<AtomicU64>,
}

impl Worker {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let mut delay = self.config.initial_delay;
        while self.wait(delay, &mut stopped).await {
            self.check(&mut stopped).await;
            self.checks.fetch_add(1, Ordering::AcqRel);
            delay = self.jitter.vary(self.config.interval);
        }
    }

    /// Whether this task's generation is still the refresher's: `false` once stopped.
    fn live(&self) -> bool {
        self.current.load(Ordering::Acquire) == self.generation
    }

    /// Sleeps `delay`; `false` if the refresher was stopped meanwhile (or before).
    async fn wait(&self, delay: Duration, stopped: &mut watch::Receiver<bool>) -> bool {
        if !self.live() || *stopped.borrow() {
            return false;
        }
        tokio::select! {
            biased;
            // A stop, or the refresher gone.
            _ = stopped.changed() => false,
            // A wakeup after a stop that raced it is stale: the generation tells.
            () = tokio::time::sleep(delay) => self.live(),
        }
    }

    /// One pass over the pool. A stop cancels the pass at once, including a wait for another
    /// process's refresh lock; a refresh already sent is finished by the refresh service (its
    /// commit is awaited by `RefreshService::settle`).
    async fn check(&self, stopped: &mut watch::Receiver<bool>) {
        // First the grants this host could not store earlier, whatever their accounts' state
        // (see `RefreshService::apply_pending_grants`).
        tokio::select! {
            biased;
            _ = stopped.changed() => return,
            settled = self.service.apply_pending_grants() => if settled > 0 {
                tracing::info!(settled, "pending grants settled");
            },
        }
        // The candidates come from the cheapest up-to-date view (no round trip on PostgreSQL
        // while nothing changed), read on the blocking pool: a stale candidate costs nothing,
        // because `refresh_if_expiring` decides on a fresh read under the refresh lock.
        let store = Arc::clone(self.service.store());
        let document = match tokio::task::spawn_blocking(move || store.refresh_cached()).await {
            Ok(Ok(document)) => document,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "proactive refresh check: cannot read the pool");
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "proactive refresh check: the read did not finish");
                return;
            }
        };
        let now = self.service.clock().now();
        let buffer = self.config.buffer;
        let candidates: Vec<String> = document
            .accounts
            .iter()
            .filter(|account| account.is_eligible())
            .filter(|account| self.service.is_expiring_within(&account.credentials(), now, buffer))
            .filter_map(|account| account.uuid.clone())
            .collect();
        if candidates.is_empty() {
            return;
        }
        tracing::debug!(count = candidates.len(), "accounts approaching expiry");
        for uuid in candidates {
            if !self.live() {
                return;
            }
            let refreshed = tokio::select! {
                biased;
                _ = stopped.changed() => return,
                refreshed = self.service.refresh_if_expiring(&uuid, buffer) => refreshed,
            };
            match refreshed {
                Ok(Some(refreshed)) if refreshed.how != Obtained::Fresh => {
                    tracing::debug!(account = %uuid, how = ?refreshed.how, "proactively refreshed");
                    if let Some(callback) = &self.on_refreshed {
                        callback(&uuid);
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(
                        account = %uuid,
                        permanent = err.is_permanent(),
                        error = %err,
                        "proactive refresh failed"
                    );
                }
            }
        }
    }
}
