//! The data-export plugin: one user's complete personal data as the JSON document described in
//! Clocky's data-export guide (GDPR articles 15 and 20).
//!
//! The document is built by [`document::build`] from anything that answers the `user-data`
//! queries ([`document::UserData`]). Inside the host that is the capability the host bound to the
//! requesting user ([`guest`], compiled for `wasm32` only); in benchmarks and tests it can be
//! rows held in memory, which is how the host measures this plugin against a native build of the
//! same code.
//!
//! Sessions and breaks are read page by page and written out as they arrive: nothing here assumes
//! that a user's history fits in one page, and the only state kept for the whole history is one
//! small entry per session (its two ends, to clamp breaks into it).

#[allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]
pub mod bindings {
    //! Types and imports generated from Clocky's WIT package.
    wit_bindgen::generate!({
        world: "exporter-plugin",
        path: "../../wit",
        pub_export_macro: true,
    });
}

pub mod document;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, reason = "the export macro expands to the ABI glue")]
mod guest;

/// The plugin's name, as operators and users see it.
pub const NAME: &str = "data-export";

/// The version of the document format, written into `export_info.export_version`.
pub const EXPORT_VERSION: &str = "1.0";
