//! Queries behind the export pipeline: jobs and download links.

use clocky_rules::Timestamp;
use sqlx::{FromRow, SqliteConnection};

use super::DbError;
use crate::ids::{JobId, ServerId, UserId};

/// Where an export job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker is running the plugin and storing the file.
    Running,
    /// The file is stored and verified; links can be issued until it expires.
    Ready,
    /// The export failed; `failure_kind` says how. A new request may be made at once.
    Failed,
    /// The file's time ran out and it was deleted. The record stays for the operator's audit.
    Expired,
}

impl JobState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Ready => "ready",
            JobState::Failed => "failed",
            JobState::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Result<JobState, DbError> {
        Ok(match text {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "ready" => JobState::Ready,
            "failed" => JobState::Failed,
            "expired" => JobState::Expired,
            other => return Err(DbError::Corrupt(format!("job state {other:?}"))),
        })
    }
}

/// An export job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Clocky's id.
    pub job_id: JobId,
    /// Who asked: the owner of the data for a personal export, a manager of the server for a
    /// server-wide one.
    pub user_id: UserId,
    /// The server a server-wide export is for; none for a personal export.
    pub server_id: Option<ServerId>,
    /// The plugin asked for.
    pub format: String,
    /// Where it stands.
    pub state: JobState,
    /// When it was asked for.
    pub requested_at: Timestamp,
    /// When a worker took it.
    pub started_at: Option<Timestamp>,
    /// When it became ready or failed.
    pub finished_at: Option<Timestamp>,
    /// The plugin that ran it.
    pub plugin_name: Option<String>,
    /// That plugin's version.
    pub plugin_version: Option<String>,
    /// How it failed, as a short word.
    pub failure_kind: Option<String>,
    /// How it failed, for the operator.
    pub failure_detail: Option<String>,
    /// The instant the document was generated at.
    pub generated_at: Option<Timestamp>,
    /// When the file and every link to it expire.
    pub expires_at: Option<Timestamp>,
    /// Storage key of the file.
    pub file_key: Option<String>,
    /// The name the file downloads as.
    pub file_name: Option<String>,
    /// The file's media type.
    pub media_type: Option<String>,
    /// The file's size in bytes.
    pub file_size: Option<i64>,
    /// Hex SHA-256 of the file.
    pub file_sha256: Option<String>,
    /// Sessions in the document.
    pub sessions_included: Option<i64>,
    /// Servers in the document.
    pub servers_included: Option<i64>,
    /// Whether it was a further request within the free period, confirmed by the user after
    /// the fee notice.
    pub further_request: bool,
}

#[derive(FromRow)]
struct RawJob {
    job_id: i64,
    user_id: i64,
    server_id: Option<i64>,
    format: String,
    state: String,
    requested_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    plugin_name: Option<String>,
    plugin_version: Option<String>,
    failure_kind: Option<String>,
    failure_detail: Option<String>,
    generated_at: Option<i64>,
    expires_at: Option<i64>,
    file_key: Option<String>,
    file_name: Option<String>,
    media_type: Option<String>,
    file_size: Option<i64>,
    file_sha256: Option<String>,
    sessions_included: Option<i64>,
    servers_included: Option<i64>,
    further_request: bool,
}

impl TryFrom<RawJob> for JobRow {
    type Error = DbError;

    fn try_from(raw: RawJob) -> Result<Self, DbError> {
        Ok(JobRow {
            job_id: JobId(raw.job_id),
            user_id: UserId::from_sql(raw.user_id)?,
            server_id: raw.server_id.map(ServerId::from_sql).transpose()?,
            format: raw.format,
            state: JobState::parse(&raw.state)?,
            requested_at: raw.requested_at,
            started_at: raw.started_at,
            finished_at: raw.finished_at,
            plugin_name: raw.plugin_name,
            plugin_version: raw.plugin_version,
            failure_kind: raw.failure_kind,
            failure_detail: raw.failure_detail,
            generated_at: raw.generated_at,
            expires_at: raw.expires_at,
            file_key: raw.file_key,
            file_name: raw.file_name,
            media_type: raw.media_type,
            file_size: raw.file_size,
            file_sha256: raw.file_sha256,
            sessions_included: raw.sessions_included,
            servers_included: raw.servers_included,
            further_request: raw.further_request,
        })
    }
}

/// The columns of [`RawJob`], in one place for every query that reads a whole job.
macro_rules! job_columns {
    () => {
        "job_id, user_id, server_id, format, state, requested_at, started_at, finished_at, plugin_name, \
         plugin_version, failure_kind, failure_detail, generated_at, expires_at, file_key, \
         file_name, media_type, file_size, file_sha256, sessions_included, servers_included, \
         further_request"
    };
}

