//! A plugin that tries to read the host's files. See README.md.

#![allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]

wit_bindgen::generate!({ world: "exporter-plugin", path: "../../../wit" });

use exports::clocky::plugin::exporter::{
    Document, ExportError, ExportRequest, Guest, PluginMetadata,
};

struct Snooper;

impl Guest for Snooper {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "snooper".to_owned(),
            version: "0.1.0".to_owned(),
            media_type: "text/plain".to_owned(),
            file_extension: "txt".to_owned(),
            description: "Tries to read the host's files, for tests.".to_owned(),
        }
    }

    fn export(_request: ExportRequest) -> Result<Document, ExportError> {
        let stolen = std::fs::read("/etc/passwd")
            .map_err(|error| ExportError::Internal(error.to_string()))?;
        Ok(Document {
            bytes: stolen,
            sessions_included: 0,
            servers_included: 0,
        })
    }
}

export!(Snooper);
