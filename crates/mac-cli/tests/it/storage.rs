//! `mac storage migrate --to postgres`, `mac doctor`'s PostgreSQL check and `mac status`'s
//! storage line, against the real PostgreSQL server (a fresh database per test; the test
//! skips without a server unless `MAC_REQUIRE_POSTGRES=1`). The URL always carries a
//! password (trust authentication ignores it), and no output may ever show it.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use mac_claims::{Claims, ClaimsOptions};
use mac_postgres::testing::TestDatabase;
use mac_postgres::{PostgresClaims, PostgresOptions, SCHEMA_VERSION, SchemaState};
use mac_storage::{AccountStore, AccountsDocument, Provider, Secret, StoreOptions, SystemClock};
use mac_test_support::TempDataDir;
use serde_json::{Value, json};

use crate::support::{mac, stderr, stdout};

/// The password every test URL carries.
const PASSWORD: &str = "pw-NEVER-SHOWN-7f3a";
/// Words of the seeded tokens; none may be printed.
const TOKEN_MARK: &str = "TOKEN-SECRET";

/// `db`'s URL with [`PASSWORD`] in it.
fn url_with_password(db: &TestDatabase) -> String {
    let url = db.url().expose().to_owned();
    assert!(url.starts_with("postgres://postgres@"), "{url}");
    url.replacen("postgres://postgres@", &format!("postgres://postgres:{PASSWORD}@"), 1)
}

/// Fails when the output shows the URL's password or a token.
fn assert_nothing_secret(output: &Output) {
    let all = format!("{}{}", stdout(output), stderr(output));
    assert!(!all.contains(PASSWORD), "the password was printed:\n{all}");
    assert!(!all.contains(TOKEN_MARK), "a token was printed:\n{all}");
}

/// One account as a plugin or an older mac may have written it, with fields mac does not know.
fn account(uuid: &str, email: &str, refresh: &str, expires_at: i64) -> Value {
    json!({
        "uuid": uuid,
        "email": email,
        "planTier": "max",
        "refreshToken": format!("{refresh}-{TOKEN_MARK}"),
        "accessToken": format!("access-{refresh}-{TOKEN_MARK}"),
        "expiresAt": expires_at,
        "addedAt": 1_700_000_000_000_i64,
        "lastUsed": 1_700_000_100_000_i64,
        "enabled": true,
        "rateLimitResetAt": 1_700_000_200_000_i64,
        "rateLimitStreak": 2,
        "cachedUsage": {"five_hour": {"utilization": 37.5, "resets_at": "2030-01-01T00:00:00Z"}},
        "consecutiveAuthFailures": 0,
        "isAuthDisabled": false,
        "pluginNote": {"kept": [1, 2.50, "exactly"]},
    })
}

/// Writes `provider`'s accounts file (`0600`, pretty-printed as a person or plugin may leave
/// it); returns the document as mac reads it.
fn write_pool(dir: &TempDataDir, provider: Provider, body: &Value) -> AccountsDocument {
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.accounts_file(provider);
    let bytes = serde_json::to_vec_pretty(body).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Read as mac reads the file: unknown fields keep their exact text.
    serde_json::from_slice(&bytes).unwrap()
}

/// Two providers, several accounts, unknown fields at both levels.
fn realistic_pools(dir: &TempDataDir) -> [AccountsDocument; 2] {
    let anthropic = write_pool(
        dir,
        Provider::Anthropic,
        &json!({
            "version": 1,
            "accounts": [
                account("a1a1a1a1-0000-4000-8000-000000000001", "one@example.com", "a1", 1_900_000_000_000),
                account("a2a2a2a2-0000-4000-8000-000000000002", "two@example.com", "a2", 1_900_000_000_001),
                account("a3a3a3a3-0000-4000-8000-000000000003", "three@example.com", "a3", 1_900_000_000_002),
            ],
            "activeAccountUuid": "a2a2a2a2-0000-4000-8000-000000000002",
            "generation": 17,
            "pluginSettings": {"strategy": "sticky"},
        }),
    );
    let codex = write_pool(
        dir,
        Provider::Codex,
        &json!({
            "version": 1,
            "accounts": [
                account("c1c1c1c1-0000-4000-8000-000000000001", "cx1@example.com", "c1", 1_900_000_000_000),
                account("c2c2c2c2-0000-4000-8000-000000000002", "cx2@example.com", "c2", 1_900_000_000_000),
            ],
        }),
    );
    [anthropic, codex]
}

/// `provider`'s document in the database.
fn database_pool(db: &TestDatabase, provider: Provider) -> std::sync::Arc<AccountsDocument> {
    db.storage("mac").unwrap().account_store(provider, StoreOptions::default()).load().unwrap()
}

