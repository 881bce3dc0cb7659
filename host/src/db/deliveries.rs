//! Queries behind delivering exports on Discord: one row per job requested there.
//!
//! The states and why they exist are described in the migration that creates the table. This
//! module only moves rows between them; what counts as a temporary error, and how long to wait
//! before the next attempt, is decided by the caller.

use clocky_rules::Timestamp;
use sqlx::{FromRow, SqliteConnection};

use super::DbError;
use crate::ids::JobId;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for the job to finish, or for the next attempt.
    Pending,
    /// A process is sending it now.
    Sending,
    /// Discord accepted the message.
    Sent,
    /// The user does not accept direct messages from the bot. The export is kept.
    Closed,
    /// A permanent error, or every attempt used up.
    Failed,
    /// A process stopped while sending and it cannot be known whether the message arrived. It
    /// is not sent again, so that nobody gets the same export twice.
    Unknown,
}

impl DeliveryState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Closed => "closed",
            DeliveryState::Failed => "failed",
            DeliveryState::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Result<DeliveryState, DbError> {
        Ok(match text {
            "pending" => DeliveryState::Pending,
            "sending" => DeliveryState::Sending,
            "sent" => DeliveryState::Sent,
            "closed" => DeliveryState::Closed,
            "failed" => DeliveryState::Failed,
            "unknown" => DeliveryState::Unknown,
            other => return Err(DbError::Corrupt(format!("delivery state {other:?}"))),
        })
    }
}

/// The private reply a delivery updates when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The interaction's token. A credential for editing that reply: never logged.
    pub token: String,
    /// When Discord stops accepting edits with it.
    pub expires_at: Timestamp,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// The job delivered.
    pub job_id: JobId,
    /// Where it stands.
    pub state: DeliveryState,
    /// Which request for this export it serves: 1 for the first, one more for each re-delivery.
    pub round: i64,
    /// Attempts made in this round.
    pub attempts: i64,
    /// When the next attempt may start.
    pub due_at: Timestamp,
    /// When the current or last attempt started.
    pub claimed_at: Option<Timestamp>,
    /// When Discord accepted the message.
    pub delivered_at: Option<Timestamp>,
    /// Why the last attempt did not deliver, for the operator.
    pub detail: Option<String>,
    /// When an attempt of this round first ended without knowing whether Discord created the
    /// message.
    pub ambiguous_at: Option<Timestamp>,
    /// The reply to update, while Discord still accepts edits.
    pub reply: Option<Reply>,
}

#[derive(FromRow)]
struct RawDelivery {
    job_id: i64,
    state: String,
    round: i64,
    attempts: i64,
    due_at: i64,
    claimed_at: Option<i64>,
    delivered_at: Option<i64>,
    detail: Option<String>,
    ambiguous_at: Option<i64>,
    reply_token: Option<String>,
    reply_expires_at: Option<i64>,
}

impl TryFrom<RawDelivery> for DeliveryRow {
    type Error = DbError;

    fn try_from(raw: RawDelivery) -> Result<Self, DbError> {
        Ok(DeliveryRow {
            job_id: JobId(raw.job_id),
            state: DeliveryState::parse(&raw.state)?,
            round: raw.round,
            attempts: raw.attempts,
            due_at: raw.due_at,
            claimed_at: raw.claimed_at,
            delivered_at: raw.delivered_at,
            detail: raw.detail,
            ambiguous_at: raw.ambiguous_at,
            reply: match (raw.reply_token, raw.reply_expires_at) {
                (Some(token), Some(expires_at)) => Some(Reply { token, expires_at }),
                _ => None,
            },
        })
    }
}

macro_rules! delivery_columns {
    () => {
        "job_id, state, round, attempts, due_at, claimed_at, delivered_at, detail, ambiguous_at, \
         reply_token, reply_expires_at"
    };
}

/// Schedules a delivery of `job` now: a new row, or a new round of an existing one (a
/// re-delivery asked for by the user), with its attempts counted afresh.
pub async fn schedule(
    conn: &mut SqliteConnection,
    job: JobId,
    reply: Option<&Reply>,
    now: Timestamp,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO export_deliveries (job_id, state, due_at, reply_token, reply_expires_at,
                                        updated_at)
         VALUES (?1, 'pending', ?2, ?3, ?4, ?2)
         ON CONFLICT (job_id) DO UPDATE SET
             state = 'pending', round = round + 1, attempts = 0, due_at = ?2, claimed_at = NULL,
             delivered_at = NULL, detail = NULL, ambiguous_at = NULL, reply_token = ?3,
             reply_expires_at = ?4,
             updated_at = ?2",
    )
    .bind(job.0)
    .bind(now)
    .bind(reply.map(|reply| reply.token.as_str()))
    .bind(reply.map(|reply| reply.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads a job's delivery.
pub async fn delivery(
    conn: &mut SqliteConnection,
    job: JobId,
) -> Result<Option<DeliveryRow>, DbError> {
    let raw: Option<RawDelivery> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM export_deliveries WHERE job_id = ?1"
    ))
    .bind(job.0)
    .fetch_optional(conn)
    .await?;
    raw.map(DeliveryRow::try_from).transpose()
}

