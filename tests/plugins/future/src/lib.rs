//! A plugin built for a contract version the host does not serve. See README.md.

#![allow(
    unsafe_code,
    reason = "wit-bindgen generates the ABI glue with unsafe code"
)]

wit_bindgen::generate!({
    inline: "
        package clocky:plugin@2.0.0;

        interface exporter {
            record plugin-metadata {
                name: string,
                version: string,
                media-type: string,
                file-extension: string,
                description: string,
                homepage: string,
            }

            record document {
                bytes: list<u8>,
            }

            metadata: func() -> plugin-metadata;

            %export: func(generated-at: s64) -> result<document, string>;
        }

        world exporter-plugin {
            export exporter;
        }
    ",
});

use exports::clocky::plugin::exporter::{Document, Guest, PluginMetadata};

struct Future;

impl Guest for Future {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "future".to_owned(),
            version: "0.1.0".to_owned(),
            media_type: "application/json".to_owned(),
            file_extension: "json".to_owned(),
            description: "Built for a contract version from the future, for tests.".to_owned(),
            homepage: "https://example.invalid/".to_owned(),
        }
    }

    fn export(_generated_at: i64) -> Result<Document, String> {
        Ok(Document {
            bytes: b"{}".to_vec(),
        })
    }
}

export!(Future);
