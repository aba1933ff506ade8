//! `mac menu`: the flows over a scripted prompter (in process, against a fake host), and once
//! for real in a pseudo-terminal under tmux, toggling an account and checking the file.

use std::process::Command;
use std::time::{Duration, Instant};

use mac_adapters::{Identity, LoginOutcome};
use mac_claims::ClaimsSnapshot;
use mac_cli::error::CliError;
use mac_cli::menu_flow::{self, MenuHost};
use mac_core::MacConfig;
use mac_storage::{Credentials, EpochMs, Provider, Secret};
use mac_ui::ScriptedPrompter;

use crate::support::{seeded, store};

#[derive(Default)]
struct FakeHost {
    said: Vec<String>,
    logins: usize,
    /// Who every login is (else `menu<n>@example.com`).
    email: Option<String>,
}

impl MenuHost for FakeHost {
    fn say(&mut self, line: &str) {
        self.said.push(line.to_owned());
    }

    fn login(&mut self, _provider: Provider) -> Result<LoginOutcome, CliError> {
        self.logins += 1;
        Ok(LoginOutcome {
            credentials: Credentials {
                refresh_token: Secret::new(format!("menu-login-{}", self.logins)),
                access_token: Some(Secret::new("menu-access")),
                expires_at: Some(EpochMs::now().saturating_add(Duration::from_secs(3_600))),
            },
            identity: Identity {
                email: Some(
                    self.email
                        .clone()
                        .unwrap_or_else(|| format!("menu{}@example.com", self.logins)),
                ),
                ..Identity::default()
            },
        })
    }

    fn refresh_usage(&mut self, _provider: Provider) -> Result<(), CliError> {
        Ok(())
    }

    fn claims(&mut self, _provider: Provider) -> ClaimsSnapshot {
        ClaimsSnapshot::default()
    }
}

fn run_script(dir: &mac_test_support::TempDataDir, script: &[&str]) -> FakeHost {
    run_as(dir, script, FakeHost::default())
}

fn run_as(dir: &mac_test_support::TempDataDir, script: &[&str], mut host: FakeHost) -> FakeHost {
    let mut prompter = ScriptedPrompter::new(script);
    let config = MacConfig::load_from(dir.data_dir(), mac_core::config::no_env).unwrap();
    menu_flow::run(dir.data_dir(), &config, Some(Provider::Anthropic), &mut prompter, &mut host)
        .unwrap();
    assert!(prompter.is_done(), "unused answers; asked: {:?}", prompter.asked);
    host
}

#[test]
fn toggle_relogin_and_delete_with_confirmation() {
    let dir = seeded();
    let someone_else = run_as(
        &dir,
        &["Manage", "two@example.com", "Re-authenticate", "!cancel"],
        FakeHost { email: Some("else@example.com".into()), ..FakeHost::default() },
    );
    assert!(
        someone_else.said[0].starts_with("Not changed: the login was for else@example.com"),
        "{:?}",
        someone_else.said
    );
    assert!(store(&dir, Provider::Anthropic).load().unwrap().accounts[1].is_auth_disabled);
    let script = [
        "Manage",
        "me@example.com",
        "Disable account",
        "Manage",
        "two@example.com",
        "Re-authenticate",
        "Manage",
        "two@example.com",
        "Delete this account",
        "!no",
        "!cancel",
    ];
    let host = run_as(
        &dir,
        &script,
        FakeHost { email: Some("two@example.com".into()), ..FakeHost::default() },
    );
    assert_eq!(host.said, ["me@example.com disabled.", "two@example.com re-authenticated."]);
    let document = store(&dir, Provider::Anthropic).load().unwrap();
    assert_eq!(document.accounts.len(), 2, "a declined delete deletes nothing");
    assert!(!document.accounts[0].enabled);
    assert!(!document.accounts[1].is_auth_disabled);
    assert_eq!(document.accounts[1].refresh_token.expose(), "menu-login-1");

    run_script(&dir, &["Manage", "two@example.com", "Delete this account", "!yes", "!cancel"]);
    assert_eq!(store(&dir, Provider::Anthropic).load().unwrap().accounts.len(), 1);
}

