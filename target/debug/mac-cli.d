/work/main/target/debug/mac-cli: /work/main/crates/mac-cli/src/main.rs
