//! `hours-by-server`: how many hours the user worked in each server, as CSV.
//!
//! It is the data-export guide's "total hours by server" example as a plugin, and the smallest
//! whole plugin there is: a name, a `build` function over [`UserData`], the component glue, and
//! a test against the SDK's fixture.

use std::collections::BTreeMap;

use clocky_plugin_sdk::csv::CsvDocument;
use clocky_plugin_sdk::{Document, ExportError, UserData, figures, source};

/// The name users pick the format by: lowercase letters, digits and dashes.
pub const NAME: &str = "hours-by-server";

/// Builds the document for the user `source` answers for.
pub fn build(source: &mut impl UserData) -> Result<Document, ExportError> {
    // Server id → (latest name, net minutes, sessions).
    let mut servers: BTreeMap<u64, (String, u64, u64)> = BTreeMap::new();
    for session in source::sessions(source) {
        let session = session.map_err(ExportError::QueryFailed)?;
        let net = figures::of_session(&session)
            .net_worked_minutes
            .unwrap_or(0);
        let entry = servers.entry(session.server_id).or_default();
        entry.0 = session.server_name;
        entry.1 += net;
        entry.2 += 1;
    }

    let mut csv = CsvDocument::new(&["server_id", "server_name", "hours", "sessions"])?;
    let mut sessions = 0;
    for (server_id, (name, minutes, count)) in &servers {
        csv.row([
            server_id.to_string().as_str(),
            name,
            &figures::decimal_hours(*minutes),
            &count.to_string(),
        ])?;
        sessions += count;
    }
    Ok(Document {
        sessions_included: sessions,
        servers_included: csv.rows(),
        bytes: csv.finish()?,
    })
}

#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "the export macro expands to the component's ABI glue"
)]
mod guest {
    use clocky_plugin_sdk::{Document, ExportError, ExportRequest, Guest, Host, PluginMetadata};

    struct Plugin;

    impl Guest for Plugin {
        fn metadata() -> PluginMetadata {
            PluginMetadata {
                name: super::NAME.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                media_type: "text/csv".to_owned(),
                file_extension: "csv".to_owned(),
                description: "Hours worked in each server, as CSV.".to_owned(),
            }
        }

        fn export(_request: ExportRequest) -> Result<Document, ExportError> {
            super::build(&mut Host)
        }
    }

    clocky_plugin_sdk::export_plugin!(Plugin);
}

#[cfg(test)]
mod tests {
    use clocky_plugin_sdk::Fixture;
    use clocky_plugin_sdk::csv::read_rows;

    #[test]
    fn hours_are_summed_per_server() {
        // The sample's server 7 has one session of 450 net minutes (7.50 h); server 9 has a
        // closed one of 105 minutes (1.75 h) and an active one, which adds no time.
        let document = super::build(&mut Fixture::sample()).unwrap();
        let rows = read_rows(&document.bytes);
        assert_eq!(rows[0], ["server_id", "server_name", "hours", "sessions"]);
        assert_eq!(rows[1], ["7", "'=Team \"A\", 🙂\nNight", "7.50", "1"]);
        assert_eq!(rows[2], ["9", "Side, project", "1.75", "2"]);
        assert_eq!(document.sessions_included, 3);
        assert_eq!(document.servers_included, 2);
    }
}
