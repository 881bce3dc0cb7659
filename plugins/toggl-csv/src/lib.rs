//! The `toggl-csv` plugin: closed sessions as a Toggl Track time-entry import file.
//!
//! Toggl Track imports CSV with the columns below. Each closed session becomes one time entry:
//!
//! | Column | Value |
//! |---|---|
//! | User | the Discord username |
//! | Email | empty: Clocky does not know it; Toggl assigns empty rows to the importing user |
//! | Client | empty |
//! | Project | the server's name (one project per server) |
//! | Task | empty |
//! | Description | `Clocky session <id>`, to find the entry in the JSON export |
//! | Billable | `No` |
//! | Start date | the check-in's date in the user's time zone, `YYYY-MM-DD` |
//! | Start time | the check-in's time in the user's time zone, `HH:MM:SS` |
//! | Duration | net worked time (breaks taken out), `HH:MM:SS` |
//! | Tags | `Clocky`, plus `auto-closed` for sessions Clocky closed |
//!
//! Active sessions are left out: an entry needs a duration. The net time is placed at check-in,
//! so an entry ends earlier than the session did when it had breaks.

use clocky_plugin_sdk::local::LocalZone;
use clocky_plugin_sdk::{
    Document, ExportError, Profile, SessionRecord, UserData, figures, timesheet,
};

/// The plugin's name, as operators and users choose it.
pub const NAME: &str = "toggl-csv";

/// What operators and users are told the plugin makes.
pub const DESCRIPTION: &str = "Your closed sessions as a Toggl Track import file: one time entry per session, in your time zone.";

/// Toggl Track's import columns, in its order.
pub const HEADER: [&str; 11] = [
    "User",
    "Email",
    "Client",
    "Project",
    "Task",
    "Description",
    "Billable",
    "Start date",
    "Start time",
    "Duration",
    "Tags",
];

/// Builds the CSV for the user `source` answers for: one row per closed session.
pub fn build(source: &mut impl UserData) -> Result<Document, ExportError> {
    timesheet::build(source, &HEADER, row)
}

fn row(profile: &Profile, zone: &LocalZone, session: &SessionRecord, net: u64) -> [String; 11] {
    let start = zone.at(session.checked_in_at);
    [
        profile.username.clone(),
        String::new(),
        String::new(),
        session.server_name.clone(),
        String::new(),
        format!("Clocky session {}", session.session_id),
        "No".to_owned(),
        start.format("%Y-%m-%d").to_string(),
        start.format("%H:%M:%S").to_string(),
        figures::hh_mm_ss(net),
        timesheet::tags(session),
    ]
}

clocky_plugin_sdk::csv_plugin!(super::NAME, super::DESCRIPTION, super::build);

#[cfg(test)]
mod tests {
    use super::*;
    use clocky_plugin_sdk::Fixture;
    use clocky_plugin_sdk::csv::read_rows;

    #[test]
    fn closed_sessions_become_toggl_entries_in_local_time() {
        let document = build(&mut Fixture::sample()).unwrap();
        let rows = read_rows(&document.bytes);
        assert_eq!(rows[0], HEADER);
        // Session 1: 09:00Z is 10:00 in Berlin in January; 510 min less a 60 min break.
        assert_eq!(
            rows[1],
            [
                "'@alice 🙂",
                "",
                "",
                "'=Team \"A\", 🙂\nNight",
                "",
                "Clocky session 1",
                "No",
                "2025-01-15",
                "10:00:00",
                "07:30:00",
                "Clocky",
            ]
        );
        // Session 3: 21:30Z is 23:30 in Berlin in July; 105 min; closed by Clocky.
        assert_eq!(
            rows[2],
            [
                "'@alice 🙂",
                "",
                "",
                "Side, project",
                "",
                "Clocky session 3",
                "No",
                "2025-07-15",
                "23:30:00",
                "01:45:00",
                "Clocky, auto-closed",
            ]
        );
        // The active session 4 has no duration and is left out.
        assert_eq!(rows.len(), 3);
        assert_eq!(document.sessions_included, 2);
        assert_eq!(document.servers_included, 2);
    }
}
