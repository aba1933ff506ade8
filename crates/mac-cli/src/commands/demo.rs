//! `mac demo`: the whole product in one command, with no account and no network. It starts the
//! loopback fake provider (`mac-fake`) in-process, seeds three simulated Anthropic accounts into
//! a temporary data directory (one of them with an expired token), puts the real gateway in
//! front (`mac_gateway`, the same code as `mac serve`), and sends a short scripted load through
//! it over loopback HTTP: a plain request, a stream that opens with an error frame before its
//! first byte, a rate limit, a revoked account. Each request prints one row as it finishes —
//! which account served it, how many attempts it took, and what the pool did on the way
//! (rotated and why, renewed a token, cooled an account down, disabled one) — read from the
//! gateway's own event hub. At the end it prints each account's state as `mac status` would.
//! The temporary directory is removed on exit; the user's own data directory is never touched.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use mac_core::MacConfig;
use mac_core::status::pool_status;
use mac_core::{PoolEvent, RotationCause};
use mac_fake::{Endpoint, FakeProvider, Scripted, SeededAccount, sse_event};
use mac_gateway::{Gateway, GatewayEvent, RequestRecord};
use mac_storage::{AccountStore, DataDir, EpochMs, Provider};
use serde_json::json;
use snafu::IntoError;
use tokio::sync::broadcast;

use crate::args::DemoArgs;
use crate::context::Context;
use crate::error::{CliError, RuntimeSnafu};

/// The simulated accounts: labels, and whether the stored access token is already expired.
const ACCOUNTS: [(&str, bool); 3] = [("alice", false), ("bob", true), ("carol", false)];

/// How long one request may take before the demo gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// One step of the scripted load: what it shows, and what the fake is told before it.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A plain streamed request.
    Plain,
    /// The next answer is a 200 stream whose first frame after `message_start` is an
    /// `overloaded_error`: the gateway must rotate before the client sees a byte.
    ErrorBeforeFirstByte,
    /// The next answer is a 429 with `retry-after`.
    RateLimit,
    /// The account that served the last request is revoked at the provider (its access and
    /// refresh tokens both refused): the pool refreshes once, fails permanently, disables it.
    RevokeLastServer,
}

impl Step {
    fn title(self) -> &'static str {
        match self {
            Step::Plain => "plain request",
            Step::ErrorBeforeFirstByte => "stream opens with an error",
            Step::RateLimit => "rate limit (429)",
            Step::RevokeLastServer => "account revoked",
        }
    }
}

/// The load: each step once, with plain requests between, so the sticky pool shows what it
/// keeps and what it leaves.
const SCRIPT: [Step; 7] = [
    Step::Plain,
    Step::ErrorBeforeFirstByte,
    Step::Plain,
    Step::RateLimit,
    Step::RevokeLastServer,
    Step::Plain,
    Step::Plain,
];

/// Runs `mac demo`.
pub(crate) fn run(ctx: &Context, args: &DemoArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mac-demo")
        .build()
        .map_err(|source| RuntimeSnafu.into_error(source))?;
    runtime.block_on(demo(ctx, args))
}

async fn demo(ctx: &Context, args: &DemoArgs) -> Result<(), CliError> {
    let temp = tempfile::Builder::new()
        .prefix("mac-demo-")
        .tempdir()
        .map_err(|err| reported(format!("cannot create a temporary directory: {err}")))?;
    let data_dir = DataDir::at(temp.path().join("mac"));
    let fake = FakeProvider::start()
        .await
        .map_err(|err| reported(format!("cannot start the fake provider: {err}")))?;
    fake.set_stream_pause(Duration::from_millis(args.pause_ms));
    let mut config = MacConfig::default();
    // A short wait when every account cools down, and no background refresh: the demo shows
    // what requests do.
    config.pool.max_wait = Duration::from_secs(3);
    config.pool.proactive.enabled = false;
    let store = AccountStore::open(&data_dir, Provider::Anthropic, config.store_options())?;
    let mut seeded = Vec::new();
    for (label, expired) in ACCOUNTS {
        let valid_for = if expired { Duration::ZERO } else { Duration::from_secs(3_600) };
        seeded.push(fake.seed_account(&store, Provider::Anthropic, label, valid_for)?);
    }
    let mut gateway = Gateway::new(data_dir.clone(), config.clone());
    for provider in Provider::ALL {
        let descriptor = mac_adapters::ProviderDescriptor::for_provider(provider)
            .with_origin(&fake.origin())
            .map_err(|err| reported(format!("cannot point the pool at the fake: {err}")))?;
        gateway = gateway.descriptor(descriptor);
    }
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let gateway = gateway.start(listen).await?;
    let base = format!("http://{}", gateway.local_addr());
    ctx.printer.out(&format!(
        "mac demo: fake provider on {}, gateway on {base}, 3 simulated accounts \
         (bob's token has expired)",
        fake.origin()
    ));
    ctx.printer.out("");
    ctx.printer.out(&format!(
        "{:>2}  {:<27} {:<8} {:>6} {:>5} {:>6}  what the pool did",
        "#", "scenario", "served", "status", "tries", "ms"
    ));
    let mut events = gateway.events().subscribe();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|err| reported(format!("cannot build an HTTP client: {err}")))?;
    let mut last_served: Option<String> = None;
    for (index, step) in SCRIPT.into_iter().enumerate() {
        prepare(&fake, step, last_served.as_deref(), &seeded);
        let started = Instant::now();
        let answer = send(&http, &base).await;
        let (record, happened) = collect(&mut events, &seeded).await;
        let label = record.as_ref().and_then(|r| r.account.clone());
        let status = match (&answer, &record) {
            (_, Some(record)) => record.status.to_string(),
            (Ok(status), None) => status.to_string(),
            (Err(err), None) => format!("({err})"),
        };
        ctx.printer.out(&format!(
            "{:>2}  {:<27} {:<8} {:>6} {:>5} {:>6}  {}",
            index + 1,
            step.title(),
            label.as_deref().unwrap_or("-"),
            status,
            record.as_ref().map_or(0, |r| r.attempts),
            started.elapsed().as_millis(),
            if happened.is_empty() { "-".to_owned() } else { happened.join("; ") },
        ));
        last_served = label.or(last_served);
    }
    ctx.printer.out("");
    print_states(ctx, &data_dir, &config);
    drop(gateway.shutdown().await);
    fake.shutdown().await;
    Ok(())
}

