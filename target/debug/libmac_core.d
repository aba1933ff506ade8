/work/main/target/debug/libmac_core.rlib: /work/main/crates/mac-core/src/lib.rs
