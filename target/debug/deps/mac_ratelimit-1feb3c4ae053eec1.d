/work/main/target/debug/deps/mac_ratelimit-1feb3c4ae053eec1.d: crates/mac-ratelimit/src/lib.rs

/work/main/target/debug/deps/libmac_ratelimit-1feb3c4ae053eec1.rlib: crates/mac-ratelimit/src/lib.rs

/work/main/target/debug/deps/libmac_ratelimit-1feb3c4ae053eec1.rmeta: crates/mac-ratelimit/src/lib.rs

crates/mac-ratelimit/src/lib.rs:
