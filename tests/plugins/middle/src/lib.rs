//! A plugin built for an earlier contract version. See README.md.

#![allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]

wit_bindgen::generate!({ world: "exporter-plugin", path: "../../../wit/versions/1.1.0" });

use clocky::plugin::{log, user_data};
use exports::clocky::plugin::exporter::{
    Document, ExportError, ExportRequest, Guest, PluginMetadata,
};

struct Middle;

impl Guest for Middle {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "middle".to_owned(),
            version: "0.1.0".to_owned(),
            media_type: "application/json".to_owned(),
            file_extension: "json".to_owned(),
            description: "Built for clocky:plugin@1.1.0, for tests.".to_owned(),
        }
    }

    fn export(_request: ExportRequest) -> Result<Document, ExportError> {
        let mut sessions = 0_u64;
        let mut after = None;
        loop {
            let page =
                user_data::sessions(after.as_deref(), 2).map_err(ExportError::QueryFailed)?;
            sessions += u64::try_from(page.sessions.len()).unwrap_or(u64::MAX);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let servers = user_data::servers().map_err(ExportError::QueryFailed)?;
        let servers = u64::try_from(servers.len()).unwrap_or(u64::MAX);
        if log::enabled(log::Level::Info) {
            log::write(log::Level::Info, &format!("counted {sessions} sessions"));
        }
        Ok(Document {
            bytes: format!(
                "{{\"contract\":\"1.1.0\",\"sessions\":{sessions},\"servers\":{servers}}}"
            )
            .into_bytes(),
            sessions_included: sessions,
            servers_included: servers,
        })
    }
}

export!(Middle);
