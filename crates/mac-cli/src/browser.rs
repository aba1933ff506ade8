//! Opening a URL in the user's browser: `$BROWSER` when set (`none` turns it off), else the
//! platform's opener when there is a desktop to open it on. The URL is always printed too, so
//! a login works over SSH and in containers.

use std::process::{Command, Stdio};

/// Tries to open `url`; whether a browser was started.
#[allow(
    clippy::disallowed_methods,
    reason = "`$BROWSER` is the user's choice of opener at the moment of opening; the CLI is an injection point of the environment"
)]
pub(crate) fn open(url: &str) -> bool {
    let program = match std::env::var("BROWSER") {
        Ok(browser) if browser.trim().is_empty() => return false,
        Ok(browser) if browser.trim() == "none" => return false,
        Ok(browser) => browser,
        Err(_) => match default_opener() {
            Some(opener) => opener.to_owned(),
            None => return false,
        },
    };
    let started = Command::new(program.trim())
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    started.is_ok()
}

#[allow(
    clippy::disallowed_methods,
    reason = "whether a desktop session exists is a fact of this process's environment"
)]
fn default_opener() -> Option<&'static str> {
    if cfg!(target_os = "macos") {
        Some("open")
    } else if cfg!(windows) {
        Some("explorer")
    } else {
        let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
        desktop.then_some("xdg-open")
    }
}
