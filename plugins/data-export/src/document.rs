//! Builds the export document.
//!
//! The document is written with serde as it is read: the `sessions` and `breaks` arrays pull
//! pages from the source while the serializer writes them, and the statistics, which come after
//! the sessions in the document, are counted on the way. Field names and order are the guide's.

use std::cell::RefCell;
use std::collections::HashMap;

use clocky_rules::figures::{BreakSpan, SessionSpan, break_figures, session_figures};
use clocky_rules::time::format_utc;
use clocky_rules::{Statistics, StatisticsBuilder};
use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::bindings::clocky::plugin::types::{
    BreakPage, BreakRecord, Profile, QueryError, ServerRecord, SessionPage, SessionRecord,
    SessionStatus,
};
use crate::bindings::exports::clocky::plugin::exporter::{Document, ExportError};

/// How many rows the plugin asks for per page. The host may return fewer.
pub const PAGE_SIZE: u32 = 500;

/// The queries the document is built from, as the `user-data` interface defines them.
pub trait UserData {
    /// The user's profile.
    fn profile(&mut self) -> Result<Profile, QueryError>;
    /// A page of sessions with their breaks, by check-in.
    fn sessions(&mut self, after: Option<&str>, limit: u32) -> Result<SessionPage, QueryError>;
    /// A page of breaks, by start.
    fn breaks(&mut self, after: Option<&str>, limit: u32) -> Result<BreakPage, QueryError>;
    /// The servers the user has sessions in.
    fn servers(&mut self) -> Result<Vec<ServerRecord>, QueryError>;
}

/// Builds the whole document for the user `source` answers for.
pub fn build(source: &mut impl UserData, generated_at: i64) -> Result<Document, ExportError> {
    let profile = source.profile().map_err(ExportError::QueryFailed)?;
    let servers = source.servers().map_err(ExportError::QueryFailed)?;
    let export = Export {
        generated_at,
        profile: &profile,
        servers: &servers,
        walk: RefCell::new(Walk {
            source,
            spans: HashMap::new(),
            statistics: StatisticsBuilder::new(),
            failure: None,
        }),
    };

    let mut bytes = Vec::new();
    let written = serde_json::to_writer_pretty(&mut bytes, &export);
    let walk = export.walk.into_inner();
    if let Some(failure) = walk.failure {
        return Err(failure);
    }
    written.map_err(|error| ExportError::Internal(format!("could not write JSON: {error}")))?;
    bytes.push(b'\n');

    let statistics = walk.statistics.finish(len_u64(servers.len()));
    Ok(Document {
        bytes,
        sessions_included: statistics.total_sessions,
        servers_included: statistics.servers_count,
    })
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Everything the serializer needs. The walk state sits in a `RefCell` because serde hands out
/// only shared references while it writes.
struct Export<'a, S> {
    generated_at: i64,
    profile: &'a Profile,
    servers: &'a [ServerRecord],
    walk: RefCell<Walk<'a, S>>,
}

/// State carried from the session walk to the break walk and the statistics.
struct Walk<'a, S> {
    source: &'a mut S,
    /// Each session's two ends, to clamp its breaks into it. Sixteen bytes a session.
    spans: HashMap<u64, SessionSpan>,
    statistics: StatisticsBuilder,
    /// The real reason a walk stopped; serde only carries a string.
    failure: Option<ExportError>,
}

impl<S: UserData> Serialize for Export<'_, S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let profile = self.profile;
        let user_id = profile.user_id.to_string();
        let mut document = serializer.serialize_struct("Export", 6)?;
        document.serialize_field(
            "export_info",
            &ExportInfo {
                generated_at: format_utc(self.generated_at),
                user_id: &user_id,
                username: &profile.username,
                export_version: crate::EXPORT_VERSION,
            },
        )?;
        document.serialize_field(
            "user_data",
            &UserDataOut {
                user_id: &user_id,
                username: &profile.username,
                created_at: format_utc(profile.first_seen_at),
                preferences: Preferences {
                    leaderboard_public: profile.leaderboard_public,
                    timezone: &profile.timezone,
                },
            },
        )?;
        document.serialize_field("sessions", &Sessions(&self.walk))?;
        document.serialize_field("breaks", &Breaks(&self.walk))?;
        let statistics = self
            .walk
            .borrow()
            .statistics
            .finish(len_u64(self.servers.len()));
        document.serialize_field("statistics", &StatisticsOut(statistics))?;
        let servers: Vec<ServerOut<'_>> = self.servers.iter().map(ServerOut::from).collect();
        document.serialize_field("servers", &servers)?;
        document.end()
    }
}

#[derive(Serialize)]
struct ExportInfo<'a> {
    generated_at: String,
    user_id: &'a str,
    username: &'a str,
    export_version: &'a str,
}

#[derive(Serialize)]
struct UserDataOut<'a> {
    user_id: &'a str,
    username: &'a str,
    created_at: String,
    preferences: Preferences<'a>,
}

#[derive(Serialize)]
struct Preferences<'a> {
    leaderboard_public: bool,
    timezone: &'a str,
}

/// The `sessions` array, read page by page as it is written.
struct Sessions<'w, 'a, S>(&'w RefCell<Walk<'a, S>>);

