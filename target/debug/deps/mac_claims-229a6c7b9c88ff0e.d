/work/main/target/debug/deps/mac_claims-229a6c7b9c88ff0e.d: crates/mac-claims/src/lib.rs

/work/main/target/debug/deps/libmac_claims-229a6c7b9c88ff0e.rlib: crates/mac-claims/src/lib.rs

/work/main/target/debug/deps/libmac_claims-229a6c7b9c88ff0e.rmeta: crates/mac-claims/src/lib.rs

crates/mac-claims/src/lib.rs:
