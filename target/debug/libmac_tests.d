/work/main/target/debug/libmac_tests.rlib: /work/main/crates/mac-storage/src/lib.rs /work/main/crates/mac-test-support/src/lib.rs /work/main/tests/src/lib.rs
