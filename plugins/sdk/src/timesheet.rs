//! Timesheet imports: one CSV row per closed session, written in the user's time zone.
//!
//! Time-tracking tools import entries that have a start and a duration, so a session still
//! running is left out. A format only says how one session becomes a row; [`build`] does the
//! rest the same way for every format: the walk over pages, the zone, the counts.

use std::collections::BTreeSet;

use crate::bindings::clocky::plugin::log::Level;
use crate::csv::CsvDocument;
use crate::local::LocalZone;
use crate::{
    Document, ExportError, Profile, SessionRecord, SessionStatus, UserData, figures, source,
};

/// Builds a timesheet with `header`, calling `row` for each closed session with the user's
/// profile, their zone, the session and its net worked minutes.
pub fn build<const N: usize>(
    source: &mut impl UserData,
    header: &[&str; N],
    row: impl Fn(&Profile, &LocalZone, &SessionRecord, u64) -> [String; N],
) -> Result<Document, ExportError> {
    let profile = source.profile().map_err(ExportError::QueryFailed)?;
    let zone = LocalZone::named(&profile.timezone);
    if zone.fell_back() {
        crate::log(
            Level::Warn,
            &format!("unknown time zone {:?}; times are in UTC", profile.timezone),
        );
    }
    let mut csv = CsvDocument::new(header)?;
    let mut servers = BTreeSet::new();
    for session in source::sessions(source) {
        let session = session.map_err(ExportError::QueryFailed)?;
        // An active session has no duration yet.
        let Some(net) = figures::of_session(&session).net_worked_minutes else {
            continue;
        };
        let cells = row(&profile, &zone, &session, net);
        csv.row(cells.iter().map(String::as_str))?;
        servers.insert(session.server_id);
    }
    Ok(Document {
        sessions_included: csv.rows(),
        servers_included: u64::try_from(servers.len()).unwrap_or(u64::MAX),
        bytes: csv.finish()?,
    })
}

/// Tags for an entry: `Clocky`, plus `auto-closed` for a session Clocky closed itself.
pub fn tags(session: &SessionRecord) -> String {
    match session.status {
        SessionStatus::AutoClosed => "Clocky, auto-closed".to_owned(),
        SessionStatus::Active | SessionStatus::Completed => "Clocky".to_owned(),
    }
}