/// `SELECT <every job column> FROM export_jobs <rest>`.
macro_rules! select_jobs {
    ($rest:literal) => {
        concat!("SELECT ", job_columns!(), " FROM export_jobs ", $rest)
    };
}

/// How a new job starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewJob<'a> {
    /// The plugin asked for.
    pub format: &'a str,
    /// Created already `running`, claimed by the caller, instead of `queued`.
    pub claimed: bool,
    /// A further request within the free period, confirmed after the fee notice.
    pub further_request: bool,
    /// The server of a server-wide export; none for a personal one.
    pub server: Option<ServerId>,
}

/// Creates a job, unless the user already has one queued or running for the same scope (their
/// own data, or the same server), which is returned instead.
pub async fn insert_job(
    conn: &mut SqliteConnection,
    user: UserId,
    new: NewJob<'_>,
    now: Timestamp,
) -> Result<Result<JobRow, JobRow>, DbError> {
    if let Some(existing) = in_progress(&mut *conn, user, new.server).await? {
        return Ok(Err(existing));
    }
    let raw: RawJob = sqlx::query_as(concat!(
        "INSERT INTO export_jobs (user_id, format, state, requested_at, started_at, \
                                  further_request, server_id) \
         VALUES (?1, ?2, CASE WHEN ?4 THEN 'running' ELSE 'queued' END, ?3, \
                 CASE WHEN ?4 THEN ?3 END, ?5, ?6) RETURNING ",
        job_columns!()
    ))
    .bind(user.sql())
    .bind(new.format)
    .bind(now)
    .bind(new.claimed)
    .bind(new.further_request)
    .bind(new.server.map(ServerId::sql))
    .fetch_one(conn)
    .await?;
    Ok(Ok(raw.try_into()?))
}

/// Reads a job.
pub async fn job(conn: &mut SqliteConnection, job: JobId) -> Result<Option<JobRow>, DbError> {
    let raw: Option<RawJob> = sqlx::query_as(select_jobs!("WHERE job_id = ?1"))
        .bind(job.0)
        .fetch_optional(conn)
        .await?;
    raw.map(JobRow::try_from).transpose()
}

/// The user's queued or running job for `server` (none: their personal export), if any.
pub async fn in_progress(
    conn: &mut SqliteConnection,
    user: UserId,
    server: Option<ServerId>,
) -> Result<Option<JobRow>, DbError> {
    let raw: Option<RawJob> = sqlx::query_as(select_jobs!(
        "WHERE user_id = ?1 AND server_id IS ?2 AND state IN ('queued', 'running')"
    ))
    .bind(user.sql())
    .bind(server.map(ServerId::sql))
    .fetch_optional(conn)
    .await?;
    raw.map(JobRow::try_from).transpose()
}

/// The user's jobs, newest first.
pub async fn jobs_of(conn: &mut SqliteConnection, user: UserId) -> Result<Vec<JobRow>, DbError> {
    let raws: Vec<RawJob> = sqlx::query_as(select_jobs!(
        "WHERE user_id = ?1 ORDER BY requested_at DESC, job_id DESC"
    ))
    .bind(user.sql())
    .fetch_all(conn)
    .await?;
    raws.into_iter().map(JobRow::try_from).collect()
}

/// How many of the user's personal exports requested at `since` or later count against the
/// free allowance: every one that did not fail, except those that expired without their direct
/// message ever arriving (the user never received them).
pub async fn counted_since(
    conn: &mut SqliteConnection,
    user: UserId,
    since: Timestamp,
) -> Result<u32, DbError> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM export_jobs
         WHERE user_id = ?1 AND server_id IS NULL AND requested_at >= ?2 AND state <> 'failed'
           AND NOT (state = 'expired' AND job_id IN (
               SELECT job_id FROM export_deliveries WHERE state <> 'sent'))",
    )
    .bind(user.sql())
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// The user's newest personal export that is ready and has not expired by `now`, if any.
pub async fn newest_ready(
    conn: &mut SqliteConnection,
    user: UserId,
    now: Timestamp,
) -> Result<Option<JobRow>, DbError> {
    let raw: Option<RawJob> = sqlx::query_as(select_jobs!(
        "WHERE user_id = ?1 AND server_id IS NULL AND state = 'ready' AND expires_at > ?2
         ORDER BY generated_at DESC, job_id DESC LIMIT 1"
    ))
    .bind(user.sql())
    .bind(now)
    .fetch_optional(conn)
    .await?;
    raw.map(JobRow::try_from).transpose()
}

