/work/main/target/debug/deps/mac_ui-30f30025af866274.d: crates/mac-ui/src/lib.rs

/work/main/target/debug/deps/libmac_ui-30f30025af866274.rlib: crates/mac-ui/src/lib.rs

/work/main/target/debug/deps/libmac_ui-30f30025af866274.rmeta: crates/mac-ui/src/lib.rs

crates/mac-ui/src/lib.rs:
