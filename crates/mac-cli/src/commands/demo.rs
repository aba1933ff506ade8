//! `mac demo`: the main job of `mac` in half a minute, with no account and no network. The
//! loopback fake provider (mac-test-support, the `demo` feature) runs in-process with three
//! simulated Claude accounts in a temporary data directory; the gateway runs in front of it;
//! a short script of requests meets a revoked account, a rate limit, an expired token and a
//! stream that opens with an error frame, and a live table shows which account served each
//! request and why the request moved on. Nothing outside the temporary directory is touched.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mac_adapters::{ENDPOINTS, ProviderDescriptor};
use mac_core::MacConfig;
use mac_core::status::pool_status;
use mac_core::{PoolEvent, RotationCause};
use mac_gateway::{Gateway, GatewayEvent, RequestRecord, RunningGateway};
use mac_ratelimit::RateLimitClass;
use mac_storage::{
    AccountStore, Credentials, DataDir, EpochMs, NewAccount, Provider, Secret, StoreOptions,
};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted};
use mac_ui::{Table, wait_time};
use serde_json::json;
use tokio::sync::broadcast;

use crate::context::Context;
use crate::error::CliError;
use crate::hint::HintCommand;
use crate::views::badge;

/// The simulated accounts, in the pool's order.
const ACCOUNTS: [&str; 3] = ["carol", "alice", "bob"];

/// A failure of the demo itself.
fn failed(what: &str, err: impl std::fmt::Display) -> CliError {
    CliError::Reported { what: format!("the demo could not run: {what}: {err}"), hint: None }
}

/// Runs `mac demo`.
pub(crate) fn run(ctx: &Context) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| failed("starting the async runtime", err))?;
    runtime.block_on(demo(ctx))
}

/// One scripted request: what goes wrong first, and whether it asks for a stream.
struct Step {
    fault: Fault,
    stream: bool,
}

/// What the fake does to the next request.
#[derive(Clone, Copy)]
enum Fault {
    None,
    /// 403 "OAuth token has been revoked", and the refresh token is revoked too.
    Revoked,
    /// 429 with Anthropic's 5-hour window exhausted, resetting in 3 hours.
    FiveHourLimit,
    /// 200 whose stream opens with an `overloaded_error` frame before any output.
    OverloadedStream,
}

impl Fault {
    /// What the provider does, for the table.
    fn describe(self) -> &'static str {
        match self {
            Fault::None => "answers",
            Fault::Revoked => "403 token revoked",
            Fault::FiveHourLimit => "429, 5-hour limit",
            Fault::OverloadedStream => "stream opens with an error",
        }
    }
}

const STEPS: [Step; 6] = [
    Step { fault: Fault::Revoked, stream: false },
    Step { fault: Fault::None, stream: true },
    Step { fault: Fault::FiveHourLimit, stream: false },
    Step { fault: Fault::None, stream: true },
    Step { fault: Fault::OverloadedStream, stream: true },
    Step { fault: Fault::None, stream: false },
];

