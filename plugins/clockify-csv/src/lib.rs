//! The `clockify-csv` plugin: closed sessions as a Clockify timesheet import file.
//!
//! Clockify imports CSV with the columns below, read in the importing account's formats. This
//! plugin writes Clockify's defaults, the ones its own example file uses: dates as `MM/DD/YYYY`,
//! 12-hour times such as `9:00 AM`, and durations as `H:MM`. Accounts set to other formats must
//! change them for the import, or convert the columns.
//!
//! | Column | Value |
//! |---|---|
//! | Project | the server's name (one project per server) |
//! | Client | empty |
//! | Description | `Clocky session <id>`, to find the entry in the JSON export |
//! | Task | empty |
//! | Email | empty: Clocky does not know it; fill in the workspace member's email to import |
//! | Tags | `Clocky`, plus `auto-closed` for sessions Clocky closed |
//! | Billable | `No` |
//! | Start Date | the check-in's date in the user's time zone |
//! | Start Time | the check-in's time in the user's time zone |
//! | Duration (h) | net worked time (breaks taken out) |
//!
//! Active sessions are left out: an entry needs a duration.

use clocky_plugin_sdk::local::LocalZone;
use clocky_plugin_sdk::{
    Document, ExportError, Profile, SessionRecord, UserData, figures, timesheet,
};

/// The plugin's name, as operators and users choose it.
pub const NAME: &str = "clockify-csv";

/// What operators and users are told the plugin makes.
pub const DESCRIPTION: &str = "Your closed sessions as a Clockify import file: one time entry per session, in your time zone.";

/// Clockify's import columns, in its order.
pub const HEADER: [&str; 10] = [
    "Project",
    "Client",
    "Description",
    "Task",
    "Email",
    "Tags",
    "Billable",
    "Start Date",
    "Start Time",
    "Duration (h)",
];

/// Builds the CSV for the user `source` answers for: one row per closed session.
pub fn build(source: &mut impl UserData) -> Result<Document, ExportError> {
    timesheet::build(source, &HEADER, row)
}

fn row(_profile: &Profile, zone: &LocalZone, session: &SessionRecord, net: u64) -> [String; 10] {
    let start = zone.at(session.checked_in_at);
    [
        session.server_name.clone(),
        String::new(),
        format!("Clocky session {}", session.session_id),
        String::new(),
        String::new(),
        timesheet::tags(session),
        "No".to_owned(),
        start.format("%m/%d/%Y").to_string(),
        start.format("%-I:%M %p").to_string(),
        figures::h_mm(net),
    ]
}

clocky_plugin_sdk::csv_plugin!(super::NAME, super::DESCRIPTION, super::build);

#[cfg(test)]
mod tests {
    use super::*;
    use clocky_plugin_sdk::Fixture;
    use clocky_plugin_sdk::csv::read_rows;

    #[test]
    fn closed_sessions_become_clockify_entries_in_local_time() {
        let document = build(&mut Fixture::sample()).unwrap();
        let rows = read_rows(&document.bytes);
        assert_eq!(rows[0], HEADER);
        // Session 1: 10:00 in Berlin in January; 510 min less a 60 min break is 7:30.
        assert_eq!(
            rows[1],
            [
                "'=Team \"A\", 🙂\nNight",
                "",
                "Clocky session 1",
                "",
                "",
                "Clocky",
                "No",
                "01/15/2025",
                "10:00 AM",
                "7:30",
            ]
        );
        // Session 3: 23:30 in Berlin in July; 105 min is 1:45.
        assert_eq!(
            rows[2],
            [
                "Side, project",
                "",
                "Clocky session 3",
                "",
                "",
                "Clocky, auto-closed",
                "No",
                "07/15/2025",
                "11:30 PM",
                "1:45",
            ]
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(document.sessions_included, 2);
        assert_eq!(document.servers_included, 2);
    }
}
