/work/main/target/debug/deps/mac_adapters-ca6aa0575fad4575.d: crates/mac-adapters/src/lib.rs

/work/main/target/debug/deps/libmac_adapters-ca6aa0575fad4575.rlib: crates/mac-adapters/src/lib.rs

/work/main/target/debug/deps/libmac_adapters-ca6aa0575fad4575.rmeta: crates/mac-adapters/src/lib.rs

crates/mac-adapters/src/lib.rs:
