//! A plugin that passes the check run, then traps half-way through reading a real user's
//! sessions. See README.md.

#![allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]

wit_bindgen::generate!({ world: "exporter-plugin", path: "../../../wit" });

use clocky::plugin::user_data;
use exports::clocky::plugin::exporter::{
    Document, ExportError, ExportRequest, Guest, PluginMetadata,
};

struct Trapper;

impl Guest for Trapper {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "trapper".to_owned(),
            version: "0.1.0".to_owned(),
            media_type: "application/json".to_owned(),
            file_extension: "json".to_owned(),
            description: "Traps in the middle of an export, for tests.".to_owned(),
        }
    }

    fn export(_request: ExportRequest) -> Result<Document, ExportError> {
        // The host's check run exports its sample user before activating a plugin; behaving
        // for that user only is how a plugin slips past the check, which is what this fixture
        // stands for.
        let profile = user_data::get_profile().map_err(ExportError::QueryFailed)?;
        if profile.username == "clocky-check" {
            return Ok(Document {
                bytes: b"{}".to_vec(),
                sessions_included: 0,
                servers_included: 0,
            });
        }
        let page = user_data::sessions(None, 1).map_err(ExportError::QueryFailed)?;
        panic!(
            "trapper gives up after reading {} session(s)",
            page.sessions.len()
        );
    }
}

export!(Trapper);