/// How many jobs are queued, and when the oldest of them was requested.
pub async fn queue(conn: &mut SqliteConnection) -> Result<(u64, Option<Timestamp>), DbError> {
    let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(requested_at) FROM export_jobs WHERE state = 'queued'",
    )
    .fetch_one(conn)
    .await?;
    Ok((u64::try_from(count).unwrap_or(0), oldest))
}

/// Moves a queued job to running. False if it was not queued (another worker took it).
pub async fn claim(
    conn: &mut SqliteConnection,
    job: JobId,
    now: Timestamp,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE export_jobs SET state = 'running', started_at = ?2 WHERE job_id = ?1 AND state = 'queued'",
    )
    .bind(job.0)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the oldest queued job and marks it running.
pub async fn claim_next(
    conn: &mut SqliteConnection,
    now: Timestamp,
) -> Result<Option<JobId>, DbError> {
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE export_jobs SET state = 'running', started_at = ?1
         WHERE job_id = (SELECT job_id FROM export_jobs WHERE state = 'queued'
                         ORDER BY requested_at, job_id LIMIT 1)
         RETURNING job_id",
    )
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(id.map(JobId))
}

/// Puts back in the queue the jobs that have been running since `started_before` or earlier.
pub async fn requeue_stale(
    conn: &mut SqliteConnection,
    started_before: Timestamp,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "UPDATE export_jobs SET state = 'queued', started_at = NULL
         WHERE state = 'running' AND started_at <= ?1",
    )
    .bind(started_before)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Everything recorded about a stored export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyFile {
    /// Plugin that made it.
    pub plugin_name: String,
    /// Its version.
    pub plugin_version: String,
    /// Generation instant.
    pub generated_at: Timestamp,
    /// Expiry of the file and its links.
    pub expires_at: Timestamp,
    /// Storage key.
    pub file_key: String,
    /// Download name.
    pub file_name: String,
    /// Media type.
    pub media_type: String,
    /// Bytes.
    pub file_size: u64,
    /// Hex SHA-256.
    pub file_sha256: String,
    /// Sessions in the document.
    pub sessions_included: u64,
    /// Servers in the document.
    pub servers_included: u64,
}

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Marks a running job ready with its stored file. False if the job is no longer running (it
/// was withdrawn, or erased with its requester, while it ran): then nothing may link the file.
pub async fn mark_ready(
    conn: &mut SqliteConnection,
    job: JobId,
    file: &ReadyFile,
    now: Timestamp,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE export_jobs SET state = 'ready', finished_at = ?2, plugin_name = ?3,
             plugin_version = ?4, generated_at = ?5, expires_at = ?6, file_key = ?7,
             file_name = ?8, media_type = ?9, file_size = ?10, file_sha256 = ?11,
             sessions_included = ?12, servers_included = ?13, failure_kind = NULL,
             failure_detail = NULL
         WHERE job_id = ?1 AND state = 'running'",
    )
    .bind(job.0)
    .bind(now)
    .bind(&file.plugin_name)
    .bind(&file.plugin_version)
    .bind(file.generated_at)
    .bind(file.expires_at)
    .bind(&file.file_key)
    .bind(&file.file_name)
    .bind(&file.media_type)
    .bind(count(file.file_size))
    .bind(&file.file_sha256)
    .bind(count(file.sessions_included))
    .bind(count(file.servers_included))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a job failed.
pub async fn mark_failed(
    conn: &mut SqliteConnection,
    job: JobId,
    plugin: Option<(&str, &str)>,
    kind: &str,
    detail: &str,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE export_jobs SET state = 'failed', finished_at = ?2, failure_kind = ?3,
             failure_detail = ?4, plugin_name = COALESCE(?5, plugin_name),
             plugin_version = COALESCE(?6, plugin_version)
         WHERE job_id = ?1",
    )
    .bind(job.0)
    .bind(now)
    .bind(kind)
    .bind(detail)
    .bind(plugin.map(|(name, _)| name))
    .bind(plugin.map(|(_, version)| version))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a download link by the hash of its token.
pub async fn insert_link(
    conn: &mut SqliteConnection,
    job: JobId,
    token_hash: &[u8],
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO download_links (job_id, token_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4) RETURNING link_id",
    )
    .bind(job.0)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await?)
}