impl<S: UserData> Serialize for Sessions<'_, '_, S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut walk = self.0.borrow_mut();
        let mut seq = serializer.serialize_seq(None)?;
        let mut cursor: Option<String> = None;
        loop {
            let page = match walk.source.sessions(cursor.as_deref(), PAGE_SIZE) {
                Ok(page) => page,
                Err(error) => {
                    walk.failure = Some(ExportError::QueryFailed(error));
                    return Err(Z::Error::custom("a session query failed"));
                }
            };
            for session in &page.sessions {
                let out = walk.session_out(session);
                seq.serialize_element(&out)?;
            }
            match page.next {
                Some(next) if !page.sessions.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
        seq.end()
    }
}

impl<S> Walk<'_, S> {
    /// Works out one session's row and counts it.
    fn session_out<'s>(&mut self, session: &'s SessionRecord) -> SessionOut<'s> {
        let span = SessionSpan {
            checked_in_at: session.checked_in_at,
            checked_out_at: session.checked_out_at,
        };
        let breaks = session.breaks.iter().map(break_span);
        let figures = session_figures(span, breaks);
        self.spans.insert(session.session_id, span);
        self.statistics.add(&figures);
        SessionOut {
            session_id: session.session_id.to_string(),
            server_id: session.server_id.to_string(),
            server_name: &session.server_name,
            checked_in_at: format_utc(session.checked_in_at),
            checked_out_at: session.checked_out_at.map(format_utc),
            duration_minutes: figures.duration_minutes,
            break_duration_minutes: figures.break_duration_minutes,
            net_worked_minutes: figures.net_worked_minutes,
            status: status_word(session.status),
            created_at: format_utc(session.created_at),
            updated_at: format_utc(session.updated_at),
        }
    }
}

fn break_span(record: &BreakRecord) -> BreakSpan {
    BreakSpan {
        started_at: record.started_at,
        ended_at: record.ended_at,
    }
}

fn status_word(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "active",
        SessionStatus::Completed => "completed",
        SessionStatus::AutoClosed => "auto-closed",
    }
}

#[derive(Serialize)]
struct SessionOut<'a> {
    session_id: String,
    server_id: String,
    server_name: &'a str,
    checked_in_at: String,
    checked_out_at: Option<String>,
    duration_minutes: Option<u64>,
    break_duration_minutes: u64,
    net_worked_minutes: Option<u64>,
    status: &'static str,
    created_at: String,
    updated_at: String,
}

/// The `breaks` array, read page by page as it is written.
struct Breaks<'w, 'a, S>(&'w RefCell<Walk<'a, S>>);

impl<S: UserData> Serialize for Breaks<'_, '_, S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut walk = self.0.borrow_mut();
        let mut seq = serializer.serialize_seq(None)?;
        let mut cursor: Option<String> = None;
        loop {
            let page = match walk.source.breaks(cursor.as_deref(), PAGE_SIZE) {
                Ok(page) => page,
                Err(error) => {
                    walk.failure = Some(ExportError::QueryFailed(error));
                    return Err(Z::Error::custom("a break query failed"));
                }
            };
            for record in &page.breaks {
                let Some(&session) = walk.spans.get(&record.session_id) else {
                    walk.failure = Some(ExportError::InvalidData(format!(
                        "break {} belongs to session {}, which the session listing did not include",
                        record.break_id, record.session_id
                    )));
                    return Err(Z::Error::custom("a break has no session"));
                };
                let figures = break_figures(session, break_span(record));
                seq.serialize_element(&BreakOut {
                    break_id: record.break_id.to_string(),
                    session_id: record.session_id.to_string(),
                    started_at: format_utc(record.started_at),
                    ended_at: figures.ended_at.map(format_utc),
                    duration_minutes: figures.duration_minutes,
                    status: figures.status(),
                })?;
            }
            match page.next {
                Some(next) if !page.breaks.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct BreakOut {
    break_id: String,
    session_id: String,
    started_at: String,
    ended_at: Option<String>,
    duration_minutes: Option<u64>,
    status: &'static str,
}

struct StatisticsOut(Statistics);

impl Serialize for StatisticsOut {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let stats = &self.0;
        let mut out = serializer.serialize_struct("Statistics", 7)?;
        out.serialize_field("total_sessions", &stats.total_sessions)?;
        out.serialize_field("total_worked_minutes", &stats.total_worked_minutes)?;
        out.serialize_field("total_worked_hours", &stats.total_worked_hours)?;
        out.serialize_field("average_session_minutes", &stats.average_session_minutes)?;
        out.serialize_field("longest_session_minutes", &stats.longest_session_minutes)?;
        out.serialize_field("total_break_minutes", &stats.total_break_minutes)?;
        out.serialize_field("servers_count", &stats.servers_count)?;
        out.end()
    }
}

#[derive(Serialize)]
struct ServerOut<'a> {
    server_id: String,
    server_name: &'a str,
    first_checkin: String,
    last_checkin: String,
    session_count: u64,
}

impl<'a> From<&'a ServerRecord> for ServerOut<'a> {
    fn from(server: &'a ServerRecord) -> Self {
        ServerOut {
            server_id: server.server_id.to_string(),
            server_name: &server.server_name,
            first_checkin: format_utc(server.first_checkin),
            last_checkin: format_utc(server.last_checkin),
            session_count: server.session_count,
        }
    }
}
