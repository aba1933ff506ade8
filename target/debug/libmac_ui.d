/work/main/target/debug/libmac_ui.rlib: /work/main/crates/mac-ui/src/lib.rs
