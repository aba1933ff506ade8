/work/main/target/debug/libmac_executor.rlib: /work/main/crates/mac-executor/src/lib.rs
