//! The toolkit for writing Clocky export plugins.
//!
//! A plugin is a WebAssembly component of the `exporter-plugin` world in `wit/clocky.wit`. This
//! crate gives plugin authors everything around their format, so that the format is all they
//! write:
//!
//! - [`bindings`]: the generated WIT types and imports, and the [`export_plugin!`] macro that
//!   makes a type implementing [`Guest`] the component's export.
//! - [`source`]: the [`UserData`] trait over the host's queries, [`Host`] (the real capability,
//!   in a component) and iterators that walk every session or break without handling pages.
//! - [`fixture`]: [`Fixture`], rows held in memory that answer like the host, with small pages,
//!   so a plugin runs in an ordinary `cargo test`.
//! - [`figures`]: each session's minutes by the same rules as the JSON export, so every format
//!   agrees with it.
//! - [`local`]: a user's time zone, for formats that want local dates and times.
//! - [`csv`]: a CSV writer that escapes by the book and neutralises cells a spreadsheet would run
//!   as formulas.
//! - [`timesheet`]: the walk shared by timesheet imports (one row per closed session, local
//!   times), so that such a format only says how a session becomes a row.
//! - [`server`]: the same for server-wide plugins of the `server-exporter-plugin` world: the
//!   [`ServerData`] trait, [`ServerHost`], page-free iterators over a server's sessions and
//!   members, [`ServerFixture`], and the [`export_server_plugin!`] and [`server_csv_plugin!`]
//!   macros.
//!
//! What a plugin may read is decided by the host: the queries answer for the one user (or, in a
//! server-wide plugin, the one server) the export is for, and nothing here can widen that.
//! `docs/plugin-guide.md` walks through a whole plugin.

#[allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]
pub mod bindings {
    //! Types, imports and the export macro generated from Clocky's WIT package.
    wit_bindgen::generate!({
        world: "exporter-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "clocky_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub mod csv;
pub mod figures;
pub mod fixture;
pub mod local;
pub mod server;
pub mod source;
pub mod timesheet;

pub use bindings::clocky::plugin::types::{
    BreakPage, BreakRecord, MemberPage, MemberRecord, MemberSession, MemberSessionPage, Profile,
    QueryError, ServerRecord, ServerSummary, SessionPage, SessionRecord, SessionStatus,
};
pub use bindings::export_plugin;
pub use bindings::exports::clocky::plugin::exporter::{
    Document, ExportError, ExportRequest, Guest, PluginMetadata,
};
pub use clocky_rules as rules;
pub use fixture::Fixture;
pub use server::{ServerData, ServerFixture, ServerHost};
pub use source::{Host, UserData};

/// Writes a line to the host's log (in a component), or nowhere (in a native test).
pub fn log(level: bindings::clocky::plugin::log::Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::clocky::plugin::log::write(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

/// Whether a line at `level` would reach the host's log now, so a plugin can skip building a
/// message nobody will read (in a native test: never). Needs a host of contract 1.1.0 or later.
pub fn log_enabled(level: bindings::clocky::plugin::log::Level) -> bool {
    #[cfg(target_arch = "wasm32")]
    return bindings::clocky::plugin::log::enabled(level);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = level;
        false
    }
}

/// The word the JSON export uses for a session's status.
pub fn status_word(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "active",
        SessionStatus::Completed => "completed",
        SessionStatus::AutoClosed => "auto-closed",
    }
}

/// Makes a CSV format plugin's component export: its metadata (name, this crate's version,
/// `text/csv`, `csv`, description) and `build(&mut Host)` as `export`. The arguments are the
/// plugin's `NAME` and `DESCRIPTION` constants and its `build` function; the expansion only
/// exists when compiling for `wasm32`. `plugins/template` spells the same glue out by hand.
#[macro_export]
macro_rules! csv_plugin {
    ($name:expr, $description:expr, $build:path) => {
        $crate::__csv_glue!(Host, export_plugin, $name, $description, $build);
    };
}

/// Makes a server-wide plugin's component export: a type implementing [`Guest`], made the
/// export of a component of the `server-exporter-plugin` world. Call it as
/// `export_server_plugin!(Plugin)`, in code compiled for `wasm32` only.
///
/// Both worlds export the same `exporter` interface, so the glue is the per-user world's (see
/// [`server`] for why it cannot be generated twice). What makes the component server-wide is
/// what it reads: through [`ServerHost`] only, never through [`Host`]. Use this macro rather
/// than [`export_plugin!`] all the same, so that the plugin says which world it is written for.
#[macro_export]
macro_rules! export_server_plugin {
    ($ty:ident) => {
        $crate::export_plugin!($ty);
    };
}

/// [`csv_plugin!`] for a server-wide plugin: its metadata (name, this crate's version,
/// `text/csv`, `csv`, description) and `build(&mut ServerHost)` as `export`. The expansion only
/// exists when compiling for `wasm32`.
#[macro_export]
macro_rules! server_csv_plugin {
    ($name:expr, $description:expr, $build:path) => {
        $crate::__csv_glue!(
            ServerHost,
            export_server_plugin,
            $name,
            $description,
            $build
        );
    };
}

/// The expansion of [`csv_plugin!`] and [`server_csv_plugin!`], which differ only in the
/// capability `build` reads through and the export macro.
#[doc(hidden)]
#[macro_export]
macro_rules! __csv_glue {
    ($host:ident, $export:ident, $name:expr, $description:expr, $build:path) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "the export macro expands to the ABI glue")]
        mod guest {
            use $crate::{Document, ExportError, ExportRequest, Guest, PluginMetadata, $host};

            struct Plugin;

            impl Guest for Plugin {
                fn metadata() -> PluginMetadata {
                    PluginMetadata {
                        name: $name.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        media_type: "text/csv".to_owned(),
                        file_extension: "csv".to_owned(),
                        description: $description.to_owned(),
                    }
                }

                fn export(_request: ExportRequest) -> Result<Document, ExportError> {
                    $build(&mut $host)
                }
            }

            $crate::$export!(Plugin);
        }
    };
}
