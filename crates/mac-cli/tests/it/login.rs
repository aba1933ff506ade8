//! `mac login` and `mac accounts relogin` against the loopback fake provider: the test plays
//! the browser (and the person pasting) by reading the URL `mac` prints.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use mac_storage::Provider;
use mac_test_support::{AuthorizeOutcome, FakeGrant, FakeProvider, TempDataDir};

use crate::support::{
    assert_no_secret, find_url, http_get, point_at, seeded, std_mac, store, uuid_of,
};

/// A running `mac` whose standard error is read line by line.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(dir: &TempDataDir, args: &[&str]) -> Self {
        let mut child = std_mac(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// Waits for a line on standard error that holds a URL.
    fn url(&mut self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("mac printed no URL; stderr so far: {:?}", self.seen));
            self.seen.push(line.clone());
            if let Some(url) = find_url(&line) {
                return url;
            }
        }
    }

    fn type_line(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
    }

    /// Waits for the end: `(exit code, stdout, all of stderr)`.
    fn finish(mut self) -> (Option<i32>, String, String) {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        let out = String::from_utf8(output.stdout).unwrap();
        (output.status.code(), out, self.seen.join("\n"))
    }
}

fn fake() -> FakeProvider {
    FakeProvider::start_in_background().unwrap()
}

#[test]
fn anthropic_login_with_the_pasted_code_adds_the_account() {
    let fake = fake();
    let dir = TempDataDir::new().unwrap();
    point_at(&dir, &fake);
    fake.set_authorize_grant(FakeGrant::anthropic("acc-uuid-1", "new@example.com"));
    let mut mac = Running::start(&dir, &["login", "anthropic", "--label", "main"]);
    let (status, location, _) = http_get(&mac.url());
    assert_eq!(status, 302);
    let (status, _, code) = http_get(&location.unwrap());
    assert_eq!(status, 200);
    mac.type_line(code.trim());
    let (code, out, err) = mac.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("added anthropic account main"), "{out}");
    assert_no_secret(&format!("{out}{err}"));
    let account = store(&dir, Provider::Anthropic).load().unwrap().accounts[0].clone();
    assert_eq!(account.email.as_deref(), Some("new@example.com"));
    assert_eq!(account.account_uuid.as_deref(), Some("acc-uuid-1"));
    assert_eq!(account.label.as_deref(), Some("main"));
    assert!(
        !out.contains(account.refresh_token.expose())
            && !err.contains(account.refresh_token.expose())
    );
}

#[test]
fn codex_browser_login_receives_the_callback() {
    let fake = fake();
    let dir = TempDataDir::new().unwrap();
    point_at(&dir, &fake);
    fake.set_authorize_grant(FakeGrant::codex("acct-7", "cx@example.com", "plus"));
    let mut mac = Running::start(&dir, &["login", "codex"]);
    let (status, location, _) = http_get(&mac.url());
    assert_eq!(status, 302);
    let callback = location.unwrap();
    assert!(callback.contains("/auth/callback?code="), "{callback}");
    let (status, _, _) = http_get(&callback);
    assert_eq!(status, 200);
    let (code, out, err) = mac.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("added codex account cx@example.com (plus)"), "{out}");
    let account = store(&dir, Provider::Codex).load().unwrap().accounts[0].clone();
    assert_eq!(account.account_id.as_deref(), Some("acct-7"));
}

#[test]
fn codex_manual_login_reads_the_pasted_redirect_url() {
    let fake = fake();
    let dir = TempDataDir::new().unwrap();
    point_at(&dir, &fake);
    fake.set_authorize_grant(FakeGrant::codex("acct-8", "m@example.com", "pro"));
    let mut mac = Running::start(&dir, &["login", "codex", "--manual"]);
    let (_, location, _) = http_get(&mac.url());
    // The browser would fail to load localhost:1455; the person copies the address instead.
    mac.type_line(&location.unwrap());
    let (code, out, err) = mac.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("added codex account m@example.com"), "{out}");
}

#[test]
fn codex_device_login_shows_the_code_and_waits() {
    let fake = fake();
    let dir = TempDataDir::new().unwrap();
    point_at(&dir, &fake);
    fake.set_device_interval(0);
    let mac = Running::start(&dir, &["login", "codex", "--device"]);
    let (code, out, err) = mac.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("and enter the code"), "{err}");
    assert!(out.starts_with("added codex account"), "{out}");
    assert_eq!(store(&dir, Provider::Codex).load().unwrap().accounts.len(), 1);
}

#[test]
fn a_denied_login_fails_with_a_hint_and_adds_nothing() {
    let fake = fake();
    let dir = TempDataDir::new().unwrap();
    point_at(&dir, &fake);
    fake.set_authorize_outcome(AuthorizeOutcome::Deny);
    let mut mac = Running::start(&dir, &["login", "codex"]);
    let (_, location, _) = http_get(&mac.url());
    let _ = http_get(&location.unwrap());
    let (code, _, err) = mac.finish();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("error: the codex login failed"), "{err}");
    assert!(err.contains("hint: run `mac login codex`"), "{err}");
    assert!(!dir.accounts_file(Provider::Codex).exists());
}

#[test]
fn anthropic_has_no_device_login() {
    let dir = TempDataDir::new().unwrap();
    let output =
        crate::support::mac(&dir).args(["login", "anthropic", "--device"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("hint: check `--device`"));
}

#[test]
fn relogin_gives_an_account_that_needs_login_new_tokens() {
    let fake = fake();
    let dir = seeded();
    point_at(&dir, &fake);
    let uuid = uuid_of(&dir, Provider::Anthropic, 1);
    fake.set_authorize_grant(FakeGrant::anthropic("acc-two", "two@example.com"));
    let mut mac = Running::start(&dir, &["accounts", "relogin", "two@example.com"]);
    let (_, location, _) = http_get(&mac.url());
    let (_, _, code) = http_get(&location.unwrap());
    mac.type_line(code.trim());
    let (code, out, err) = mac.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&uuid), "{out}");
    let document = store(&dir, Provider::Anthropic).load().unwrap();
    let account = document.account(&uuid).unwrap();
    assert!(!account.is_auth_disabled);
    assert_ne!(account.refresh_token.expose(), crate::support::TOKEN_2);
    assert_eq!(document.accounts.len(), 2, "no account was added");
}

#[test]
fn relogin_as_another_person_changes_nothing() {
    let fake = fake();
    let dir = seeded();
    point_at(&dir, &fake);
    fake.set_authorize_grant(FakeGrant::anthropic("acc-x", "someone-else@example.com"));
    let before = crate::support::file_bytes(&dir, Provider::Anthropic);
    let mut mac = Running::start(&dir, &["accounts", "relogin", "2"]);
    let (_, location, _) = http_get(&mac.url());
    let (_, _, code) = http_get(&location.unwrap());
    mac.type_line(code.trim());
    let (code, _, err) = mac.finish();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("the login was for someone-else@example.com, not two@example.com"),
        "{err}"
    );
    assert_eq!(crate::support::file_bytes(&dir, Provider::Anthropic), before);
}

#[test]
fn a_taken_callback_port_points_to_the_manual_login() {
    let fake = fake();
    let dir = TempDataDir::new().unwrap();
    point_at(&dir, &fake);
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("callback_port = 0", &format!("callback_port = {port}")))
        .unwrap();
    let output = crate::support::mac(&dir).args(["login", "codex"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("hint: check `--manual`"), "{err}");
    assert!(!dir.accounts_file(Provider::Codex).exists());
}