/// Takes the delivery that has waited longest among those due by `now` whose job has finished
/// (ready, failed or expired), marks it `sending` and counts the attempt.
pub async fn claim_due(
    conn: &mut SqliteConnection,
    now: Timestamp,
) -> Result<Option<DeliveryRow>, DbError> {
    let raw: Option<RawDelivery> = sqlx::query_as(concat!(
        "UPDATE export_deliveries
         SET state = 'sending', claimed_at = ?1, attempts = attempts + 1, updated_at = ?1
         WHERE job_id = (
             SELECT d.job_id FROM export_deliveries d JOIN export_jobs j ON j.job_id = d.job_id
             WHERE d.state = 'pending' AND d.due_at <= ?1
               AND j.state IN ('ready', 'failed', 'expired')
             ORDER BY d.due_at, d.job_id LIMIT 1)
         RETURNING ",
        delivery_columns!()
    ))
    .bind(now)
    .fetch_optional(conn)
    .await?;
    raw.map(DeliveryRow::try_from).transpose()
}

/// Ends a delivery that is `sending` in `state` (sent, closed, failed). False if the row was
/// not `sending` (another process recovered it in the meantime).
pub async fn finish(
    conn: &mut SqliteConnection,
    job: JobId,
    state: DeliveryState,
    detail: Option<&str>,
    now: Timestamp,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE export_deliveries
         SET state = ?2, detail = ?3, updated_at = ?4,
             delivered_at = CASE WHEN ?2 = 'sent' THEN ?4 ELSE delivered_at END
         WHERE job_id = ?1 AND state = 'sending'",
    )
    .bind(job.0)
    .bind(state.as_str())
    .bind(detail)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a `sending` delivery back to wait until `due_at` after a temporary error, keeping
/// `ambiguous_at` (when an attempt first may or may not have arrived).
pub async fn retry_at(
    conn: &mut SqliteConnection,
    job: JobId,
    due_at: Timestamp,
    detail: &str,
    ambiguous_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE export_deliveries
         SET state = 'pending', due_at = ?2, detail = ?3, updated_at = ?4, ambiguous_at = ?5
         WHERE job_id = ?1 AND state = 'sending'",
    )
    .bind(job.0)
    .bind(due_at)
    .bind(detail)
    .bind(now)
    .bind(ambiguous_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets the reply token of a delivery once it has been used or has expired.
pub async fn clear_reply(conn: &mut SqliteConnection, job: JobId) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE export_deliveries SET reply_token = NULL, reply_expires_at = NULL
         WHERE job_id = ?1",
    )
    .bind(job.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Settles deliveries left `sending` by a process that stopped: those claimed at
/// `stalled_before` or earlier. Those claimed after `lapsed_before` go back to `pending` and are
/// sent again with the same nonce, which Discord uses to drop a repeat; older ones become
/// `unknown`, because a repeat could no longer be recognised. Returns (retried, unknown).
pub async fn recover_stalled(
    conn: &mut SqliteConnection,
    stalled_before: Timestamp,
    lapsed_before: Timestamp,
    now: Timestamp,
) -> Result<(u64, u64), DbError> {
    let unknown = sqlx::query(
        "UPDATE export_deliveries
         SET state = 'unknown', updated_at = ?2, reply_token = NULL, reply_expires_at = NULL,
             detail = 'the process sending it stopped; it may or may not have arrived'
         WHERE state = 'sending' AND claimed_at <= ?1",
    )
    .bind(lapsed_before)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let retried = sqlx::query(
        "UPDATE export_deliveries SET state = 'pending', due_at = ?2, updated_at = ?2
         WHERE state = 'sending' AND claimed_at <= ?1",
    )
    .bind(stalled_before)
    .bind(now)
    .execute(conn)
    .await?;
    Ok((retried.rows_affected(), unknown.rows_affected()))
}
