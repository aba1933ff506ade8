/work/main/target/debug/xtask: /work/main/xtask/src/main.rs