/// A link found by its token's hash, with its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    /// Clocky's id for the link.
    pub link_id: i64,
    /// When the link stops working.
    pub expires_at: Timestamp,
    /// The job it leads to.
    pub job: JobRow,
}

/// Looks a link up by the SHA-256 of its token.
pub async fn link_by_hash(
    conn: &mut SqliteConnection,
    token_hash: &[u8],
) -> Result<Option<LinkRow>, DbError> {
    let found: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT link_id, job_id, expires_at FROM download_links WHERE token_hash = ?1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((link_id, job_id, expires_at)) = found else {
        return Ok(None);
    };
    let Some(job) = job(conn, JobId(job_id)).await? else {
        return Ok(None);
    };
    Ok(Some(LinkRow {
        link_id,
        expires_at,
        job,
    }))
}

/// Counts a download.
pub async fn count_download(conn: &mut SqliteConnection, link_id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE download_links SET downloads = downloads + 1 WHERE link_id = ?1")
        .bind(link_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ready jobs whose files have expired by `now`.
pub async fn expired_files(
    conn: &mut SqliteConnection,
    now: Timestamp,
) -> Result<Vec<(JobId, String)>, DbError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT job_id, file_key FROM export_jobs
         WHERE state = 'ready' AND expires_at <= ?1 AND file_key IS NOT NULL",
    )
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, key)| (JobId(id), key)).collect())
}

/// Marks a job's file as deleted after expiry.
pub async fn mark_expired(conn: &mut SqliteConnection, job: JobId) -> Result<(), DbError> {
    sqlx::query("UPDATE export_jobs SET state = 'expired' WHERE job_id = ?1 AND state = 'ready'")
        .bind(job.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Turns server-wide exports on for `server`. True if they were off.
pub async fn enable_server_export(
    conn: &mut SqliteConnection,
    server: ServerId,
    now: Timestamp,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO server_exports_enabled (server_id, enabled_at) VALUES (?1, ?2)
         ON CONFLICT (server_id) DO NOTHING",
    )
    .bind(server.sql())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns server-wide exports off for `server`. True if they were on. Exports already made
/// stay downloadable until they expire.
pub async fn disable_server_export(
    conn: &mut SqliteConnection,
    server: ServerId,
) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM server_exports_enabled WHERE server_id = ?1")
        .bind(server.sql())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether server-wide exports are on for `server`.
pub async fn server_export_enabled(
    conn: &mut SqliteConnection,
    server: ServerId,
) -> Result<bool, DbError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM server_exports_enabled WHERE server_id = ?1")
            .bind(server.sql())
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// The servers with server-wide exports on, with when each was enabled and its name if known.
pub async fn server_exports_enabled(
    conn: &mut SqliteConnection,
) -> Result<Vec<(ServerId, Timestamp, Option<String>)>, DbError> {
    let rows: Vec<(i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT e.server_id, e.enabled_at, v.name FROM server_exports_enabled e
         LEFT JOIN servers v ON v.server_id = e.server_id ORDER BY e.server_id",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(server, at, name)| Ok((ServerId::from_sql(server)?, at, name)))
        .collect()
}

/// Fails the queued and running server-wide exports of servers `user` has sessions in, as
/// withdrawn: they would hold rows of someone being erased. Returns how many.
pub async fn withdraw_server_exports_in_progress(
    conn: &mut SqliteConnection,
    user: UserId,
    now: Timestamp,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "UPDATE export_jobs SET state = 'failed', finished_at = ?2, failure_kind = 'withdrawn',
             failure_detail = 'a member of the server was erased before the export finished'
         WHERE state IN ('queued', 'running') AND server_id IN
             (SELECT DISTINCT server_id FROM sessions WHERE user_id = ?1)",
    )
    .bind(user.sql())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The ready server-wide exports of servers `user` has sessions in: the files that hold some
/// of their rows, which their erasure must withdraw too.
pub async fn ready_server_exports_holding(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Vec<JobRow>, DbError> {
    let raws: Vec<RawJob> = sqlx::query_as(select_jobs!(
        "WHERE state = 'ready' AND server_id IN
             (SELECT DISTINCT server_id FROM sessions WHERE user_id = ?1)"
    ))
    .bind(user.sql())
    .fetch_all(conn)
    .await?;
    raws.into_iter().map(JobRow::try_from).collect()
}

/// The name Clocky last saw for `server`, if any.
pub async fn server_name(
    conn: &mut SqliteConnection,
    server: ServerId,
) -> Result<Option<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT name FROM servers WHERE server_id = ?1")
            .bind(server.sql())
            .fetch_optional(conn)
            .await?,
    )
}