#[test]
fn add_quotas_strategy_and_delete_all() {
    let dir = seeded();
    std::fs::write(dir.path().join("config.toml"), "# my settings\n[retry]\nmin_attempts = 7\n")
        .unwrap();
    let host = run_script(
        &dir,
        &[
            "Add new account",
            "Check quotas",
            "Load balancing",
            "hybrid",
            "Delete all",
            "!no",
            "!cancel",
        ],
    );
    assert_eq!(host.said[0], "Account added to the anthropic pool (3 total).");
    assert!(
        host.said.iter().any(|l| l.starts_with("  me@example.com [ready]  5h: no data")),
        "{:?}",
        host.said
    );
    assert!(
        host.said.contains(&"Load balancing strategy changed: sticky → hybrid".to_owned()),
        "{:?}",
        host.said
    );
    let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(config.starts_with("# my settings\n[retry]\nmin_attempts = 7\n"), "{config}");
    let loaded = MacConfig::load_from(dir.data_dir(), mac_core::config::no_env).unwrap();
    assert_eq!(loaded.pool.strategy.as_str(), "hybrid");
    assert_eq!(loaded.pool.min_attempts, 7);
    assert_eq!(store(&dir, Provider::Anthropic).load().unwrap().accounts.len(), 3);

    let host = run_script(&dir, &["Delete all", "!yes", "!cancel"]);
    assert_eq!(host.said, ["All accounts deleted."]);
    assert!(store(&dir, Provider::Anthropic).load().unwrap().accounts.is_empty());
}

/// A tmux server of this test's own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "menu"])
    }

    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "waited for {needle:?}; the screen is:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "menu"];
        args.extend(keys);
        self.run(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn menu_in_a_real_terminal_toggles_an_account() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "this test needs tmux (apt-get install tmux)"
    );
    let dir = seeded();
    let mac = assert_cmd::cargo::cargo_bin("mac");
    let command = format!(
        "env -u MAC_HOME -u NO_COLOR HOME='{}' BROWSER=none TERM=xterm '{}' --home '{}' menu anthropic; echo MENU-EXIT=$?; sleep 60",
        dir.outer().display(),
        mac.display(),
        dir.path().display()
    );
    let tmux = Tmux { socket: format!("mac-menu-test-{}", std::process::id()) };
    tmux.run(&["new-session", "-d", "-s", "menu", "-x", "150", "-y", "40", &command]);
    tmux.wait_for("Add new account");
    tmux.keys(&["Down", "Down", "Enter"]);
    tmux.wait_for("two@example.com");
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for("Disable account");
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for("me@example.com disabled.");
    tmux.wait_for("Add new account");
    tmux.keys(&["Escape"]);
    tmux.wait_for("MENU-EXIT=0");
    let document = store(&dir, Provider::Anthropic).load().unwrap();
    assert!(!document.accounts[0].enabled, "the file has the account switched off");
    assert!(document.accounts[1].enabled);
}

#[test]
fn without_a_provider_the_menu_asks_which_pool() {
    let dir = seeded();
    let mut prompter = ScriptedPrompter::new(&["codex", "Add new account", "!cancel"]);
    let mut host = FakeHost::default();
    let config = MacConfig::load_from(dir.data_dir(), mac_core::config::no_env).unwrap();
    menu_flow::run(dir.data_dir(), &config, None, &mut prompter, &mut host).unwrap();
    assert_eq!(prompter.asked[0], "Which pool?");
    assert_eq!(prompter.asked[1], "mac: codex pool, 0 account(s)");
    assert_eq!(host.said, ["Account added to the codex pool (1 total)."]);
    assert_eq!(store(&dir, Provider::Codex).load().unwrap().accounts.len(), 1);
}
