//! A plugin whose export never ends. See README.md.

#![allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]

wit_bindgen::generate!({ world: "exporter-plugin", path: "../../../wit" });

use exports::clocky::plugin::exporter::{
    Document, ExportError, ExportRequest, Guest, PluginMetadata,
};

struct Looper;

impl Guest for Looper {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "looper".to_owned(),
            version: "0.1.0".to_owned(),
            media_type: "application/json".to_owned(),
            file_extension: "json".to_owned(),
            description: "Never finishes an export, for tests.".to_owned(),
        }
    }

    fn export(request: ExportRequest) -> Result<Document, ExportError> {
        let mut counter = request.generated_at;
        loop {
            // `black_box` keeps the optimiser from proving the loop useless and removing it.
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

export!(Looper);
