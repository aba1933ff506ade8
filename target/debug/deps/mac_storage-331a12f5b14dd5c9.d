/work/main/target/debug/deps/mac_storage-331a12f5b14dd5c9.d: crates/mac-storage/src/lib.rs

/work/main/target/debug/deps/libmac_storage-331a12f5b14dd5c9.rlib: crates/mac-storage/src/lib.rs

/work/main/target/debug/deps/libmac_storage-331a12f5b14dd5c9.rmeta: crates/mac-storage/src/lib.rs

crates/mac-storage/src/lib.rs:
