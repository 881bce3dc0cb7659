//! Builds the built-in plugins for `wasm32-wasip2` and tells the crate where they are.

use std::path::PathBuf;

/// The built-in plugins: package, folder, and the variable that carries the component's path.
const BUILTIN: [(&str, &str, &str); 6] = [
    (
        "clocky-data-export",
        "plugins/data-export",
        "BUILTIN_DATA_EXPORT_WASM",
    ),
    (
        "clocky-sessions-csv",
        "plugins/sessions-csv",
        "BUILTIN_SESSIONS_CSV_WASM",
    ),
    (
        "clocky-toggl-csv",
        "plugins/toggl-csv",
        "BUILTIN_TOGGL_CSV_WASM",
    ),
    (
        "clocky-clockify-csv",
        "plugins/clockify-csv",
        "BUILTIN_CLOCKIFY_CSV_WASM",
    ),
    (
        "clocky-harvest-csv",
        "plugins/harvest-csv",
        "BUILTIN_HARVEST_CSV_WASM",
    ),
    (
        "clocky-server-sessions-csv",
        "plugins/server-sessions-csv",
        "BUILTIN_SERVER_SESSIONS_CSV_WASM",
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("the host crate sits in the workspace");
    let packages = BUILTIN.map(|(package, _, _)| package);
    let mut watched: Vec<&str> = BUILTIN.iter().map(|(_, folder, _)| *folder).collect();
    watched.push("plugins/sdk");
    let built = clocky_plugin_build::build(root, &packages, &watched);
    for ((_, _, variable), path) in BUILTIN.iter().zip(built) {
        println!("cargo:rustc-env={variable}={}", path.display());
    }
}
