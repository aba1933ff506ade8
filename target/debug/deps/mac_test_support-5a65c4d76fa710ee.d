/work/main/target/debug/deps/mac_test_support-5a65c4d76fa710ee.d: crates/mac-test-support/src/lib.rs

/work/main/target/debug/deps/libmac_test_support-5a65c4d76fa710ee.rlib: crates/mac-test-support/src/lib.rs

/work/main/target/debug/deps/libmac_test_support-5a65c4d76fa710ee.rmeta: crates/mac-test-support/src/lib.rs

crates/mac-test-support/src/lib.rs:
