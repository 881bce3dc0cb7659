//! Builds the built-in data-export plugin for `wasm32-wasip2` and tells the crate where it is.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("the host crate sits in the workspace");
    let built = clocky_plugin_build::build(root, &["clocky-data-export"], &["plugins/data-export"]);
    println!(
        "cargo:rustc-env=BUILTIN_DATA_EXPORT_WASM={}",
        built[0].display()
    );
}
