//! The component's side of the contract: answers the host's calls by reading through the imported
//! `user-data` capability.

use crate::bindings::clocky::plugin::{log, types, user_data};
use crate::bindings::exports::clocky::plugin::exporter::{
    Document, ExportError, ExportRequest, Guest, PluginMetadata,
};
use crate::document::{self, UserData};

struct DataExport;

impl Guest for DataExport {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: crate::NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            media_type: "application/json".to_owned(),
            file_extension: "json".to_owned(),
            description: "Your complete Clocky data as JSON: profile, sessions, breaks, statistics and servers.".to_owned(),
        }
    }

    fn export(request: ExportRequest) -> Result<Document, ExportError> {
        let result = document::build(&mut Imports, request.generated_at);
        match &result {
            Ok(document) => log::write(
                log::Level::Info,
                &format!(
                    "wrote {} bytes: {} sessions in {} servers",
                    document.bytes.len(),
                    document.sessions_included,
                    document.servers_included
                ),
            ),
            Err(error) => log::write(log::Level::Error, &format!("export failed: {error:?}")),
        }
        result
    }
}

/// The host's capability, reached through the component's imports.
struct Imports;

impl UserData for Imports {
    fn profile(&mut self) -> Result<types::Profile, types::QueryError> {
        user_data::get_profile()
    }

    fn sessions(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<types::SessionPage, types::QueryError> {
        user_data::sessions(after, limit)
    }

    fn breaks(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<types::BreakPage, types::QueryError> {
        user_data::breaks(after, limit)
    }

    fn servers(&mut self) -> Result<Vec<types::ServerRecord>, types::QueryError> {
        user_data::servers()
    }
}

crate::bindings::export!(DataExport with_types_in crate::bindings);
