//! A child process that sends one request through a pool: for the cross-process refresh race.
//!
//! ```text
//! executor-worker DATA_DIR FAKE_ORIGIN [--wait-go]
//!     prints `status=<code> account=<uuid>`; exit 0 on a 200
//! ```
//!
//! Must not depend on: nothing beyond `mac-tests`' own dependencies.

// A command-line worker reports on stdout/stderr by design.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use mac_executor::{AttemptResponse as _, RequestInfo};
use mac_tests::executor_work::{messages_sender, open_pool};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("executor-worker: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<bool, String> {
    let [data_dir, origin, ..] = args else {
        return Err("usage: executor-worker DATA_DIR FAKE_ORIGIN [--wait-go]".into());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let pool = open_pool(Path::new(data_dir), origin)?;
        let send = messages_sender(origin)?;
        if args.iter().any(|a| a == "--wait-go") {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
        }
        let done = pool.execute(&RequestInfo::default(), send).await.map_err(|e| e.to_string())?;
        let status = done.response.status().as_u16();
        println!("status={status} account={}", done.account);
        pool.shutdown().await;
        Ok(status == 200)
    })
}
