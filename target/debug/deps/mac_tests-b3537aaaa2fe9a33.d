/work/main/target/debug/deps/mac_tests-b3537aaaa2fe9a33.d: tests/src/lib.rs

/work/main/target/debug/deps/libmac_tests-b3537aaaa2fe9a33.rlib: tests/src/lib.rs

/work/main/target/debug/deps/libmac_tests-b3537aaaa2fe9a33.rmeta: tests/src/lib.rs

tests/src/lib.rs:
