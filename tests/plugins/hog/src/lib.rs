//! A plugin that hits the sandbox limit its user's name asks for. See README.md.

#![allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]

wit_bindgen::generate!({ world: "exporter-plugin", path: "../../../wit" });

use clocky::plugin::{log, user_data};
use exports::clocky::plugin::exporter::{
    Document, ExportError, ExportRequest, Guest, PluginMetadata,
};

struct Hog;

impl Guest for Hog {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "hog".to_owned(),
            version: "0.1.0".to_owned(),
            media_type: "application/json".to_owned(),
            file_extension: "json".to_owned(),
            description: "Hits a sandbox limit on demand, for tests.".to_owned(),
        }
    }

    fn export(request: ExportRequest) -> Result<Document, ExportError> {
        let profile = user_data::get_profile().map_err(ExportError::QueryFailed)?;
        let small = |bytes: Vec<u8>| Document {
            bytes,
            sessions_included: 0,
            servers_included: 0,
        };
        match profile.username.as_str() {
            "hog-slow" => {
                let mut counter = request.generated_at;
                loop {
                    // `black_box` keeps the optimiser from removing a loop with no effect.
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            "hog-oom" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(std::hint::black_box(vec![1; 1 << 20]));
                }
            }
            "hog-big" => {
                let text = "a".repeat(2 << 20);
                Ok(small(format!("\"{text}\"").into_bytes()))
            }
            "hog-chatty" => {
                for line in 0..10_000 {
                    log::write(log::Level::Info, &format!("line {line}"));
                }
                Ok(small(b"{\"lines\":10000}".to_vec()))
            }
            "hog-panic" => panic!("hog was asked to panic"),
            name => {
                let escaped: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
                Ok(small(format!("{{\"user\":\"{escaped}\"}}").into_bytes()))
            }
        }
    }
}

export!(Hog);