/// Tells the fake what the next request meets.
fn prepare(fake: &FakeProvider, step: Step, last_served: Option<&str>, seeded: &[SeededAccount]) {
    match step {
        Step::Plain => {}
        Step::ErrorBeforeFirstByte => fake.script(
            Endpoint::Messages,
            vec![Scripted::sse(vec![
                sse_event(
                    "message_start",
                    &json!({"type": "message_start", "message": {"id": "msg_demo", "content": []}}),
                ),
                sse_event(
                    "error",
                    &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                ),
            ])],
        ),
        Step::RateLimit => fake.script(
            Endpoint::Messages,
            vec![Scripted::rate_limited(vec![("retry-after".into(), "30".into())])],
        ),
        Step::RevokeLastServer => {
            if let Some(account) = seeded.iter().find(|s| Some(s.label.as_str()) == last_served) {
                fake.revoke_account(&account.email);
            }
        }
    }
}

/// Sends one streamed Messages request and reads the answer to its end; its status.
async fn send(http: &reqwest::Client, base: &str) -> Result<u16, String> {
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello from mac demo"}]}"#;
    let response = http
        .post(format!("{base}/v1/messages"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .send()
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    response.bytes().await.map_err(|err| err.to_string())?;
    Ok(status)
}

/// The gateway's record of the request just sent, and what the pool did for it, in words.
async fn collect(
    events: &mut broadcast::Receiver<GatewayEvent>,
    seeded: &[SeededAccount],
) -> (Option<RequestRecord>, Vec<String>) {
    let mut happened = Vec::new();
    let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, events.recv()).await;
        match next {
            Ok(Ok(GatewayEvent::RequestFinished(record))) => return (Some(record), happened),
            Ok(Ok(GatewayEvent::Pool { event, .. })) => {
                if let Some(line) = describe(&event, seeded) {
                    happened.push(line);
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return (None, happened),
        }
    }
}

/// One pool event in words, or `None` for the ones the table shows elsewhere.
fn describe(event: &PoolEvent, seeded: &[SeededAccount]) -> Option<String> {
    let name = |uuid: &str| {
        seeded.iter().find(|s| s.uuid == uuid).map_or_else(|| uuid.to_owned(), |s| s.label.clone())
    };
    Some(match event {
        PoolEvent::Rotated { from, why } => format!("left {} ({})", name(from), cause(why)),
        PoolEvent::Refreshed { account, adopted: false } => {
            format!("renewed {}'s token", name(account))
        }
        PoolEvent::Refreshed { account, adopted: true } => {
            format!("adopted {}'s renewed token", name(account))
        }
        PoolEvent::CooledDown { account, class, until, .. } => {
            let wait = until.duration_since(EpochMs::now());
            format!("{} rests {} s ({class:?})", name(account), wait.as_secs().max(1))
        }
        PoolEvent::Disabled { account, reason } => format!("disabled {}: {reason}", name(account)),
        PoolEvent::Waiting { wait, .. } => format!("waited {} ms for a reset", wait.as_millis()),
        _ => return None,
    })
}

fn cause(why: &RotationCause) -> String {
    match why {
        RotationCause::RateLimited => "rate-limited".to_owned(),
        RotationCause::AuthFailed => "token refused".to_owned(),
        RotationCause::Revoked => "revoked".to_owned(),
        RotationCause::ServerError(status) => format!("HTTP {status}"),
        RotationCause::NetworkError => "no answer".to_owned(),
    }
}

/// Each account's state at the end, as `mac status` shows it.
fn print_states(ctx: &Context, data_dir: &DataDir, config: &MacConfig) {
    let view = pool_status(data_dir, config, Some(Provider::Anthropic), EpochMs::now());
    let mut text = String::from("accounts at the end:");
    for pool in &view.pools {
        for account in &pool.accounts {
            let _ = write!(text, "\n  {:<8} {}", account.name, account.state);
            if let Some(reason) = &account.reason {
                let _ = write!(text, " ({reason})");
            }
        }
    }
    ctx.printer.out(&text);
}

fn reported(what: String) -> CliError {
    CliError::Reported { what, hint: None }
}
