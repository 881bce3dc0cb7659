//! Clocky's host: the process that owns the database, the export files, the download server and
//! the plugin sandbox.
//!
//! How the pieces fit:
//!
//! - [`config`]: settings from a file and the environment, validated before anything starts.
//! - [`ids`]: Discord ids and database ids, and the one place they are converted.
//! - [`clock`]: the source of "now", so tests can move time instead of sleeping.
//! - [`db`]: the SQLite database, its migrations and every query.
//! - [`tracking`]: check-ins, check-outs and breaks, applying the shared rules in transactions.
//! - [`plugin`]: the WebAssembly sandbox that runs export plugins with a capability bound to one
//!   user.
//! - [`storage`]: where export files live (a local folder, behind the `object_store` interface).
//! - [`export`]: the export pipeline, from request to stored file to download link.
//! - [`web`]: the download server.
//! - [`discord`]: the bot: slash commands, and delivery of exports by direct message.
//! - [`admin`]: the operators' endpoint on a running host: plugins listed, reloaded, rolled back.
//! - [`app`]: everything above opened together, and `serve`, which runs it.
//! - [`cli`] and [`demo`]: the operator command line.
//!
//! Only [`discord`] talks to Discord, and only `cli` prints; the core returns values and typed
//! errors, and logs through `tracing`.

pub mod admin;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod discord;
pub mod export;
pub mod ids;
pub mod plugin;
pub mod signals;
pub mod storage;
pub mod tracking;
pub mod web;

/// The data-export plugin, built from `plugins/data-export` by this crate's build script and
/// embedded so that a fresh install exports without any plugin folder.
pub static BUILTIN_DATA_EXPORT: &[u8] = include_bytes!(env!("BUILTIN_DATA_EXPORT_WASM"));

/// Every built-in plugin, embedded like [`BUILTIN_DATA_EXPORT`], which comes first: the JSON
/// export, then the CSV formats (`sessions-csv`, `toggl-csv`, `clockify-csv`, `harvest-csv`),
/// then the server-wide CSV of `/server-export` (`server-sessions-csv`). A plugin of the same
/// name in `plugins.dir` replaces one of these.
pub static BUILTIN_PLUGINS: [&[u8]; 6] = [
    BUILTIN_DATA_EXPORT,
    include_bytes!(env!("BUILTIN_SESSIONS_CSV_WASM")),
    include_bytes!(env!("BUILTIN_TOGGL_CSV_WASM")),
    include_bytes!(env!("BUILTIN_CLOCKIFY_CSV_WASM")),
    include_bytes!(env!("BUILTIN_HARVEST_CSV_WASM")),
    include_bytes!(env!("BUILTIN_SERVER_SESSIONS_CSV_WASM")),
];