async fn demo(ctx: &Context) -> Result<(), CliError> {
    let temp = tempfile::Builder::new()
        .prefix("mac-demo-")
        .tempdir()
        .map_err(|err| failed("creating a temporary directory", err))?;
    let data_dir = DataDir::at(temp.path().join("mac"));
    let fake =
        FakeProvider::start().await.map_err(|err| failed("starting the fake provider", err))?;
    fake.set_stream_pause(Duration::from_millis(15));
    fake.set_reply_text("Hello from the pool!");
    let names = seed(&data_dir, &fake)?;
    let gateway = Gateway::new(data_dir.clone(), config(&fake))
        .start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await?;
    let url = format!("http://{}", gateway.local_addr());
    let printer = &ctx.printer;
    printer.out(&format!(
        "mac demo: a fake Claude provider with three accounts ({}) in {}, the gateway on {url}.",
        ACCOUNTS.join(", "),
        data_dir.path().display()
    ));
    printer.out("bob's access token has expired; carol's login is about to be revoked.\n");
    let mut events = gateway.events().subscribe();
    let http = reqwest::Client::new();
    printer.out(&row(&[
        "#",
        "request",
        "the provider first",
        "status",
        "served by",
        "tries",
        "ms",
        "what happened",
    ]));
    for (index, step) in STEPS.iter().enumerate() {
        inject(&fake, step.fault);
        let (started, since) = (Instant::now(), EpochMs::now());
        let status = send(&http, &url, step.stream).await?;
        let (record, happened) = settle(&mut events, &names, since).await;
        let served = record.as_ref().and_then(|r| r.account.clone()).unwrap_or_else(|| "-".into());
        let tries = record.as_ref().map_or(0, |r| r.attempts);
        let what = if happened.is_empty() { "-".to_owned() } else { happened.join("; ") };
        printer.out(&row(&[
            &(index + 1).to_string(),
            if step.stream { "stream" } else { "JSON" },
            step.fault.describe(),
            &status.to_string(),
            &served,
            &tries.to_string(),
            &started.elapsed().as_millis().to_string(),
            &what,
        ]));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    print_pool(ctx, &data_dir);
    finish(gateway).await?;
    printer.out(&format!(
        "\nWith your own accounts: `{}`, then `mac serve` and \
         `ANTHROPIC_BASE_URL=http://127.0.0.1:8765 claude`.",
        HintCommand::Login(Provider::Anthropic)
    ));
    Ok(())
}

/// One line of the live table: fixed columns, the last one free.
fn row(cells: &[&str]) -> String {
    let widths = [2, 7, 26, 6, 9, 5, 5];
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        let _ = write!(line, "{cell:<width$}  ");
    }
    line.push_str(cells.last().copied().unwrap_or_default());
    line
}

/// The three accounts in the pool and at the fake; their labels by uuid.
fn seed(data_dir: &DataDir, fake: &FakeProvider) -> Result<HashMap<String, String>, CliError> {
    let store = AccountStore::open(data_dir, Provider::Anthropic, StoreOptions::default())?;
    let now = EpochMs::now();
    for name in ACCOUNTS {
        let grant = FakeGrant::anthropic(&format!("demo-{name}"), &format!("{name}@example.com"));
        let (access, refresh) = (format!("demo-access-{name}"), format!("demo-refresh-{name}"));
        fake.add_refresh_token(&refresh, grant.clone());
        let expires_at = if name == "bob" {
            EpochMs::from_millis(now.as_millis() - 60_000)
        } else {
            fake.add_access_token(&access, grant);
            now.saturating_add(Duration::from_secs(3600))
        };
        let new = NewAccount {
            credentials: Credentials {
                refresh_token: Secret::new(refresh),
                access_token: Some(Secret::new(access)),
                expires_at: Some(expires_at),
            },
            email: Some(format!("{name}@example.com")),
            plan_tier: Some("max".into()),
            account_uuid: None,
            account_id: None,
            label: Some(name.to_owned()),
        };
        store.add_account(&new, now)?;
    }
    let document = store.load()?;
    Ok(document.accounts.iter().filter_map(|a| Some((a.uuid.clone()?, a.display_name()))).collect())
}

/// Every endpoint on the fake; a request waits up to 5 s for a resting account; an overload
/// rests an account about a second; no background refresh, no claims file.
fn config(fake: &FakeProvider) -> MacConfig {
    let mut config = MacConfig::default();
    for provider in Provider::ALL {
        if let Ok(descriptor) =
            ProviderDescriptor::for_provider(provider).with_origin(&fake.origin())
        {
            for spec in ENDPOINTS {
                if let Some(url) = spec.get(&descriptor.endpoints) {
                    let endpoints = &mut config.providers.get_mut(provider).endpoints;
                    endpoints.insert(spec.key.to_owned(), url.to_string());
                }
            }
        }
    }
    config.pool.max_wait = Duration::from_secs(5);
    config.pool.proactive.enabled = false;
    config.pool.cross_process_claims = false;
    config.pool.server_retries = 0;
    config.pool.cooldown.overload_cooldown = Duration::from_secs(2);
    config
}

