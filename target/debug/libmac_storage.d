/work/main/target/debug/libmac_storage.rlib: /work/main/crates/mac-storage/src/lib.rs
