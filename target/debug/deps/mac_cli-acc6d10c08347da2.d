/work/main/target/debug/deps/mac_cli-acc6d10c08347da2.d: crates/mac-cli/src/main.rs

/work/main/target/debug/deps/mac_cli-acc6d10c08347da2: crates/mac-cli/src/main.rs

crates/mac-cli/src/main.rs:
