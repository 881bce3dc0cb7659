//! Server-wide plugins: reading the sessions of the one server an export is for.
//!
//! A server-wide plugin is a component of the `server-exporter-plugin` world. It exports the
//! same `exporter` interface as a per-user plugin, so it implements the same [`Guest`] trait
//! with the same [`Document`] and [`ExportError`], but it imports `server-data` instead of
//! `user-data`: the host binds it to one server and answers with that server's sessions and
//! each member's name and time zone, nothing more.
//!
//! - [`bindings`]: the generated `server-data` import.
//! - [`ServerData`]: the host's queries as a trait, answered by [`ServerHost`] in a component and
//!   by [`ServerFixture`] in tests; [`sessions`] and [`members`] walk every page for you.
//! - [`export_server_plugin!`](crate::export_server_plugin) and
//!   [`server_csv_plugin!`](crate::server_csv_plugin): the component glue.
//!
//! # Why the bindings are generated this way
//!
//! wit-bindgen names the export glue of an interface after the interface alone, and exports it
//! from the crate root, so one crate can publish that glue for `exporter` only once. The
//! per-user world in [`crate::bindings`] already does, and the `exporter` interface is word for
//! word the same in both worlds. This module therefore generates the `server-exporter-plugin`
//! world for its `server-data` import and its description of the component, reusing the
//! per-user `types` and `log` through `with`, and keeps the world's own copy of the export glue
//! private. A server plugin exports through the per-user glue, which is identical.
//!
//! The component then carries the descriptions of both worlds, which is harmless:
//! `wit-component` keeps only the imports a component's code calls, so a plugin that reads
//! through [`ServerHost`] and never through [`Host`](crate::Host) imports
//! `clocky:plugin/server-data` and `clocky:plugin/log`, and not `clocky:plugin/user-data`.
//! Calling [`Host`](crate::Host) from a server plugin would add that import, and the host
//! refuses such a component before running it.
//!
//! [`Guest`]: crate::Guest
//! [`Document`]: crate::Document
//! [`ExportError`]: crate::ExportError

pub mod fixture;

use crate::source::{PAGE_SIZE, Pages};
use crate::{
    MemberPage, MemberRecord, MemberSession, MemberSessionPage, QueryError, ServerSummary,
};

pub use fixture::ServerFixture;

#[allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]
mod generated {
    // `pub_export_macro` stays off: turned on, this world's export glue would be exported from
    // the crate root under the same name as the per-user world's, which does not compile.
    wit_bindgen::generate!({
        world: "server-exporter-plugin",
        path: "../../wit",
        additional_derives: [PartialEq],
        with: {
            "clocky:plugin/types@1.2.0": crate::bindings::clocky::plugin::types,
            "clocky:plugin/log@1.2.0": crate::bindings::clocky::plugin::log,
            "clocky:plugin/server-data@1.2.0": generate,
        },
    });
}

pub mod bindings {
    //! The `server-data` import of the `server-exporter-plugin` world, generated from Clocky's
    //! WIT package. Its records are the per-user bindings' `types`, so a `SessionRecord` read
    //! here is the same Rust type as one read through `user-data`.
    pub use super::generated::clocky;
}

/// The host's queries, as the `server-data` interface defines them. [`ServerHost`] answers them
/// in a component and [`ServerFixture`] in tests; a plugin's code takes `impl ServerData` so
/// that both work.
pub trait ServerData {
    /// The server and its figures.
    fn server(&mut self) -> Result<ServerSummary, QueryError>;
    /// A page of the server's members, by user id.
    fn members(&mut self, after: Option<&str>, limit: u32) -> Result<MemberPage, QueryError>;
    /// A page of the server's sessions with their members and breaks, by check-in.
    fn sessions(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<MemberSessionPage, QueryError>;
}

/// The capability the host bound to one server, reached through the component's imports. Only
/// usable inside a component; in a native build every call is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerHost;

#[cfg(target_arch = "wasm32")]
impl ServerData for ServerHost {
    fn server(&mut self) -> Result<ServerSummary, QueryError> {
        bindings::clocky::plugin::server_data::get_server()
    }

    fn members(&mut self, after: Option<&str>, limit: u32) -> Result<MemberPage, QueryError> {
        bindings::clocky::plugin::server_data::members(after, limit)
    }

    fn sessions(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<MemberSessionPage, QueryError> {
        bindings::clocky::plugin::server_data::sessions(after, limit)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ServerData for ServerHost {
    fn server(&mut self) -> Result<ServerSummary, QueryError> {
        Err(QueryError::Unavailable)
    }

    fn members(&mut self, _: Option<&str>, _: u32) -> Result<MemberPage, QueryError> {
        Err(QueryError::Unavailable)
    }

    fn sessions(&mut self, _: Option<&str>, _: u32) -> Result<MemberSessionPage, QueryError> {
        Err(QueryError::Unavailable)
    }
}

/// Every session in the server, oldest check-in first, each with its member's id and its
/// breaks. Stops after the first error, which it yields.
pub fn sessions<S: ServerData>(source: &mut S) -> Pages<'_, S, MemberSession> {
    Pages::new(source, |source, after| {
        source
            .sessions(after, PAGE_SIZE)
            .map(|page| (page.sessions, page.next))
    })
}

/// Every member of the server, lowest user id first. Stops after the first error, which it
/// yields.
pub fn members<S: ServerData>(source: &mut S) -> Pages<'_, S, MemberRecord> {
    Pages::new(source, |source, after| {
        source
            .members(after, PAGE_SIZE)
            .map(|page| (page.members, page.next))
    })
}
