//! A real browser for the status page tests: Debian's `chromium`, headless, driven over the
//! W3C `WebDriver` protocol by `chromedriver` (a child process on a free loopback port, killed
//! with the test). The client is the few `WebDriver` calls the tests need, over the reqwest the
//! tests already use (a `WebDriver` crate would bring a second HTTP stack for six requests).
//!
//! Without the two programs the test fails — it never skips — and names the packages.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use mac_test_support::{ChildGuard, spawn_guarded};
use serde_json::{Value, json};

/// The flags that run Chromium headless and offline on the CI machines.
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1100",
];

/// How long chromedriver and the browser get to start (a loaded 2-core machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One headless Chromium session.
pub(crate) struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver_port: u16,
    session_id: String,
    /// The browser's pid, killed on drop if the session could not be closed.
    pid: Option<u32>,
    closed: bool,
    // Dropped last: chromedriver, then the profile directory.
    _driver: ChildGuard,
    _profile: tempfile::TempDir,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(
        |candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file())
                && Command::new(candidate)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
        },
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; fails the test (naming the Debian
    /// packages) when either program is missing.
    pub(crate) async fn start() -> Self {
        let (Some(chromium), Some(chromedriver)) =
            (find(&["chromium", "chromium-browser"]), find(&["chromedriver"]))
        else {
            panic!(
                "the status page's browser test needs Chromium and its WebDriver: install the \
                 Debian packages `chromium` and `chromium-driver` (apt-get install chromium \
                 chromium-driver); .ci/run installs them in CI"
            );
        };
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        // A free port can be taken between the probe and chromedriver's bind: try again.
        let (driver, driver_port) = loop {
            let port = free_port();
            let driver = spawn_guarded(
                Command::new(&chromedriver)
                    .arg(format!("--port={port}"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
            .unwrap();
            if ready(&http, port, deadline).await {
                break (driver, port);
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready in time");
        };
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer = http
            .post(format!("http://127.0.0.1:{driver_port}/session"))
            .body(capabilities.to_string())
            .header("content-type", "application/json")
            .timeout(START_TIMEOUT)
            .send()
            .await
            .unwrap();
        let value = webdriver_value(answer).await;
        let session_id = value["sessionId"].as_str().unwrap().to_owned();
        let pid =
            value["capabilities"]["goog:processID"].as_u64().and_then(|p| u32::try_from(p).ok());
        Self {
            http,
            session: format!("http://127.0.0.1:{driver_port}/session/{session_id}"),
            driver_port,
            session_id,
            pid,
            closed: false,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.session))
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        webdriver_value(request.send().await.unwrap()).await
    }

    /// Loads `url` and waits for its `load` event.
    pub(crate) async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns its
    /// value.
    pub(crate) async fn eval(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The page's current markup.
    pub(crate) async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_owned()
    }

    /// Resizes the window.
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Saves a PNG of the viewport to `path`.
    pub(crate) async fn screenshot(&self, path: &Path) {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png =
            base64::engine::general_purpose::STANDARD.decode(value.as_str().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Closes the session (the browser exits), then chromedriver is killed.
    pub(crate) async fn quit(mut self) {
        self.call(reqwest::Method::DELETE, "", None).await;
        self.closed = true;
    }
}

impl Drop for Browser {
    /// A test that failed half-way still closes the browser: a plain blocking `DELETE` (the
    /// runtime may be gone), and a kill of its pid if that did not work.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let deleted = TcpStream::connect(("127.0.0.1", self.driver_port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.session_id, self.driver_port
            )?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer)?;
            Ok(answer.starts_with(b"HTTP/1.1 200"))
        });
        if !matches!(deleted, Ok(true))
            && let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

async fn ready(http: &reqwest::Client, port: u16, deadline: Instant) -> bool {
    // Up to 10 s per try: a port lost to a race shows as a chromedriver that never answers.
    let try_deadline = (Instant::now() + Duration::from_secs(10)).min(deadline);
    while Instant::now() < try_deadline {
        if let Ok(answer) = http.get(format!("http://127.0.0.1:{port}/status")).send().await
            && let Ok(body) = answer.json_value().await
            && body["value"]["ready"] == true
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The `value` of a `WebDriver` answer; a `WebDriver` error fails the test with its message.
async fn webdriver_value(answer: reqwest::Response) -> Value {
    let status = answer.status();
    let body: Value = answer.json_value().await.unwrap();
    assert!(status.is_success(), "WebDriver error {status}: {body:#}");
    body["value"].clone()
}

/// reqwest without its `json` feature: the body parsed with `serde_json`.
trait JsonValue {
    async fn json_value(self) -> Result<Value, String>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Result<Value, String> {
        let bytes = self.bytes().await.map_err(|err| err.to_string())?;
        serde_json::from_slice(&bytes).map_err(|err| err.to_string())
    }
}
