//! Builds the fixture plugins the end-to-end tests load, and the plugin template, which a test
//! loads so that the template the plugin guide starts from is known to build and work.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("the tests crate sits in the workspace");
    let packages = [
        "clocky-fixture-trapper",
        "clocky-fixture-looper",
        "clocky-plugin-template",
        "clocky-fixture-hog",
        "clocky-fixture-snooper",
        "clocky-fixture-future",
        "clocky-fixture-elder",
        "clocky-fixture-middle",
    ];
    let watched = ["tests/plugins", "plugins/template", "plugins/sdk"];
    let built = clocky_plugin_build::build(root, &packages, &watched);
    println!(
        "cargo:rustc-env=FIXTURE_TRAPPER_WASM={}",
        built[0].display()
    );
    println!("cargo:rustc-env=FIXTURE_LOOPER_WASM={}", built[1].display());
    println!(
        "cargo:rustc-env=FIXTURE_TEMPLATE_WASM={}",
        built[2].display()
    );
    println!("cargo:rustc-env=FIXTURE_HOG_WASM={}", built[3].display());
    println!(
        "cargo:rustc-env=FIXTURE_SNOOPER_WASM={}",
        built[4].display()
    );
    println!("cargo:rustc-env=FIXTURE_FUTURE_WASM={}", built[5].display());
    println!("cargo:rustc-env=FIXTURE_ELDER_WASM={}", built[6].display());
    println!("cargo:rustc-env=FIXTURE_MIDDLE_WASM={}", built[7].display());
}
