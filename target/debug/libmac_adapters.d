/work/main/target/debug/libmac_adapters.rlib: /work/main/crates/mac-adapters/src/lib.rs
