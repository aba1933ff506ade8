//! The `postgres` area of `cargo xtask bench`: the PostgreSQL backend beside the file backend,
//! on the test server (`MAC_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! a fresh database per measurement, dropped after).
//!
//! - **Mutations/s** with 1, 4 and 8 writer processes × 200 increments on a 10-account pool
//!   (`storage-worker increment`, each process with its own storage and connections), file
//!   (fsync) and PostgreSQL, with latencies and lost updates (must be 0).
//! - **`Pool::execute` p50/p99** in one process (claims on, as the facade has them; a send
//!   closure answering 200 at once), file and PostgreSQL, with the reads and transactions
//!   the PostgreSQL backend sent per 1,000 requests in steady state (the target: no round
//!   trip per request, so the same latency as the file).
//! - **The refresh race across gateways**: 3 `mac serve` processes, each with a data
//!   directory of its own (nothing shared but the database), an account whose access token
//!   has expired, and 4 clients per gateway sending at once; refresh requests the token
//!   endpoint saw per race (1 is exactly once), requests served, accounts disabled and the
//!   time to serve the race. Measured as the build has it: whether exactly one refresh
//!   happens across data directories depends on the refresh lock the build shares across
//!   hosts.

// A benchmark report goes to stdout by design.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mac_adapters::{ENDPOINTS, ProviderDescriptor};
use mac_postgres::testing::TestDatabase;
use mac_storage::{AccountStore, Provider, StoreOptions};
use mac_test_support::{ChildGuard, Endpoint, FakeProvider, TempDataDir, spawn_guarded};

use crate::executor_work::{timed_rounds, warm_up};
use crate::load::percentile_ms;
use crate::start_together::start_together;
use crate::storage_work::{add_accounts, counter_sum, postgres_store};

/// Writer processes per row of the mutations table.
const WRITERS: &[usize] = &[1, 4, 8];
/// Increments per writer process.
const MUTATIONS_PER_WRITER: usize = 200;
/// Accounts of the mutated pool.
const ACCOUNTS: usize = 10;
/// Gateways of the refresh race, each with its own data directory.
const GATEWAYS: usize = 3;
/// Clients per gateway in a race.
const CLIENTS_PER_GATEWAY: usize = 4;
/// Races measured.
const RACES: usize = 10;
/// How long the fake token endpoint takes to answer (the race's window).
const TOKEN_DELAY: Duration = Duration::from_millis(300);
/// The schema the benchmark's stores use.
const SCHEMA: &str = "bench";

