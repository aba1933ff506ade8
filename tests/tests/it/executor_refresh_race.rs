//! The cross-process refresh race with real OS processes: exactly one refresh request, every
//! process served, no account disabled. CI runs 8 processes × 2 races; `cargo xtask bench
//! executor` runs 16 × 20.

use std::path::Path;
use std::time::Duration;

use mac_tests::refresh_race;

#[test]
fn multi_process_refresh_race_makes_exactly_one_refresh_request() {
    let worker = Path::new(env!("CARGO_BIN_EXE_executor-worker"));
    for round in 0..2 {
        let outcome = refresh_race::run(worker, 8, Duration::from_millis(300)).unwrap();
        assert_eq!(outcome.successes, 8, "round {round}: {outcome:?}");
        assert_eq!(outcome.refresh_requests, 1, "round {round}: {outcome:?}");
        assert!(!outcome.disabled, "round {round}: {outcome:?}");
        assert!(outcome.stored_token_is_current, "round {round}: {outcome:?}");
    }
}