/// `mac storage migrate --to postgres --url <url>` plus `extra`.
fn migrate(dir: &TempDataDir, url: &str, extra: &[&str]) -> Output {
    let output = mac(dir)
        .args(["storage", "migrate", "--to", "postgres", "--url", url])
        .args(extra)
        .output()
        .unwrap();
    assert_nothing_secret(&output);
    output
}

/// `mac` with `[storage] backend = "postgres"` and the URL in the environment.
fn on_postgres(dir: &TempDataDir, url: &str, args: &[&str]) -> Output {
    let output = mac(dir)
        .env("MAC_STORAGE_BACKEND", "postgres")
        .env("MAC_STORAGE_URL", url)
        .args(args)
        .output()
        .unwrap();
    assert_nothing_secret(&output);
    output
}

fn backups(dir: &TempDataDir, provider: Provider) -> Vec<std::path::PathBuf> {
    let name = dir.accounts_file(provider).file_name().unwrap().to_string_lossy().into_owned();
    let mut found: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&format!("{name}.migrated.")) && n.ends_with(".bak")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn migrate_copies_every_pool_exactly_and_a_second_run_changes_nothing() {
    let Some(db) = TestDatabase::create("cli_migrate_exact") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    let files = realistic_pools(&dir);

    let output = migrate(&dir, &url, &[]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("the database now holds the pools"), "{out}");
    assert!(out.contains("next: point every mac at the database"), "{out}");

    for (provider, file) in Provider::ALL.into_iter().zip(&files) {
        let stored = database_pool(&db, provider);
        assert_eq!(stored.accounts, file.accounts, "{provider}");
        assert_eq!(stored.active_account_uuid, file.active_account_uuid);
        assert_eq!(stored.extra, file.extra);
        // The file is gone, kept as a read-only backup.
        assert!(!dir.accounts_file(provider).exists());
        let kept = backups(&dir, provider);
        assert_eq!(kept.len(), 1, "{kept:?}");
        let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
        // Exactly: unknown fields keep their text (spacing, number spelling) as mac read it
        // from the file, now the backup.
        let backup = AccountStore::at_path(&kept[0], StoreOptions::default()).load().unwrap();
        assert_eq!(
            serde_json::to_string(&stored.accounts).unwrap(),
            serde_json::to_string(&backup.accounts).unwrap(),
            "{provider}"
        );
    }
    let generations: Vec<u64> =
        Provider::ALL.into_iter().map(|p| database_pool(&db, p).generation).collect();

    let again = migrate(&dir, &url, &["--json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    for pool in report["pools"].as_array().unwrap() {
        assert_eq!(pool["outcome"]["kind"], "noFile", "{report}");
        assert_eq!(pool["earlierBackups"].as_array().unwrap().len(), 1, "{report}");
    }
    let human = migrate(&dir, &url, &[]);
    assert!(stdout(&human).contains("nothing to migrate (migrated before"), "{}", stdout(&human));
    assert!(stdout(&human).contains("nothing changed"), "{}", stdout(&human));
    let after: Vec<u64> =
        Provider::ALL.into_iter().map(|p| database_pool(&db, p).generation).collect();
    assert_eq!(after, generations, "a second run wrote to the database");
}

#[test]
fn a_newer_token_in_the_database_is_kept_and_other_accounts_merge_in() {
    let Some(db) = TestDatabase::create("cli_migrate_newer") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    // Another host migrated first, and its gateway has rotated a1's grant since.
    let rotated = json!({
        "version": 1,
        "accounts": [account("a1a1a1a1-0000-4000-8000-000000000001", "one@example.com", "rotated", 1_950_000_000_000)],
    });
    let rotated: AccountsDocument = serde_json::from_value(rotated).unwrap();
    let store =
        db.storage("mac").unwrap().account_store(Provider::Anthropic, StoreOptions::default());
    store
        .mutate(|document| {
            document.clone_from(&rotated);
            Ok(())
        })
        .unwrap();
    realistic_pools(&dir);

    let output = migrate(&dir, &url, &[]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("one@example.com: the database's tokens are newer (rotated since); kept"),
        "{out}"
    );
    assert!(out.contains("two@example.com: copied"), "{out}");
    let stored = database_pool(&db, Provider::Anthropic);
    assert_eq!(stored.accounts.len(), 3);
    let one = stored.account("a1a1a1a1-0000-4000-8000-000000000001").unwrap();
    assert_eq!(one.refresh_token, Secret::new(format!("rotated-{TOKEN_MARK}")));
    assert_eq!(one.expires_at.unwrap().as_millis(), 1_950_000_000_000);
}

#[test]
fn an_undecidable_conflict_is_refused_and_nothing_of_that_pool_moves() {
    let Some(db) = TestDatabase::create("cli_migrate_conflict") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    // The same account with another refresh token and the same expiry: one of them is spent.
    let other = json!({
        "version": 1,
        "accounts": [account("a1a1a1a1-0000-4000-8000-000000000001", "one@example.com", "other", 1_900_000_000_000)],
    });
    let other: AccountsDocument = serde_json::from_value(other).unwrap();
    let store =
        db.storage("mac").unwrap().account_store(Provider::Anthropic, StoreOptions::default());
    store
        .mutate(|document| {
            document.clone_from(&other);
            Ok(())
        })
        .unwrap();
    realistic_pools(&dir);
    let before = std::fs::read(dir.accounts_file(Provider::Anthropic)).unwrap();

    let output = migrate(&dir, &url, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let out = stdout(&output);
    assert!(out.contains("anthropic: not migrated"), "{out}");
    assert!(out.contains("which one is spent cannot be told"), "{out}");
    assert!(stderr(&output).contains("mac storage migrate --to postgres"), "{}", stderr(&output));
    assert_eq!(std::fs::read(dir.accounts_file(Provider::Anthropic)).unwrap(), before);
    assert_eq!(*database_pool(&db, Provider::Anthropic), {
        let mut expected = other.clone();
        expected.generation = 1;
        expected
    });
    // The other pool is not held back.
    assert_eq!(database_pool(&db, Provider::Codex).accounts.len(), 2);
}

#[test]
fn a_dry_run_changes_nothing_not_even_the_schema() {
    let Some(db) = TestDatabase::create("cli_migrate_dry") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    realistic_pools(&dir);
    let before = std::fs::read(dir.accounts_file(Provider::Codex)).unwrap();
    let output = migrate(&dir, &url, &["--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("dry run: would migrate"), "{out}");
    assert!(out.contains("cx2@example.com: copied"), "{out}");
    assert_eq!(std::fs::read(dir.accounts_file(Provider::Codex)).unwrap(), before);
    assert!(backups(&dir, Provider::Codex).is_empty());
    let inspected = mac_postgres::inspect(db.url(), &PostgresOptions::default()).unwrap();
    assert_eq!(inspected.schema, SchemaState::Missing);
}

#[test]
fn write_config_selects_the_database_for_every_later_command() {
    let Some(db) = TestDatabase::create("cli_migrate_config") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    realistic_pools(&dir);
    let output = migrate(&dir, &url, &["--write-config"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).contains("next:"), "{}", stdout(&output));
    let config = dir.path().join("config.toml");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No variable needed any more: `mac accounts list` reads the database.
    let list = mac(&dir).args(["accounts", "list", "--json"]).output().unwrap();
    assert_nothing_secret(&list);
    assert!(list.status.success(), "{}", stderr(&list));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        listed.as_array().map(Vec::len).or_else(|| listed["accounts"].as_array().map(Vec::len)),
        Some(5),
        "{listed}"
    );
}

#[test]
fn status_names_the_backend_without_the_password() {
    let Some(db) = TestDatabase::create("cli_status_backend") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    realistic_pools(&dir);

    let on_files = mac(&dir).arg("status").output().unwrap();
    assert!(on_files.status.success());
    let first = stdout(&on_files).lines().next().unwrap_or_default().to_owned();
    assert_eq!(first, format!("storage: file in {}", dir.path().display()));

    assert!(migrate(&dir, &url, &[]).status.success());
    let human = on_postgres(&dir, &url, &["status"]);
    assert!(human.status.success(), "{}", stderr(&human));
    let server = format!("postgres://postgres@127.0.0.1:5432/{}", db.name());
    let out = stdout(&human);
    assert_eq!(
        out.lines().next().unwrap_or_default(),
        format!("storage: postgres at {server} (schema mac, version {SCHEMA_VERSION})")
    );
    assert!(out.contains("anthropic: 3 account(s)"), "{out}");
    let json = on_postgres(&dir, &url, &["status", "--json"]);
    let view: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        view["storage"],
        json!({"backend": "postgres", "location": server, "schema": "mac", "schemaVersion": SCHEMA_VERSION})
    );
    assert_eq!(view["pools"][1]["accounts"].as_array().unwrap().len(), 2);
}

#[test]
fn doctor_checks_the_database_connection_and_schema() {
    let Some(db) = TestDatabase::create("cli_doctor_postgres") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    realistic_pools(&dir);

    // An empty database: not a failure, and doctor does not create the schema.
    let empty = on_postgres(&dir, &url, &["doctor"]);
    let out = stdout(&empty);
    assert!(out.contains("no mac schema yet"), "{out}");
    assert!(out.contains("anthropic-accounts.json is not used"), "{out}");
    assert_eq!(
        mac_postgres::inspect(db.url(), &PostgresOptions::default()).unwrap().schema,
        SchemaState::Missing
    );

    assert!(migrate(&dir, &url, &[]).status.success());
    let healthy = on_postgres(&dir, &url, &["doctor"]);
    let out = stdout(&healthy);
    assert!(healthy.status.success(), "{out}");
    let server = format!("postgres://postgres@127.0.0.1:5432/{}", db.name());
    assert!(
        out.contains(&format!(
            "ok   postgres: connected to {server} (schema mac): schema version {SCHEMA_VERSION}"
        )),
        "{out}"
    );
    assert!(
        out.contains("anthropic accounts:") && out.contains("3 of 3 account(s) usable"),
        "{out}"
    );

    // A schema written by a newer mac: a clear failure saying to upgrade.
    db.execute("INSERT INTO mac.schema_version (version) VALUES (99)").unwrap();
    let newer = on_postgres(&dir, &url, &["doctor", "--json"]);
    assert_eq!(newer.status.code(), Some(1));
    let view: Value = serde_json::from_slice(&newer.stdout).unwrap();
    let finding = view["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "postgres")
        .unwrap()
        .clone();
    assert_eq!(finding["level"], "fail", "{finding}");
    let message = finding["message"].as_str().unwrap();
    let newer_than_ours = format!("schema version 99 is newer than this mac's {SCHEMA_VERSION}");
    assert!(message.contains(&newer_than_ours), "{message}");
    assert!(message.contains("upgrade mac"), "{message}");
}

#[test]
fn doctor_names_an_unreachable_server_with_a_hint() {
    let dir = TempDataDir::new().unwrap();
    // A loopback port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://mac:{PASSWORD}@127.0.0.1:{port}/pools");
    let output = on_postgres(&dir, &url, &["doctor"]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains(&format!(
            "FAIL postgres: cannot connect to PostgreSQL at postgres://mac@127.0.0.1:{port}/pools"
        )),
        "{out}"
    );
    assert!(out.contains("fix: set [storage] url in config.toml"), "{out}");
    // `mac status` says so too, and fails.
    let status = on_postgres(&dir, &url, &["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(stdout(&status).contains("cannot connect to PostgreSQL"), "{}", stdout(&status));
}

#[test]
fn migrate_without_a_url_says_where_to_give_one() {
    let dir = TempDataDir::new().unwrap();
    let output = mac(&dir).args(["storage", "migrate", "--to", "postgres"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("no PostgreSQL database named"), "{err}");
    assert!(err.contains("hint: check `--url`"), "{err}");
}

/// The most verbose log (`-vv`, and `RUST_LOG=trace` with every crate's records) writes no
/// token and no password while mac writes accounts to the database and reads them back. Before
/// the fix the PostgreSQL client's debug record of each statement's parameters held the whole
/// accounts document, refresh tokens included.
#[test]
fn the_most_verbose_log_shows_no_token_and_no_password() {
    let Some(db) = TestDatabase::create("cli_verbose_log") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    realistic_pools(&dir);
    let output = migrate(&dir, &url, &["-vv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("DEBUG"), "-vv logs debug records: {}", stderr(&output));
    let traced = mac(&dir)
        .env("RUST_LOG", "trace")
        .env("MAC_STORAGE_BACKEND", "postgres")
        .env("MAC_STORAGE_URL", &url)
        .args(["status"])
        .output()
        .unwrap();
    assert!(traced.status.success(), "{}", stderr(&traced));
    assert!(stderr(&traced).contains("TRACE"), "{}", stderr(&traced));
    assert_nothing_secret(&traced);
}

/// `mac status` on PostgreSQL names the process holding an account from the database's claims
/// (the holder here is this test process, as a gateway on another host would be). Before the
/// fix it read the data directory's claims file, which a database pool never writes, and showed
/// no holder.
#[test]
fn status_on_postgres_shows_the_holders_from_the_database() {
    let Some(db) = TestDatabase::create("cli_status_claims") else { return };
    let url = url_with_password(&db);
    let dir = TempDataDir::new().unwrap();
    realistic_pools(&dir);
    assert!(migrate(&dir, &url, &[]).status.success());
    let account = database_pool(&db, Provider::Anthropic).accounts[0].uuid.clone().unwrap();

    let storage = db.storage("mac").unwrap();
    let options = ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() };
    let store = PostgresClaims::open(&storage, Provider::Anthropic, &options).unwrap();
    let holder = Claims::builder_with_store(
        std::sync::Arc::new(store),
        options,
        std::sync::Arc::new(SystemClock),
    )
    .build();
    let _held = holder.claim(&account).unwrap();

    let json = on_postgres(&dir, &url, &["status", "--json"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let view: Value = serde_json::from_slice(&json.stdout).unwrap();
    let shown = view["pools"][0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|shown| shown["id"] == account.as_str())
        .unwrap()
        .clone();
    assert_eq!(shown["heldByPid"], std::process::id(), "{shown}");
}