/// Makes the fake fail the next request as `fault` says.
fn inject(fake: &FakeProvider, fault: Fault) {
    match fault {
        Fault::None => {}
        Fault::Revoked => {
            fake.revoke_refresh_token("demo-refresh-carol");
            fake.script(Endpoint::Messages, vec![Scripted::revoked()]);
        }
        Fault::FiveHourLimit => {
            let reset = EpochMs::now().saturating_add(Duration::from_secs(3 * 3600));
            let reset = (reset.as_millis() / 1000).to_string();
            fake.script(
                Endpoint::Messages,
                vec![Scripted::rate_limited(vec![
                    ("anthropic-ratelimit-unified-5h-status".into(), "rejected".into()),
                    ("anthropic-ratelimit-unified-5h-reset".into(), reset),
                ])],
            );
        }
        Fault::OverloadedStream => {
            let frame =
                |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
            fake.script(
                Endpoint::Messages,
                vec![Scripted::sse(vec![
                    frame("message_start", json!({"type": "message_start", "message": {"id": "msg_demo", "content": []}})),
                    frame("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
                ])],
            );
        }
    }
}

/// Sends one Messages request through the gateway and reads its whole answer; its status.
async fn send(http: &reqwest::Client, url: &str, stream: bool) -> Result<u16, CliError> {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": stream,
        "messages": [{ "role": "user", "content": "Say hello." }],
    });
    let answer = http
        .post(format!("{url}/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .body(body.to_string())
        .send()
        .await
        .map_err(|err| failed("sending a request to the gateway", err))?;
    let status = answer.status().as_u16();
    answer.bytes().await.map_err(|err| failed("reading the gateway's answer", err))?;
    Ok(status)
}

/// The events of the request just answered, up to its record, in words.
/// Waits are shown from `since`, the request's start.
async fn settle(
    events: &mut broadcast::Receiver<GatewayEvent>,
    names: &HashMap<String, String>,
    since: EpochMs,
) -> (Option<RequestRecord>, Vec<String>) {
    let name = |uuid: &str| names.get(uuid).cloned().unwrap_or_else(|| uuid.to_owned());
    let mut happened = Vec::new();
    loop {
        let event = match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Ok(event)) => event,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return (None, happened),
        };
        let line = match event {
            GatewayEvent::RequestFinished(record) => return (Some(record), happened),
            GatewayEvent::Pool { event, .. } => match event {
                PoolEvent::Rotated { from, why } => {
                    format!("{} left ({})", name(&from), cause(&why))
                }
                PoolEvent::CooledDown { account, class, until } => format!(
                    "{} rests {} ({})",
                    name(&account),
                    wait_time(until.duration_since(since)),
                    limit(class)
                ),
                PoolEvent::Refreshed { account, .. } => {
                    format!("{}'s expired token refreshed", name(&account))
                }
                PoolEvent::Disabled { account, .. } => {
                    format!("{} disabled: needs a new login", name(&account))
                }
                PoolEvent::Waiting { wait, .. } => {
                    format!("every account busy: waited {}", wait_time(wait))
                }
                PoolEvent::Selected { .. } | PoolEvent::StreamEnded { .. } => continue,
            },
        };
        happened.push(line);
    }
}

fn cause(why: &RotationCause) -> String {
    match why {
        RotationCause::RateLimited => "rate limited or overloaded".into(),
        RotationCause::AuthFailed => "login failed".into(),
        RotationCause::Revoked => "token revoked".into(),
        RotationCause::ServerError(status) => format!("server error {status}"),
        RotationCause::NetworkError => "no answer".into(),
    }
}

fn limit(class: RateLimitClass) -> &'static str {
    match class {
        RateLimitClass::Throttle => "throttled",
        RateLimitClass::FiveHourExhausted => "5-hour window used up",
        RateLimitClass::SevenDayExhausted => "7-day window used up",
        RateLimitClass::BillingClaim => "would be billed",
        RateLimitClass::Overload => "provider overloaded",
    }
}

/// The pool as `mac status` shows it, after the script.
fn print_pool(ctx: &Context, data_dir: &DataDir) {
    let view =
        pool_status(data_dir, &MacConfig::default(), Some(Provider::Anthropic), EpochMs::now());
    ctx.printer.out("\nThe pool now:");
    let mut table = Table::new(&["NAME", "STATE", "WHY"]);
    for pool in &view.pools {
        for account in &pool.accounts {
            table.row(vec![
                (account.name.clone(), None),
                (account.state.as_str().to_owned(), Some(badge(account.state).color())),
                (account.reason.clone().unwrap_or_default(), None),
            ]);
        }
    }
    for line in table.render(ctx.printer.style()) {
        ctx.printer.out(&line);
    }
}

async fn finish(gateway: RunningGateway) -> Result<(), CliError> {
    gateway.shutdown_within(Duration::from_secs(2)).await?;
    Ok(())
}
