//! The `sessions-csv` plugin: every session as one CSV row, with the JSON export's fields.
//!
//! This is the conversion the data-export guide shows with Python's `csv.DictWriter`, done by
//! Clocky: the columns are the keys of a session in the JSON export, in the same order, and each
//! cell holds the same value. Times are UTC (`2025-01-15T09:00:00Z`); an active session has
//! empty `checked_out_at`, `duration_minutes` and `net_worked_minutes`, as the JSON has `null`.
//! Breaks are not listed, only counted in `break_duration_minutes`; the JSON export has them.

use std::collections::BTreeSet;

use clocky_plugin_sdk::csv::CsvDocument;
use clocky_plugin_sdk::rules::time::format_utc;
use clocky_plugin_sdk::{Document, ExportError, UserData, figures, source, status_word};

/// The plugin's name, as operators and users choose it.
pub const NAME: &str = "sessions-csv";

/// What operators and users are told the plugin makes.
pub const DESCRIPTION: &str = "Your sessions as CSV, one row per session with the same fields and figures as the JSON export.";

/// The columns, as the JSON export names a session's fields.
pub const HEADER: [&str; 11] = [
    "session_id",
    "server_id",
    "server_name",
    "checked_in_at",
    "checked_out_at",
    "duration_minutes",
    "break_duration_minutes",
    "net_worked_minutes",
    "status",
    "created_at",
    "updated_at",
];

/// Builds the CSV for the user `source` answers for.
pub fn build(source: &mut impl UserData) -> Result<Document, ExportError> {
    let mut csv = CsvDocument::new(&HEADER)?;
    let mut servers = BTreeSet::new();
    for session in source::sessions(source) {
        let session = session.map_err(ExportError::QueryFailed)?;
        let figures = figures::of_session(&session);
        let optional = |minutes: Option<u64>| minutes.map(|m| m.to_string()).unwrap_or_default();
        csv.row([
            session.session_id.to_string().as_str(),
            &session.server_id.to_string(),
            &session.server_name,
            &format_utc(session.checked_in_at),
            &session.checked_out_at.map(format_utc).unwrap_or_default(),
            &optional(figures.duration_minutes),
            &figures.break_duration_minutes.to_string(),
            &optional(figures.net_worked_minutes),
            status_word(session.status),
            &format_utc(session.created_at),
            &format_utc(session.updated_at),
        ])?;
        servers.insert(session.server_id);
    }
    Ok(Document {
        sessions_included: csv.rows(),
        servers_included: u64::try_from(servers.len()).unwrap_or(u64::MAX),
        bytes: csv.finish()?,
    })
}

clocky_plugin_sdk::csv_plugin!(super::NAME, super::DESCRIPTION, super::build);

#[cfg(test)]
mod tests {
    use super::*;
    use clocky_plugin_sdk::Fixture;
    use clocky_plugin_sdk::csv::read_rows as rows;

    #[test]
    fn every_session_is_a_row_with_the_json_fields() {
        let document = build(&mut Fixture::sample()).unwrap();
        let rows = rows(&document.bytes);
        assert_eq!(rows[0], HEADER);
        // Session 1: 09:00–17:30 is 510 min, the 12:00–13:00 break 60 min, 450 net. The name
        // starts with `=`, so it is written with an apostrophe; the rest survives quoting.
        assert_eq!(
            rows[1],
            [
                "1",
                "7",
                "'=Team \"A\", 🙂\nNight",
                "2025-01-15T09:00:00Z",
                "2025-01-15T17:30:00Z",
                "510",
                "60",
                "450",
                "completed",
                "2025-01-15T09:00:00Z",
                "2025-01-15T17:30:00Z",
            ]
        );
        // Session 3: 21:30–23:15 is 105 min, no breaks.
        assert_eq!(
            rows[2],
            [
                "3",
                "9",
                "Side, project",
                "2025-07-15T21:30:00Z",
                "2025-07-15T23:15:00Z",
                "105",
                "0",
                "105",
                "auto-closed",
                "2025-07-15T21:30:00Z",
                "2025-07-15T23:15:00Z",
            ]
        );
        // Session 4 is active: no check-out and no figures, as the JSON's nulls.
        assert_eq!(
            rows[3],
            [
                "4",
                "9",
                "Side, project",
                "2025-07-20T08:00:00Z",
                "",
                "",
                "0",
                "",
                "active",
                "2025-07-20T08:00:00Z",
                "2025-07-20T08:00:00Z",
            ]
        );
        assert_eq!(rows.len(), 4);
        assert_eq!(document.sessions_included, 3);
        assert_eq!(document.servers_included, 2);
    }

    #[test]
    fn no_sessions_is_a_header_alone() {
        let document = build(&mut Fixture::new(1, "bob", "UTC")).unwrap();
        assert_eq!(
            String::from_utf8(document.bytes).unwrap(),
            format!("{}\r\n", HEADER.join(","))
        );
        assert_eq!(document.sessions_included, 0);
    }
}