/// Runs the area: `storage_worker` and `mac` are the release `storage-worker` and `mac-child`.
pub fn run(storage_worker: &Path, mac: &Path) -> Result<(), String> {
    println!("Load average before: {}", load_average());
    println!();
    mutations(storage_worker)?;
    execute_latency()?;
    refresh_race(mac)?;
    println!("Load average after: {}", load_average());
    println!();
    Ok(())
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// A fresh database on the test server, or why there is none.
fn database(name: &str) -> Result<TestDatabase, String> {
    TestDatabase::create(name).ok_or_else(|| {
        "no PostgreSQL server answered (see above); the postgres area needs one".to_owned()
    })
}

/// Where a mutation run writes.
enum Target {
    File(TempDataDir),
    Postgres(Box<TestDatabase>),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Self::File(_) => "file (fsync)",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    fn store(&self) -> Result<AccountStore, String> {
        match self {
            Self::File(dir) => Ok(AccountStore::at_path(
                dir.accounts_file(Provider::Anthropic),
                StoreOptions::default(),
            )),
            Self::Postgres(database) => {
                postgres_store(database.url(), SCHEMA, StoreOptions::default())
            }
        }
    }

    /// `storage-worker increment` on this target.
    fn worker(&self, worker: &Path) -> Command {
        let mut command = Command::new(worker);
        match self {
            Self::File(dir) => {
                command.arg("increment").arg(dir.accounts_file(Provider::Anthropic));
            }
            Self::Postgres(database) => {
                command
                    .args(["increment", SCHEMA])
                    .arg("--postgres")
                    .env("MAC_STORAGE_URL", database.url().expose());
            }
        }
        command
    }
}

#[allow(clippy::cast_precision_loss)] // counts and durations far below 2^52
fn mutations(worker: &Path) -> Result<(), String> {
    println!(
        "## postgres: concurrent mutations ({ACCOUNTS}-account pool, {MUTATIONS_PER_WRITER} increments per writer process)"
    );
    println!();
    println!(
        "| backend | writer processes | mutations | mutations/s | p50 ms | p99 ms | max ms | lost updates |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut lost_any = 0;
    for &writers in WRITERS {
        for postgres in [false, true] {
            let target = if postgres {
                Target::Postgres(Box::new(database("bench_mutations")?))
            } else {
                Target::File(TempDataDir::new().map_err(|e| e.to_string())?)
            };
            let store = target.store()?;
            add_accounts(&store, "bench", ACCOUNTS).map_err(|e| e.to_string())?;
            let (elapsed, mut latencies) = run_writers(worker, &target, writers)?;
            let mutations = writers * MUTATIONS_PER_WRITER;
            let counted = counter_sum(&*store.load().map_err(|e| e.to_string())?);
            let lost = mutations.saturating_sub(usize::try_from(counted).unwrap_or(0));
            lost_any += lost;
            latencies.sort_unstable();
            println!(
                "| {} | {writers} | {mutations} | {:.0} | {:.2} | {:.2} | {:.2} | {lost} |",
                target.name(),
                mutations as f64 / elapsed.as_secs_f64(),
                percentile_ms(&latencies, 0.50),
                percentile_ms(&latencies, 0.99),
                percentile_ms(&latencies, 1.0),
            );
        }
    }
    println!();
    if lost_any != 0 {
        return Err(format!("{lost_any} updates lost"));
    }
    Ok(())
}

/// Runs `writers` workers on `target` from a common start; their elapsed time and latencies (µs).
fn run_writers(
    worker: &Path,
    target: &Target,
    writers: usize,
) -> Result<(Duration, Vec<u64>), String> {
    let commands = (0..writers).map(|_| {
        let mut command = target.worker(worker);
        command.arg(MUTATIONS_PER_WRITER.to_string());
        command
    });
    // Every worker connects and blocks on the barrier first.
    let (started, children) = start_together(commands, Duration::from_millis(500))?;
    let mut latencies = Vec::with_capacity(writers * MUTATIONS_PER_WRITER);
    for child in children {
        let output =
            child.wait_with_timeout(Duration::from_secs(300)).map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!("worker failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find_map(|line| line.strip_prefix("latencies_us="))
            .ok_or_else(|| format!("worker printed no latencies: {stdout:?}"))?;
        for value in line.split(',') {
            latencies.push(value.parse::<u64>().map_err(|e| format!("latency {value:?}: {e}"))?);
        }
    }
    Ok((started.elapsed(), latencies))
}

/// One row of the `Pool::execute` table.
struct ExecuteRow {
    backend: &'static str,
    accounts: usize,
    rounds: usize,
    latencies_ns: Vec<u128>,
    /// PostgreSQL only: (reads, transactions) sent during the timed requests.
    server: Option<(u64, u64)>,
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn execute_latency() -> Result<(), String> {
    let mut rows = Vec::new();
    for accounts in [10, 100] {
        rows.push(execute_row(accounts, None)?);
        let database = database("bench_execute")?;
        rows.push(execute_row(accounts, Some(&database))?);
    }
    println!(
        "## postgres: `Pool::execute` in one process (claims on, a send answering 200 at once; file backend beside PostgreSQL)"
    );
    println!();
    println!(
        "| backend | accounts | requests | p50 µs | p99 µs | max µs | reads per 1,000 | transactions per 1,000 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in &mut rows {
        row.latencies_ns.sort_unstable();
        let pick = |q: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // in 0..len
            let rank = ((q * row.latencies_ns.len() as f64).ceil() as usize)
                .clamp(1, row.latencies_ns.len());
            row.latencies_ns[rank - 1] as f64 / 1000.0
        };
        let per_thousand = |n: u64| format!("{:.2}", n as f64 * 1000.0 / row.rounds as f64);
        let (reads, transactions) = row.server.map_or_else(
            || ("–".to_owned(), "–".to_owned()),
            |(reads, transactions)| (per_thousand(reads), per_thousand(transactions)),
        );
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {reads} | {transactions} |",
            row.backend,
            row.accounts,
            row.rounds,
            pick(0.5),
            pick(0.99),
            pick(1.0),
        );
    }
    println!();
    Ok(())
}

/// `rounds` timed `Pool::execute` calls over `accounts` accounts on the file backend, or on
/// `postgres` when given, after a warm-up (every account used, bookkeeping settled).
fn execute_row(accounts: usize, postgres: Option<&TestDatabase>) -> Result<ExecuteRow, String> {
    let rounds: usize = 20_000;
    let dir = TempDataDir::new().map_err(|e| e.to_string())?;
    let (store, backend) = match postgres {
        None => {
            let store =
                AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default())
                    .map_err(|e| e.to_string())?;
            (Arc::new(store), None)
        }
        Some(database) => {
            let storage = database.storage(SCHEMA).map_err(|e| e.to_string())?;
            let backend = Arc::new(storage.accounts(Provider::Anthropic, StoreOptions::default()));
            let store = AccountStore::with_backend(backend.clone(), StoreOptions::default());
            (Arc::new(store), Some(backend))
        }
    };
    add_accounts(&store, "hot", accounts).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let latencies_ns = runtime.block_on(async {
        let clock: Arc<dyn mac_storage::Clock> = Arc::new(mac_storage::SystemClock);
        let claims = mac_claims::Claims::open(
            dir.data_dir(),
            Provider::Anthropic,
            mac_claims::ClaimsOptions::default(),
            clock,
        )
        .map_err(|e| e.to_string())?;
        // Never contacted: every token is fresh. Port 9 (discard) on loopback.
        let descriptor = ProviderDescriptor::anthropic()
            .with_origin("http://127.0.0.1:9")
            .map_err(|e| e.to_string())?;
        let client = mac_adapters::AdapterClient::builder(descriptor)
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let pool = mac_executor::Pool::builder(Arc::clone(&store), client)
            .claims(claims)
            .local_files(dir.accounts_file(Provider::Anthropic))
            .build();
        warm_up(&pool, accounts).await?;
        let before = backend.as_ref().map(|b| (b.reads(), b.transactions()));
        let latencies = timed_rounds(&pool, rounds).await?;
        let after = backend.as_ref().map(|b| (b.reads(), b.transactions()));
        pool.shutdown().await;
        Ok::<_, String>((latencies, before.zip(after)))
    })?;
    let (latencies_ns, counts) = latencies_ns;
    Ok(ExecuteRow {
        backend: if postgres.is_some() { "PostgreSQL" } else { "file" },
        accounts,
        rounds,
        latencies_ns,
        server: counts.map(|(before, after)| (after.0 - before.0, after.1 - before.1)),
    })
}

/// What one race across the gateways showed.
struct Race {
    refresh_requests: usize,
    served: usize,
    /// The answers that were not 2xx (`status` or `no answer`).
    failed: Vec<String>,
    disabled: bool,
    elapsed: Duration,
}

#[allow(clippy::cast_precision_loss)] // counts and durations far below 2^52
fn refresh_race(mac: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut races = Vec::with_capacity(RACES);
    for _ in 0..RACES {
        races.push(race(mac, &runtime)?);
    }
    let requests: Vec<usize> = races.iter().map(|r| r.refresh_requests).collect();
    let once = requests.iter().filter(|&&r| r == 1).count();
    let served: usize = races.iter().map(|r| r.served).sum();
    let mut failed: Vec<&str> =
        races.iter().flat_map(|r| r.failed.iter().map(String::as_str)).collect();
    failed.sort_unstable();
    let mut failures = String::new();
    for kind in failed.iter().copied().collect::<std::collections::BTreeSet<_>>() {
        let count = failed.iter().filter(|&&f| f == kind).count();
        let _ = write!(failures, "{}{kind} × {count}", if failures.is_empty() { "" } else { ", " });
    }
    let disabled = races.iter().filter(|r| r.disabled).count();
    let mut times: Vec<u64> =
        races.iter().map(|r| u64::try_from(r.elapsed.as_micros()).unwrap_or(u64::MAX)).collect();
    times.sort_unstable();
    let clients = GATEWAYS * CLIENTS_PER_GATEWAY;
    println!(
        "## postgres: refresh race across {GATEWAYS} `mac serve` processes (own data directories, one database; {CLIENTS_PER_GATEWAY} clients each; token endpoint answering after {} ms)",
        TOKEN_DELAY.as_millis()
    );
    println!();
    println!(
        "| races | refresh requests per race (min–max) | races with exactly one | requests served | failed answers | races with the account disabled | time to serve the race p50 ms | max ms |"
    );
    println!("|---:|---:|---:|---:|---|---:|---:|---:|");
    println!(
        "| {RACES} | {}–{} | {once}/{RACES} | {served}/{} | {} | {disabled} | {:.0} | {:.0} |",
        requests.iter().min().copied().unwrap_or(0),
        requests.iter().max().copied().unwrap_or(0),
        RACES * clients,
        if failures.is_empty() { "none" } else { &failures },
        percentile_ms(&times, 0.5),
        percentile_ms(&times, 1.0),
    );
    println!();
    Ok(())
}

/// One race: a fresh database, an expired account, `GATEWAYS` gateways, every client at once
/// (the requests on `runtime`; the setup and checks block, outside it).
fn race(mac: &Path, runtime: &tokio::runtime::Runtime) -> Result<Race, String> {
    let fake = FakeProvider::start_in_background().map_err(|e| e.to_string())?;
    fake.set_delay(Endpoint::AnthropicToken, TOKEN_DELAY);
    let database = database("bench_race")?;
    let store =
        postgres_store(database.url(), mac_postgres::DEFAULT_SCHEMA, StoreOptions::default())?;
    let seeded = fake
        .seed_account(&store, Provider::Anthropic, "raced", Duration::ZERO)
        .map_err(|e| e.to_string())?;
    let mut homes = Vec::with_capacity(GATEWAYS);
    let mut gateways = Vec::with_capacity(GATEWAYS);
    for _ in 0..GATEWAYS {
        let home = TempDataDir::new().map_err(|e| e.to_string())?;
        write_config(&home, &fake)?;
        gateways.push(Gateway::start(mac, &home, database.url().expose())?);
        homes.push(home);
    }
    let urls: Vec<String> = gateways
        .iter()
        .flat_map(|gateway| {
            std::iter::repeat_n(format!("{}/v1/messages", gateway.url), CLIENTS_PER_GATEWAY)
        })
        .collect();
    let (answers, elapsed) = runtime.block_on(send_all(urls))?;
    let served = answers.iter().filter(|answer| answer.is_none()).count();
    let failed: Vec<String> = answers.into_iter().flatten().collect();
    drop(gateways);
    let document = store.load().map_err(|e| e.to_string())?;
    let disabled = document
        .accounts
        .iter()
        .any(|account| account.uuid.as_deref() == Some(&seeded.uuid) && account.is_auth_disabled);
    Ok(Race {
        refresh_requests: fake.count(Endpoint::AnthropicToken),
        served,
        failed,
        disabled,
        elapsed,
    })
}

/// Sends one Messages request to each of `urls` at once; per request `None` when it was
/// answered 2xx, else what came instead; and the time until the last answer was read.
async fn send_all(urls: Vec<String>) -> Result<(Vec<Option<String>>, Duration), String> {
    const BODY: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
    let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let requests: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let http = http.clone();
            tokio::spawn(async move {
                let Ok(answer) = http.post(url).body(BODY).send().await else {
                    return Some("no answer".to_owned());
                };
                let status = answer.status();
                let body = answer.bytes().await;
                match body {
                    Ok(_) if status.is_success() => None,
                    Ok(_) => Some(status.as_u16().to_string()),
                    Err(_) => Some("no answer".to_owned()),
                }
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        answers.push(request.await.map_err(|e| e.to_string())?);
    }
    Ok((answers, started.elapsed()))
}

/// `config.toml` of a gateway home: the PostgreSQL backend (its URL comes from the
/// environment, so no file or process listing holds it), every endpoint on `fake`, no waiting
/// for a cooling account, no proactive refresh, no server retries.
fn write_config(home: &TempDataDir, fake: &FakeProvider) -> Result<(), String> {
    let mut config = String::from(
        "[storage]\nbackend = \"postgres\"\n\n[pool]\nmax_wait = \"0s\"\n\n[refresh]\nproactive = false\n\n[retry]\nserver_retries = 0\n",
    );
    for provider in Provider::ALL {
        let _ = write!(config, "\n[providers.{provider}]\n");
        let descriptor = ProviderDescriptor::for_provider(provider)
            .with_origin(&fake.origin())
            .map_err(|e| e.to_string())?;
        for spec in ENDPOINTS {
            if let Some(url) = spec.get(&descriptor.endpoints) {
                let _ = writeln!(config, "{} = \"{url}\"", spec.key);
            }
        }
    }
    home.data_dir().ensure().map_err(|e| e.to_string())?;
    mac_storage::file::write_private_atomic(&home.data_dir().config_file(), config.as_bytes())
        .map_err(|e| e.to_string())
}

/// A running `mac serve` on PostgreSQL; killed when dropped.
struct Gateway {
    _child: ChildGuard,
    url: String,
    /// Kept open: the gateway's standard output stays a live pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Gateway {
    /// Starts `mac --home HOME serve --listen 127.0.0.1:0` with the storage URL in its
    /// environment and waits for its address line.
    fn start(mac: &Path, home: &TempDataDir, storage_url: &str) -> Result<Self, String> {
        let mut command = Command::new(mac);
        command
            .arg("--home")
            .arg(home.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .env("MAC_STORAGE_URL", storage_url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child =
            spawn_guarded(&mut command).map_err(|e| format!("{}: {e}", mac.display()))?;
        let stdout = child.child_mut().stdout.take().ok_or("no stdout pipe")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = sender.send((line, reader));
        });
        let (line, stdout) = receiver
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "a gateway printed no address line within 30 s".to_owned())?;
        let url = line
            .strip_prefix("listening on ")
            .map(str::trim_end)
            .ok_or_else(|| format!("unexpected first line from a gateway: {line:?}"))?
            .to_owned();
        Ok(Self { _child: child, url, _stdout: stdout })
    }
}
