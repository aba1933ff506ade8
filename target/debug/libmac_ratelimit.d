/work/main/target/debug/libmac_ratelimit.rlib: /work/main/crates/mac-ratelimit/src/lib.rs
