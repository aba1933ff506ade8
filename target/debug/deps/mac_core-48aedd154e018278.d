/work/main/target/debug/deps/mac_core-48aedd154e018278.d: crates/mac-core/src/lib.rs

/work/main/target/debug/deps/libmac_core-48aedd154e018278.rlib: crates/mac-core/src/lib.rs

/work/main/target/debug/deps/libmac_core-48aedd154e018278.rmeta: crates/mac-core/src/lib.rs

crates/mac-core/src/lib.rs:
