//! Cross-crate integration tests of `mac`, plus the child-process workers they spawn and the
//! benchmark drivers that `cargo xtask bench` runs. The library part holds what workers, tests
//! and benchmarks share.
//!
//! Must not depend on: nothing is off limits here (this member sits above every layer), but no
//! crate may depend on it.

pub mod claims_driver;
pub mod executor_work;
pub mod fault_driver;
pub mod gateway_bench;
pub mod load;
pub mod postgres_bench;
pub mod refresh_race;
pub mod start_together;
pub mod storage_work;
