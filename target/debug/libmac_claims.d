/work/main/target/debug/libmac_claims.rlib: /work/main/crates/mac-claims/src/lib.rs
