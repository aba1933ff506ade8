//! The status page of `mac serve` (issue 14), in-process in front of the fake provider.
//!
//! In a real browser (headless Chromium over `WebDriver`, `status_page_browser`): the page lists
//! the accounts of the data directory; a scripted 429 on the serving account turns its badge
//! to rate-limited with the right reset time within 2 s, without a reload; a revoked account
//! shows "needs login"; the countdown decreases; no token appears in the page's source, the
//! URLs it requested, their answers or the event stream; the stream ends when the gateway
//! shuts down. A screenshot goes to `target/status-page.png` (and `-narrow.png`).
//!
//! Over plain HTTP: the access rules with an inbound key (sign-in form, cookie, what the
//! cookie opens and what it does not) and without one. Against `mac serve` as a real process:
//! the sign-in form's per-address limit on wrong keys (429 with `retry-after`), and the log
//! line and route metrics of every page request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mac_storage::{AccountStore, EpochMs, Provider, Secret, StoreOptions, UsageLimits, format_iso};
use mac_test_support::{Endpoint, FakeProvider, Scripted, TempDataDir};
use serde_json::{Value, json};

use crate::gateway_process::{Served, serve_with};
use crate::gateway_support::{Seeded, base_url, config, config_toml, messages_body, seed, start};
use crate::status_page_browser::Browser;

/// The issue's bound for a live change to show.
const LIVE: Duration = Duration::from_secs(2);
/// How long the first load may take (the browser's first start on a loaded machine).
const FIRST_LOAD: Duration = Duration::from_secs(30);

/// The account cards as the page shows them.
const ROWS: &str = r"
return Array.from(document.querySelectorAll('article.account')).map(a => {
  const blocked = a.querySelector('.blocked');
  const left = blocked.querySelector('.countdown');
  return {
    provider: a.closest('section').dataset.provider,
    id: a.dataset.account,
    name: a.querySelector('.name').textContent,
    state: a.dataset.state,
    badge: a.querySelector('.badge').textContent,
    why: a.querySelector('.why').textContent,
    until: blocked.hidden ? null : blocked.getAttribute('data-until'),
    blocked: blocked.hidden ? null : blocked.textContent,
    countdown: blocked.hidden || !left ? null : left.textContent,
    serving: a.dataset.serving === 'true',
    fiveHour: a.querySelector('.window .pct').textContent,
    families: Array.from(a.querySelectorAll('.families .family'))
      .map(f => ({ family: f.dataset.family, until: f.dataset.until, text: f.textContent })),
  };
});";

/// Polls the page's cards every 50 ms until `done` holds, for at most `within`; returns them
/// and when they held. Fails with the last cards seen.
async fn cards_until(
    browser: &Browser,
    what: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, Duration) {
    let started = Instant::now();
    loop {
        let cards = browser.eval(ROWS, json!([])).await.as_array().cloned().unwrap_or_default();
        if done(&cards) {
            return (cards, started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "the page did not show {what} within {within:?}; it shows {:#}",
            Value::Array(cards)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn card<'a>(cards: &'a [Value], id: &str) -> &'a Value {
    cards.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no card {id}"))
}

/// `HH:MM:SS` of `at` in the browser's time zone (`offset_minutes` as JavaScript's
/// `getTimezoneOffset` gives it).
fn local_clock(at: EpochMs, offset_minutes: i64) -> String {
    let local = at.as_millis() / 1000 - offset_minutes * 60;
    let day = local.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// `00:01:59` or `3d 04:05:06` as seconds.
fn countdown_secs(text: &str) -> i64 {
    let (days, hms) = match text.split_once("d ") {
        Some((d, rest)) => (d.parse::<i64>().unwrap(), rest),
        None => (0, text),
    };
    let parts: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    days * 86_400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
}

/// `target/` (the parent of the integration tests' scratch directory).
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf()
}

/// Every token the test gave out or the fake issued: none may appear on the page.
fn every_token(fake: &FakeProvider, seeded: &[&Seeded]) -> Vec<String> {
    let mut tokens: Vec<String> = seeded
        .iter()
        .flat_map(|s| {
            let mut mine = vec![s.access.clone(), s.refresh.clone()];
            mine.extend(fake.current_refresh_token(&s.refresh));
            mine
        })
        .collect();
    tokens.extend(fake.issued_access_tokens());
    tokens
}

fn assert_no_token(what: &str, text: &str, tokens: &[String]) {
    for token in tokens {
        assert!(!text.contains(token.as_str()), "{what} contains the token {token:?}");
    }
}

/// A reader of the event stream (as the page opens it), kept until the stream ends.
struct EventCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl EventCapture {
    fn start(http: &reqwest::Client, url: String) -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let (sink, http) = (Arc::clone(&buffer), http.clone());
        let task = tokio::spawn(async move {
            let mut answer = http.get(url).send().await.map_err(|e| e.to_string())?;
            if answer.status() != 200 {
                return Err(format!("status {}", answer.status()));
            }
            while let Some(chunk) = answer.chunk().await.map_err(|e| e.to_string())? {
                sink.lock().unwrap().extend_from_slice(&chunk);
            }
            Ok(())
        });
        Self { buffer, task }
    }

    /// Everything read, once the stream ended by itself (within 10 s).
    async fn ended(self) -> String {
        let ended = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "the event stream ended cleanly: {ended:?}");
        String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap()
    }
}

async fn send(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.post(format!("{url}/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .body(messages_body(false))
        .send()
        .await
        .unwrap()
}

/// The browser test's world: three Claude accounts and one Codex account, the gateway, the
/// page open in Chromium and a reader of the event stream.
struct Scene {
    fake: FakeProvider,
    _dir: TempDataDir,
    work: Seeded,
    spare: Seeded,
    third: Seeded,
    codex: Seeded,
    gateway: mac_gateway::RunningGateway,
    url: String,
    http: reqwest::Client,
    browser: Browser,
    events: EventCapture,
}

impl Scene {
    async fn start() -> Self {
        let fake = FakeProvider::start().await.unwrap();
        let dir = TempDataDir::new().unwrap();
        let work = seed(&dir, &fake, Provider::Anthropic, "work");
        let spare = seed(&dir, &fake, Provider::Anthropic, "spare");
        let third = seed(&dir, &fake, Provider::Anthropic, "third");
        let codex = seed(&dir, &fake, Provider::Codex, "cx");
        let now = EpochMs::now();
        let in_ = |secs| format_iso(now.saturating_add(Duration::from_secs(secs)));
        let usage: UsageLimits = serde_json::from_value(json!({
            "five_hour": {"utilization": 42, "resets_at": in_(2 * 3600 + 5 * 60)},
            "seven_day": {"utilization": 9, "resets_at": in_(3 * 86_400)},
        }))
        .unwrap();
        AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default())
            .unwrap()
            .record_usage(&work.uuid, usage, now)
            .unwrap();
        let gateway = start(&dir, config(&fake)).await;
        let url = base_url(&gateway);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let events = EventCapture::start(&http, format!("{url}/v1/events"));
        let browser = Browser::start().await;
        browser.goto(&format!("{url}/")).await;
        Self { fake, _dir: dir, work, spare, third, codex, gateway, url, http, browser, events }
    }

    /// The page lists the data directory's accounts, by provider, with their usage.
    async fn lists_the_accounts(&self) {
        let (cards, _) = cards_until(&self.browser, "the four accounts", FIRST_LOAD, |cards| {
            cards.len() == 4 && cards.iter().all(|c| c["state"] == "ready")
        })
        .await;
        let names: Vec<(&str, &str)> = cards
            .iter()
            .map(|c| (c["provider"].as_str().unwrap(), c["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("anthropic", "work"),
                ("anthropic", "spare"),
                ("anthropic", "third"),
                ("codex", "cx")
            ]
        );
        assert_eq!(card(&cards, &self.work.uuid)["fiveHour"], "42%");
    }

    /// `work` serves a request; the provider then answers it with a used-up 5-hour window: its
    /// badge turns rate-limited with the window's reset within 2 s, and the countdown ticks.
    async fn a_429_on_the_serving_account_shows_live(&self) -> Duration {
        let (browser, work) = (&self.browser, &self.work.uuid);
        assert_eq!(send(&self.http, &self.url).await.status(), 200);
        cards_until(browser, "work serving", LIVE, |cards| card(cards, work)["serving"] == true)
            .await;
        let reset_secs = EpochMs::now().as_millis() / 1000 + 3 * 3600 + 17;
        let reset = EpochMs::from_millis(reset_secs * 1000);
        self.fake.script(
            Endpoint::Messages,
            vec![Scripted::rate_limited(vec![
                ("anthropic-ratelimit-unified-status".into(), "rejected".into()),
                ("anthropic-ratelimit-unified-5h-status".into(), "rejected".into()),
                ("anthropic-ratelimit-unified-5h-reset".into(), reset_secs.to_string()),
            ])],
        );
        let answer = send(&self.http, &self.url).await;
        assert_eq!(answer.status(), 200, "the request rotated to another account");
        let (cards, took) = cards_until(browser, "work rate-limited", LIVE, |cards| {
            let w = card(cards, work);
            w["badge"] == "rate-limited"
                && w["until"].as_str().and_then(|u| u.parse::<i64>().ok())
                    == Some(reset.as_millis())
        })
        .await;
        let offset = browser
            .eval("return new Date(arguments[0]).getTimezoneOffset();", json!([reset.as_millis()]))
            .await;
        let w = card(&cards, work);
        let clock = local_clock(reset, offset.as_i64().unwrap());
        assert!(w["blocked"].as_str().unwrap().contains(&clock), "{w:#} shows the reset {clock}");
        assert_eq!(w["why"], "5-hour window used up");
        assert_eq!(w["serving"], false);

        let first = countdown_secs(w["countdown"].as_str().unwrap());
        let left = (reset.as_millis() - EpochMs::now().as_millis()) / 1000;
        assert!((first - left).abs() <= 2, "the page counts {first} s, {left} s are left");
        cards_until(browser, "the countdown moving", Duration::from_secs(4), |cards| {
            card(cards, work)["countdown"].as_str().is_some_and(|t| countdown_secs(t) < first)
        })
        .await;

        // The pool JSON the page re-reads says the same as the event did.
        let pool = self.pool().await;
        assert_eq!(stored(&pool, work)["state"], "rate-limited");
        assert_eq!(stored(&pool, work)["blockedUntil"], reset.as_millis());
        took
    }

    /// `spare` serves now; its tokens are revoked: the next request disables it and moves on
    /// to `third`. The page shows "needs login" within 2 s.
    async fn a_revoked_account_shows_needs_login(&self) -> Duration {
        let spare = &self.spare;
        self.fake.revoke_access_token(&spare.access);
        self.fake.revoke_refresh_token(&spare.refresh);
        assert_eq!(send(&self.http, &self.url).await.status(), 200);
        let (cards, took) = cards_until(&self.browser, "spare needing a login", LIVE, |cards| {
            card(cards, &spare.uuid)["badge"] == "needs login"
        })
        .await;
        assert!(card(&cards, &spare.uuid)["why"].as_str().unwrap().contains("mac login"));
        assert_eq!(card(&cards, &self.third.uuid)["badge"], "ready");
        assert_eq!(stored(&self.pool().await, &spare.uuid)["state"], "needs-login");
        let summary = self
            .browser
            .eval("return document.getElementById('sum-usable').textContent;", json!([]))
            .await;
        assert_eq!(summary, "2 of 4", "third and cx are usable");
        took
    }

    async fn pool(&self) -> Value {
        let text = self.http.get(format!("{}/v1/pool", self.url)).send().await.unwrap();
        serde_json::from_str(&text.text().await.unwrap()).unwrap()
    }

    /// `target/status-page.png`, and `target/status-page-narrow.png` in a phone-wide window.
    async fn screenshots(&self) {
        std::fs::create_dir_all(target_dir()).unwrap();
        self.browser.screenshot(&target_dir().join("status-page.png")).await;
        self.browser.resize(420, 1400).await;
        self.browser.screenshot(&target_dir().join("status-page-narrow.png")).await;
    }

    /// No token in the page's markup, the URLs it asked for or their answers (read again
    /// here); returns the tokens for the event stream's check.
    async fn the_page_carries_no_token(&self) -> Vec<String> {
        let tokens = every_token(&self.fake, &[&self.work, &self.spare, &self.third, &self.codex]);
        assert!(tokens.len() >= 8);
        assert_no_token("the page's source", &self.browser.source().await, &tokens);
        let requested = self
            .browser
            .eval(
                "return [location.href, \
                 ...performance.getEntriesByType('resource').map(e => e.name)];",
                json!([]),
            )
            .await;
        let requested: Vec<String> =
            requested.as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_owned()).collect();
        // (An open EventSource is listed only once it ends: its URL is the fixed `/v1/events`.)
        for path in ["/status/status.js", "/status/status.css", "/v1/pool"] {
            assert!(requested.iter().any(|u| u.ends_with(path)), "the page asked for {path}");
        }
        for requested in &requested {
            assert_no_token("a URL the page asked for", requested, &tokens);
            if !requested.ends_with("/v1/events") {
                let body = self.http.get(requested).send().await.unwrap().text().await.unwrap();
                assert_no_token(requested, &body, &tokens);
            }
        }
        tokens
    }

    /// Shutting down ends the event stream (it never holds the graceful shutdown); what it
    /// carried has no token.
    async fn shut_down(self, tokens: &[String]) {
        self.gateway.shutdown().await.unwrap();
        let events = self.events.ended().await;
        assert_no_token("the event stream", &events, tokens);
        for kind in ["\"type\":\"activity\"", "\"type\":\"cooled_down\"", "\"type\":\"disabled\""] {
            assert!(events.contains(kind), "the stream carried {kind}");
        }
        self.browser.quit().await;
    }
}

/// The account `id` of the pool JSON's first pool.
fn stored(pool: &Value, id: &str) -> Value {
    pool["pools"][0]["accounts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_shows_the_pool_and_follows_it_live() {
    let scene = Scene::start().await;
    scene.lists_the_accounts().await;
    let limited = scene.a_429_on_the_serving_account_shows_live().await;
    let revoked = scene.a_revoked_account_shows_needs_login().await;
    eprintln!(
        "shown after the gateway's answer: the 429 in {limited:?}, the revocation in {revoked:?}"
    );
    scene.screenshots().await;
    let tokens = scene.the_page_carries_no_token().await;
    scene.shut_down(&tokens).await;
}

/// A 429 of Anthropic's weekly Opus limit (`seven_day_opus`) while the account's own windows
/// have room: the account stays ready (it serves Sonnet), and the page and `/v1/pool` show the
/// Opus limit as such, live and after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_shows_a_model_family_limit_beside_a_ready_account() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "work");
    seed(&dir, &fake, Provider::Anthropic, "spare");
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let browser = Browser::start().await;
    browser.goto(&format!("{url}/")).await;
    cards_until(&browser, "two ready accounts", FIRST_LOAD, |cards| {
        cards.len() == 2 && cards.iter().all(|c| c["state"] == "ready")
    })
    .await;

    let reset_secs = EpochMs::now().as_millis() / 1000 + 3 * 86_400 + 17;
    let reset = EpochMs::from_millis(reset_secs * 1000);
    fake.script(
        Endpoint::Messages,
        vec![Scripted::rate_limited(vec![
            ("anthropic-ratelimit-unified-status".into(), "rejected".into()),
            ("anthropic-ratelimit-unified-representative-claim".into(), "seven_day_opus".into()),
            ("anthropic-ratelimit-unified-reset".into(), reset_secs.to_string()),
        ])],
    );
    let mut events = gateway.events().subscribe();
    let opus = r#"{"model":"claude-opus-4-1","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
    let answer = http
        .post(format!("{url}/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .body(opus)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "the request rotated to the other account");
    let limited = loop {
        if let mac_gateway::GatewayEvent::Pool {
            event: mac_executor::PoolEvent::CooledDown { account, .. },
            ..
        } = events.recv().await.unwrap()
        {
            break account;
        }
    };

    let shows_opus = |cards: &[Value]| {
        let c = card(cards, &limited);
        c["badge"] == "ready"
            && c["families"].as_array().is_some_and(|f| {
                f.len() == 1
                    && f[0]["family"] == "opus"
                    && f[0]["until"].as_str() == Some(&reset.as_millis().to_string())
            })
    };
    let (cards, took) =
        cards_until(&browser, "a ready account with its Opus limit", LIVE, shows_opus).await;
    let offset = browser
        .eval("return new Date(arguments[0]).getTimezoneOffset();", json!([reset.as_millis()]))
        .await;
    let text = card(&cards, &limited)["families"][0]["text"].as_str().unwrap().to_owned();
    let clock = local_clock(reset, offset.as_i64().unwrap());
    assert!(text.starts_with("opus limited until ") && text.contains(&clock), "{text}");
    assert!(text.contains("other models still served"), "{text}");
    let summary =
        browser.eval("return document.getElementById('sum-usable').textContent;", json!([])).await;
    assert_eq!(summary, "2 of 2", "both accounts still serve");

    // The pool JSON says the same, so a page opened now shows it too.
    let pool = http.get(format!("{url}/v1/pool")).send().await.unwrap().text().await.unwrap();
    let pool: Value = serde_json::from_str(&pool).unwrap();
    let stored = stored(&pool, &limited);
    assert_eq!(stored["state"], "ready", "{stored:#}");
    assert_eq!(stored["familyLimits"], json!([{"family": "opus", "until": reset.as_millis()}]));
    browser.goto(&format!("{url}/")).await;
    cards_until(&browser, "the Opus limit after a reload", FIRST_LOAD, shows_opus).await;
    eprintln!("the Opus limit shown {took:?} after the gateway's answer");
    gateway.shutdown().await.unwrap();
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_inbound_key_the_page_asks_for_it_and_its_cookie_opens_only_reading() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let work = seed(&dir, &fake, Provider::Anthropic, "work");
    let mut config = config(&fake);
    config.gateway.inbound_key = Some(Secret::new("the-inbound-key"));
    let gateway = start(&dir, config).await;
    let url = base_url(&gateway);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Without the key: the sign-in form, no pool data; the stream and the pool refused.
    let form = http.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(form.status(), 401);
    let form = form.text().await.unwrap();
    assert!(form.contains("<form method=\"post\"") && !form.contains("work"), "{form}");
    for path in ["/v1/events", "/v1/pool"] {
        assert_eq!(http.get(format!("{url}{path}")).send().await.unwrap().status(), 401, "{path}");
    }
    let wrong = http.post(format!("{url}/")).body("key=not-it").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    // The right key: a cookie that holds no key, HttpOnly and SameSite=Strict.
    let signed = http
        .post(format!("{url}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("key=the-inbound-key")
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    assert_eq!(signed.headers()["location"], "/");
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("the-inbound-key"));
    let pair = cookie.split(';').next().unwrap().to_owned();

    // The cookie opens the page, its stream and the pool JSON...
    let page = http.get(format!("{url}/")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'")
    );
    let pool = http.get(format!("{url}/v1/pool")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(pool.status(), 200);
    assert!(pool.text().await.unwrap().contains(&work.uuid));
    let events = http.get(format!("{url}/v1/events")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(events.status(), 200);
    assert!(events.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    drop(events);
    // ...and nothing else: no request through the pool, no metrics.
    let proxied = http
        .post(format!("{url}/v1/messages"))
        .header("cookie", &pair)
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 401);
    assert_eq!(fake.count(Endpoint::Messages), 0);
    let metrics = http.get(format!("{url}/metrics")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(metrics.status(), 401);
    // A cookie made for another key opens nothing.
    let forged = pair.replace(|c: char| c.is_ascii_hexdigit() && c != '0', "0");
    let page = http.get(format!("{url}/")).header("cookie", &forged).send().await.unwrap();
    assert_eq!(page.status(), 401);

    // The key itself works too, as for every route.
    let page =
        http.get(format!("{url}/")).header("x-api-key", "the-inbound-key").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let events =
        http.get(format!("{url}/v1/events")).bearer_auth("the-inbound-key").send().await.unwrap();
    assert_eq!(events.status(), 200);
    drop(events);
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_without_a_key_get_is_the_page_and_head_the_health_answer() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "work");
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let head = http.head(format!("{url}/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let page = http.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = page.text().await.unwrap();
    assert!(page.contains("/status/status.js"), "{page}");
    let script = http.get(format!("{url}/status/status.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("new EventSource(\"/v1/events\")"));
    gateway.shutdown().await.unwrap();
}

/// `route="<route>"` lines of `mac serve`'s request log.
fn request_lines<'a>(log: &'a str, route: &str) -> Vec<&'a str> {
    let route = format!("route=\"{route}\"");
    log.lines().filter(|l| l.contains("mac_gateway::request") && l.contains(&route)).collect()
}

/// `mac_gateway_requests_total{route, status, outcome}` of the `/metrics` text, 0 when absent.
fn requests_total(metrics: &str, route: &str, status: &str, outcome: &str) -> u64 {
    let series = format!(
        "mac_gateway_requests_total{{route=\"{route}\",status=\"{status}\",outcome=\"{outcome}\"}} "
    );
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |n| n.parse().unwrap())
}

/// `mac serve` as a real process with `key` as its inbound key in front of the fake (kept as
/// long as the caller keeps it), and a client that does not follow redirects.
async fn serve_with_key(
    dir: &TempDataDir,
    key: &str,
    name: &str,
) -> (Served, reqwest::Client, FakeProvider) {
    let fake = FakeProvider::start().await.unwrap();
    seed(dir, &fake, Provider::Anthropic, "work");
    let toml = format!("{}\n[gateway]\ninbound_key = \"{key}\"\n", config_toml(&fake));
    std::fs::write(dir.data_dir().config_file(), toml).unwrap();
    let served = serve_with(dir, name, &[], &[]);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (served, http, fake)
}

/// `POST /` of the sign-in form with `key`.
async fn sign_in(http: &reqwest::Client, url: &str, key: &str) -> reqwest::Response {
    http.post(format!("{url}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={key}"))
        .send()
        .await
        .unwrap()
}

/// Against `mac serve` as a real process with an inbound key: the sign-in form lets one address
/// try 5 wrong keys, then answers 429 with `retry-after` without comparing (the right key too);
/// the key itself still opens the page; the refusals are logged with the client's address and
/// no offered key reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_serve_limits_how_fast_one_address_guesses_the_inbound_key() {
    let dir = TempDataDir::new().unwrap();
    let key = "the-inbound-key";
    let (served, http, _fake) = serve_with_key(&dir, key, "limit").await;
    let url = served.url.clone();
    let guesses: Vec<String> = (0..7).map(|n| format!("guess-{n}-of-the-key")).collect();
    for guess in &guesses[..5] {
        assert_eq!(sign_in(&http, &url, guess).await.status(), 401, "{guess}");
    }
    for guess in &guesses[5..] {
        let limited = sign_in(&http, &url, guess).await;
        assert_eq!(limited.status(), 429, "the sixth wrong key in a row");
        let after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=12).contains(&after), "retry-after {after}");
        assert!(limited.headers().get("set-cookie").is_none());
        assert!(limited.text().await.unwrap().contains("Too many wrong keys"));
    }
    // While limited, not even the right key is compared: a guess teaches nothing.
    let right = sign_in(&http, &url, key).await;
    assert_eq!(right.status(), 429);
    assert!(right.headers().get("set-cookie").is_none());
    // The key itself (not the form) still opens the page.
    let page = http.get(format!("{url}/")).header("x-api-key", key).send().await.unwrap();
    assert_eq!(page.status(), 200);

    let (code, log) = served.stop_keeping_log(rustix::process::Signal::TERM);
    assert_eq!(code, Some(0), "{log}");
    let limited: Vec<&str> =
        log.lines().filter(|l| l.contains("too many wrong inbound keys")).collect();
    assert_eq!(limited.len(), 3, "{log}");
    assert!(limited.iter().all(|l| l.contains("127.0.0.1")), "with the address: {log}");
    for guess in guesses.iter().map(String::as_str).chain([key]) {
        assert!(!log.contains(guess), "the log holds an offered key: {guess}");
    }
}

/// Against `mac serve` as a real process: the page, its files, the sign-in form and the event
/// stream each write the one log line and the route metrics every route writes (the stream at
/// open, and at close with its duration, also when it is still open at shutdown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_serve_logs_and_counts_every_page_request() {
    let dir = TempDataDir::new().unwrap();
    let key = "the-inbound-key";
    let (served, http, _fake) = serve_with_key(&dir, key, "page").await;
    let url = served.url.clone();
    assert_eq!(http.get(format!("{url}/")).send().await.unwrap().status(), 401);
    assert_eq!(http.get(format!("{url}/status/status.css")).send().await.unwrap().status(), 200);
    assert_eq!(sign_in(&http, &url, "not-it").await.status(), 401);
    assert_eq!(sign_in(&http, &url, key).await.status(), 303);
    let page = http.get(format!("{url}/")).header("x-api-key", key).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let mut events =
        http.get(format!("{url}/v1/events")).header("x-api-key", key).send().await.unwrap();
    assert_eq!(events.status(), 200);
    assert!(events.chunk().await.unwrap().is_some(), "the first snapshot");
    drop(events);

    // The closed stream is counted once the gateway noticed it left (at its next write at the
    // latest, within the 2 s activity period).
    let asked = Instant::now();
    let metrics = loop {
        let text = http
            .get(format!("{url}/metrics"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if requests_total(&text, "events", "2xx", "local") == 1 {
            break text;
        }
        assert!(asked.elapsed() < FIRST_LOAD, "the closed event stream was never counted: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(requests_total(&metrics, "sign_in", "4xx", "refused"), 1, "{metrics}");
    assert_eq!(requests_total(&metrics, "sign_in", "3xx", "local"), 1, "{metrics}");
    assert_eq!(requests_total(&metrics, "page", "4xx", "refused"), 1, "the sign-in form");
    assert_eq!(requests_total(&metrics, "page", "2xx", "local"), 2, "the page and its css");

    // A stream still open at shutdown is logged as it closes too.
    let mut open =
        http.get(format!("{url}/v1/events")).header("x-api-key", key).send().await.unwrap();
    assert!(open.chunk().await.unwrap().is_some());
    let (code, log) = served.stop_keeping_log(rustix::process::Signal::TERM);
    assert_eq!(code, Some(0), "{log}");
    while open.chunk().await.is_ok_and(|chunk| chunk.is_some()) {}

    let sign_ins = request_lines(&log, "sign_in");
    assert_eq!(sign_ins.len(), 2, "{log}");
    assert!(sign_ins[0].contains("status=401") && sign_ins[1].contains("status=303"), "{log}");
    assert_eq!(request_lines(&log, "page").len(), 3, "{log}");
    let streams = request_lines(&log, "events");
    assert_eq!(streams.len(), 4, "two streams, opened and closed: {log}");
    assert_eq!(streams.iter().filter(|l| l.contains("event stream opened")).count(), 2, "{log}");
    assert_eq!(streams.iter().filter(|l| l.contains(" ms=")).count(), 2, "{log}");
    assert!(!log.contains("not-it") && !log.contains(key), "no offered key in the log");
}
