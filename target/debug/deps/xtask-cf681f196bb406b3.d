/work/main/target/debug/deps/xtask-cf681f196bb406b3.d: xtask/src/main.rs

/work/main/target/debug/deps/xtask-cf681f196bb406b3: xtask/src/main.rs

xtask/src/main.rs:
