/work/main/target/debug/libmac_test_support.rlib: /work/main/crates/mac-test-support/src/lib.rs
