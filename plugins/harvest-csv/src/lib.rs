//! The `harvest-csv` plugin: closed sessions as a Harvest time import file.
//!
//! Harvest imports CSV with exactly the columns below. Harvest files time under a client and a
//! project, and Clocky knows only the Discord server, so the server's name is used for both.
//!
//! | Column | Value |
//! |---|---|
//! | Date | the check-in's date in the user's time zone, `YYYY-MM-DD` |
//! | Client | the server's name |
//! | Project | the server's name |
//! | Task | `Work` |
//! | Notes | `Clocky session <id>`, plus `(auto-closed)` for sessions Clocky closed |
//! | Hours | net worked time (breaks taken out) in decimal hours, two decimals, half up |
//! | First name | the Discord username |
//! | Last name | empty: Discord has no such name |
//!
//! Active sessions are left out: an entry needs its hours.

use clocky_plugin_sdk::local::LocalZone;
use clocky_plugin_sdk::{
    Document, ExportError, Profile, SessionRecord, SessionStatus, UserData, figures, timesheet,
};

/// The plugin's name, as operators and users choose it.
pub const NAME: &str = "harvest-csv";

/// What operators and users are told the plugin makes.
pub const DESCRIPTION: &str =
    "Your closed sessions as a Harvest import file: one entry per session, in decimal hours.";

/// Harvest's import columns, in its order.
pub const HEADER: [&str; 8] = [
    "Date",
    "Client",
    "Project",
    "Task",
    "Notes",
    "Hours",
    "First name",
    "Last name",
];

/// Builds the CSV for the user `source` answers for: one row per closed session.
pub fn build(source: &mut impl UserData) -> Result<Document, ExportError> {
    timesheet::build(source, &HEADER, row)
}

fn row(profile: &Profile, zone: &LocalZone, session: &SessionRecord, net: u64) -> [String; 8] {
    let notes = match session.status {
        SessionStatus::AutoClosed => format!("Clocky session {} (auto-closed)", session.session_id),
        _ => format!("Clocky session {}", session.session_id),
    };
    [
        zone.at(session.checked_in_at)
            .format("%Y-%m-%d")
            .to_string(),
        session.server_name.clone(),
        session.server_name.clone(),
        "Work".to_owned(),
        notes,
        figures::decimal_hours(net),
        profile.username.clone(),
        String::new(),
    ]
}

clocky_plugin_sdk::csv_plugin!(super::NAME, super::DESCRIPTION, super::build);

#[cfg(test)]
mod tests {
    use super::*;
    use clocky_plugin_sdk::Fixture;
    use clocky_plugin_sdk::csv::read_rows;

    #[test]
    fn closed_sessions_become_harvest_entries_in_decimal_hours() {
        let document = build(&mut Fixture::sample()).unwrap();
        let rows = read_rows(&document.bytes);
        assert_eq!(
            rows[0],
            [
                "Date",
                "Client",
                "Project",
                "Task",
                "Notes",
                "Hours",
                "First name",
                "Last name"
            ]
        );
        let tricky = "'=Team \"A\", 🙂\nNight";
        // Session 1: 450 net minutes are 7.50 hours.
        assert_eq!(
            rows[1],
            [
                "2025-01-15",
                tricky,
                tricky,
                "Work",
                "Clocky session 1",
                "7.50",
                "'@alice 🙂",
                "",
            ]
        );
        // Session 3: 105 minutes are 1.75 hours; 23:30 in Berlin is still 15 July.
        assert_eq!(
            rows[2],
            [
                "2025-07-15",
                "Side, project",
                "Side, project",
                "Work",
                "Clocky session 3 (auto-closed)",
                "1.75",
                "'@alice 🙂",
                "",
            ]
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(document.sessions_included, 2);
        assert_eq!(document.servers_included, 2);
    }
}
