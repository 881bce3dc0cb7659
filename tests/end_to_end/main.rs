//! Clocky end to end: a real host (database, sandbox, plugins, storage, router) per test, built
//! by the harness in `tests/harness`, with a clock the test moves instead of waiting.
//!
//! Run with `cargo test -p clocky-tests`. The first build compiles the fixture plugins in
//! `tests/plugins` for `wasm32-wasip2` through a nested cargo, which takes a while.
//!
//! Every figure a test asserts was worked out by hand, with the arithmetic in a comment beside
//! it; nothing is read back from the code under test and compared with itself.
//!
//! - `rules`: tracking rules through the real tracker, seen in the export document.
//! - `document`: the document's shape, names, ids, instants, order and preferences.
//! - `paging`: a history longer than the host's page size, and isolation between users.
//! - `schema`: real exports, the demo's included, against the published JSON schema.
//! - `downloads`: links, the download router, expiry and the sweep.
//! - `plugins`: plugins that trap or hit a limit, while the host keeps serving.
//! - `jobs`: one export in progress per user, and erasing a user.
//! - `harness`: the harness's own checks, so a broken checker cannot pass everything.
//! - `formats`: the built-in CSV formats through the real host, against the JSON export.
//! - `hot_swap`: plugins replaced, refused and removed on a running host.
//! - `admin`: the admin endpoint: plugin list, reload, rollback, token.
//! - `vetting`: what a plugin file must pass before it serves, and automatic rollback.
//! - `server_export`: `/server-export`'s pipeline: one server's rows, scopes, erasure.
//! - `discord`: the bot on the fake Discord: commands, `/data-export` by DM, retries.
//! - `discord_fake`: the fake Discord against the real serenity client and its models.

mod admin;
mod discord;
mod discord_fake;
mod document;
mod downloads;
mod formats;
mod harness;
mod hot_swap;
mod jobs;
mod paging;
mod plugins;
mod rules;
mod schema;
mod server_export;
mod vetting;
