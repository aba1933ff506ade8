//! Helpers: a `mac` command isolated from the machine (its own home, no `MAC_*`, no browser),
//! seeded pools, a `config.toml` pointing every endpoint at the fake provider, and a tiny
//! HTTP GET for playing the browser.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use assert_cmd::Command;
use mac_adapters::ProviderDescriptor;
use mac_storage::{
    AccountStore, AuthFailure, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions,
};
use mac_test_support::{FakeProvider, TempDataDir};

/// The refresh token of the seeded accounts: no output may ever contain it.
pub(crate) const TOKEN: &str = "sk-ant-ort01-TOP-SECRET";
/// The access token of the seeded accounts.
pub(crate) const ACCESS: &str = "sk-ant-oat01-ACCESS-SECRET";
/// The second account's refresh token.
pub(crate) const TOKEN_2: &str = "second-refresh-SECRET";

/// Environment variables that would let a test read or change the machine's own files.
const ISOLATE: &[&str] = &[
    "MAC_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "OPENCODE_CONFIG_DIR",
    "USERPROFILE",
    "NO_COLOR",
    "RUST_LOG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// `mac --home <dir>` with `HOME` in the temp dir and no browser.
pub(crate) fn mac(dir: &TempDataDir) -> Command {
    let mut command = bare(dir);
    command.arg("--home").arg(dir.path());
    command
}

/// `mac` with the isolated environment but no `--home`.
pub(crate) fn bare(dir: &TempDataDir) -> Command {
    let mut command = Command::cargo_bin("mac").unwrap();
    command.env("HOME", dir.outer()).env("BROWSER", "none").timeout(Duration::from_secs(60));
    for var in ISOLATE {
        command.env_remove(var);
    }
    command
}

/// The same isolation for a `std::process::Command` (tests that talk to a running `mac`).
pub(crate) fn std_mac(dir: &TempDataDir) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("mac"));
    command.env("HOME", dir.outer()).env("BROWSER", "none");
    for var in ISOLATE {
        command.env_remove(var);
    }
    command.arg("--home").arg(dir.path());
    command
}

/// The store of `provider` in `dir`.
pub(crate) fn store(dir: &TempDataDir, provider: Provider) -> AccountStore {
    AccountStore::open(dir.data_dir(), provider, StoreOptions::default()).unwrap()
}

/// Two anthropic accounts: `me@example.com` (max, active, token valid an hour) and
/// `two@example.com` (needs login).
pub(crate) fn seeded() -> TempDataDir {
    let dir = TempDataDir::new().unwrap();
    let store = store(&dir, Provider::Anthropic);
    let now = EpochMs::now();
    let mut new = NewAccount::from_credentials(Credentials {
        refresh_token: Secret::new(TOKEN),
        access_token: Some(Secret::new(ACCESS)),
        expires_at: Some(now.saturating_add(Duration::from_secs(3_600))),
    });
    new.email = Some("me@example.com".into());
    new.plan_tier = Some("max".into());
    store.add_account(&new, now).unwrap();
    let mut other = new.clone();
    other.credentials.refresh_token = Secret::new(TOKEN_2);
    other.email = Some("two@example.com".into());
    store.add_account(&other, now).unwrap();
    let uuid = uuid_of(&dir, Provider::Anthropic, 1);
    store.record_auth_failure(&uuid, &other.credentials, AuthFailure::Permanent, 3).unwrap();
    dir
}

/// The uuid of the `index`-th (0-based) account of `provider`.
pub(crate) fn uuid_of(dir: &TempDataDir, provider: Provider, index: usize) -> String {
    store(dir, provider).load().unwrap().accounts[index].uuid.clone().unwrap()
}

/// The accounts file's bytes (to prove a command changed nothing).
pub(crate) fn file_bytes(dir: &TempDataDir, provider: Provider) -> Option<Vec<u8>> {
    std::fs::read(dir.accounts_file(provider)).ok()
}

/// Writes `config.toml` pointing every endpoint of both providers at `fake`, with the codex
/// callback server on a free port.
pub(crate) fn point_at(dir: &TempDataDir, fake: &FakeProvider) {
    let mut text = String::new();
    for provider in Provider::ALL {
        let d = ProviderDescriptor::for_provider(provider).with_origin(&fake.origin()).unwrap();
        let _ = writeln!(text, "[providers.{provider}]");
        // Every endpoint of the one table, so a new endpoint cannot be missed here; Codex keeps
        // its loopback redirect, served on a free port.
        for spec in mac_adapters::ENDPOINTS {
            let keep_builtin = provider == Provider::Codex && spec.key == "redirect_uri";
            if let Some(url) = spec.get(&d.endpoints).filter(|_| !keep_builtin) {
                let _ = writeln!(text, "{} = \"{url}\"", spec.key);
            }
        }
        if provider == Provider::Codex {
            text.push_str("callback_port = 0\n");
        }
        text.push('\n');
    }
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
}

/// A GET over plain HTTP to a loopback URL: `(status, location header, body)`.
pub(crate) fn http_get(url: &str) -> (u16, Option<String>, String) {
    let parsed = url::Url::parse(url).unwrap();
    let port = parsed.port_or_known_default().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let path = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let location = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("location").then(|| value.trim().to_owned())
    });
    (status, location, body.to_owned())
}

/// The first `http…` URL among `lines`.
pub(crate) fn find_url(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(str::to_owned)
}

/// Standard output as text.
pub(crate) fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Standard error as text.
pub(crate) fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Fails if `text` contains any of the seeded or fake tokens.
pub(crate) fn assert_no_secret(text: &str) {
    for secret in [TOKEN, ACCESS, TOKEN_2, "SECRET"] {
        assert!(!text.contains(secret), "output contains a token:\n{text}");
    }
}
