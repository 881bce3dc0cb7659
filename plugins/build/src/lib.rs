//! Builds plugin components from a build script.
//!
//! The host embeds the data-export plugin and the tests load fixture plugins; both build them
//! with this function. It runs a separate cargo for `wasm32-wasip2` with its own target directory:
//! building the plugins inside the outer build would need the wasm target for every dependency
//! of the host, and sharing the outer target directory would wait forever on the lock the outer
//! build holds.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile plugins are built with (defined in the workspace `Cargo.toml`).
pub const PROFILE: &str = "plugin";

/// Builds `packages` of the workspace at `root` and returns each component's path, in order.
/// Prints the `rerun-if-changed` lines for `watch` (paths relative to `root`).
///
/// # Panics
///
/// When cargo cannot be run or the build fails; a build script has no better way to stop, and
/// the message says how to install a missing target.
pub fn build(root: &Path, packages: &[&str], watch: &[&str]) -> Vec<PathBuf> {
    for watched in watch
        .iter()
        .chain(["wit", "plugins/rules", "Cargo.lock"].iter())
    {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target").join("plugins");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--target", TARGET, "--profile", PROFILE]);
    for package in packages {
        command.args(["--package", package]);
    }
    command.arg("--target-dir").arg(&target_dir);
    // The outer build's settings are for the host, not for the guest.
    for (key, _) in env::vars() {
        let inherited = key.starts_with("CARGO_") && key != "CARGO_HOME";
        if inherited || key == "RUSTFLAGS" || key == "RUSTC_WRAPPER" {
            command.env_remove(&key);
        }
    }
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("could not run cargo to build plugins: {error}"));
    if !status.success() {
        panic!(
            "building the plugins {packages:?} failed. If the message above says the `{TARGET}` \
             target is missing, run `rustup target add {TARGET}` (or `cargo xtask setup`)."
        );
    }
    packages
        .iter()
        .map(|package| {
            let file = format!("{}.wasm", package.replace('-', "_"));
            target_dir.join(TARGET).join(PROFILE).join(file)
        })
        .collect()
}
