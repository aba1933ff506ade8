/work/main/target/debug/deps/mac_executor-3275daee0dc81c88.d: crates/mac-executor/src/lib.rs

/work/main/target/debug/deps/libmac_executor-3275daee0dc81c88.rlib: crates/mac-executor/src/lib.rs

/work/main/target/debug/deps/libmac_executor-3275daee0dc81c88.rmeta: crates/mac-executor/src/lib.rs

crates/mac-executor/src/lib.rs:
