//! Sends finished exports to their users by direct message, and tells them when an export
//! failed.
//!
//! Every request made on Discord has a delivery row (see `db::deliveries`). This worker takes
//! the rows whose job has finished, one at a time, and sends:
//!
//! - for a ready export, a direct message with the guide's embed and a fresh download link,
//!   then an edit of the private reply saying the DM was sent (or how to allow DMs);
//! - for a failed export, the plain failure notice, in the private reply while Discord still
//!   accepts edits of it, otherwise by direct message.
//!
//! **Nobody gets the same export twice.** A row is marked `sending` before Discord is called,
//! and every message carries a nonce with `enforce_nonce`, so that when an attempt is repeated
//! (a timeout after Discord had in fact accepted the message, or a process that stopped
//! mid-send) Discord returns the first message instead of creating another. Discord only
//! remembers nonces for a few minutes, so a send that stalled longer than
//! [`NONCE_WINDOW_SECONDS`] is not repeated at all: it ends `unknown`, and the user can run
//! `/data-export` again to have the same export re-delivered.
//!
//! The same holds for retries within one process. An attempt that ends without an answer (a
//! timeout, a broken connection) may have created the message; its time is kept in the row
//! (`ambiguous_at`), and once the next attempt would fall outside the nonce window the delivery
//! ends `unknown` instead of risking a second DM.
//!
//! Temporary errors (rate limits, Discord's 5xx answers, network failures) are retried with
//! exponential backoff from the `backon` crate, the wait stored in the row so it survives a
//! restart; permanent ones (DMs closed, unknown user) end the delivery at once. Every call to
//! Discord is bounded by [`ATTEMPT_TIMEOUT`], so one connection that never answers cannot stall
//! the worker.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use poise::serenity_prelude as serenity;
use serenity::builder::Builder as _;
use serenity::{
    CreateActionRow, CreateButton, CreateEmbed, CreateMessage, EditInteractionResponse, Http,
    HttpError, Nonce,
};

use super::messages;
use crate::app::App;
use crate::db::deliveries::{self as dq, DeliveryRow, DeliveryState};
use crate::db::exports::{JobRow, JobState};
use crate::export::{DeliveryMessage, ExportError};

/// Attempts per delivery before giving up: with the backoff below, about half an hour.
pub const MAX_ATTEMPTS: i64 = 10;

/// Discord's JSON error code for "Cannot send messages to this user": DMs closed, the bot
/// blocked, or no server in common.
pub const CANNOT_MESSAGE_USER: isize = 50007;

/// How long Discord is trusted to remember a message nonce. It documents "the past few
/// minutes"; two is on the safe side.
pub const NONCE_WINDOW_SECONDS: i64 = 120;

/// The longest one call to Discord may take before it is abandoned as ambiguous.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// A `sending` row older than this belongs to a process that stopped: an attempt that was
/// still alive would have timed out by now.
const STALLED_SECONDS: i64 = 30;

/// How long an idle worker waits before looking for due deliveries again.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Discord accepted the message.
    Sent,
    /// The user does not accept direct messages from the bot.
    Closed(String),
    /// An error that will not go away by waiting.
    Permanent(String),
    /// An error worth another attempt after a wait; Discord answered, so no message was made.
    Temporary(String),
    /// No answer came (a timeout, a broken connection): Discord may or may not have created
    /// the message. Retried only while its nonce still protects against a duplicate.
    Ambiguous(String),
}

/// Sorts a failed Discord call into the attempt outcomes above.
pub fn classify(error: &serenity::Error) -> Attempt {
    let detail = error.to_string();
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            let status = response.status_code.as_u16();
            if response.error.code == CANNOT_MESSAGE_USER {
                Attempt::Closed(detail)
            } else if status == 408 || status == 429 || status >= 500 {
                // Timeouts, rate limits and Discord's own failures pass with time.
                Attempt::Temporary(detail)
            } else {
                Attempt::Permanent(detail)
            }
        }
        // Network failures, and answers that could not be read: Discord may or may not have
        // created the message, which the nonce makes safe to find out by trying again soon.
        _ => Attempt::Ambiguous(detail),
    }
}

/// The wait before attempt `attempts + 1`, or None when the attempts are used up.
pub fn backoff(attempts: i64) -> Option<Duration> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(5))
        .with_max_delay(Duration::from_secs(600))
        .with_factor(2.0)
        .with_max_times(usize::try_from(MAX_ATTEMPTS - 1).unwrap_or(0))
        .with_jitter()
        .build()
        .nth(index)
}

/// Delivers, forever. Waits for the gateway's READY first: editing interaction replies needs
/// the application id it carries.
pub async fn run(app: App, http: Arc<Http>) {
    while http.application_id().is_none() {
        tokio::time::sleep(IDLE_POLL).await;
    }
    loop {
        if let Err(error) = recover(&app).await {
            tracing::error!(%error, "could not recover stalled deliveries");
        }
        match deliver_next(&app, &http).await {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(IDLE_POLL).await,
            Err(error) => {
                tracing::error!(%error, "delivery failed");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
}

/// Settles deliveries a stopped process left `sending`; see the module documentation.
pub async fn recover(app: &App) -> Result<(), ExportError> {
    let now = app.clock.now();
    let mut tx = app.db.write().await?;
    let (retried, unknown) = dq::recover_stalled(
        &mut tx,
        now - STALLED_SECONDS,
        now - NONCE_WINDOW_SECONDS,
        now,
    )
    .await?;
    tx.commit().await?;
    if retried > 0 || unknown > 0 {
        tracing::warn!(retried, unknown, "deliveries left mid-send were settled");
    }
    Ok(())
}

/// Makes one due delivery. False when none was due.
#[tracing::instrument(name = "discord.deliver", skip_all)]
pub async fn deliver_next(app: &App, http: &Http) -> Result<bool, ExportError> {
    let claimed = {
        let mut tx = app.db.write().await?;
        let claimed = dq::claim_due(&mut tx, app.clock.now()).await?;
        tx.commit().await?;
        claimed
    };
    let Some(delivery) = claimed else {
        return Ok(false);
    };
    let job = app.exporter.job(delivery.job_id).await?;
    tracing::debug!(job_id = %job.job_id, attempt = delivery.attempts, "delivering");

    let attempt = match job.state {
        JobState::Ready => send_export(app, http, &job, &delivery).await,
        JobState::Failed => send_failure(app, http, &job, &delivery).await,
        JobState::Expired => Attempt::Permanent("the export expired before delivery".into()),
        // Not claimable (see `claim_due`); were it to happen, waiting is the safe answer.
        JobState::Queued | JobState::Running => {
            Attempt::Temporary("the job has not finished".into())
        }
    };
    record(app, http, &job, &delivery, attempt).await?;
    Ok(true)
}

/// Issues a link and sends the ready message.
async fn send_export(app: &App, http: &Http, job: &JobRow, delivery: &DeliveryRow) -> Attempt {
    let message = match app.exporter.issue_link(job.job_id).await {
        Ok(message) => message,
        Err(ExportError::Expired(_)) => {
            return Attempt::Permanent("the export expired before delivery".into());
        }
        Err(error) => return Attempt::Temporary(format!("could not issue a link: {error}")),
    };
    let dm = CreateMessage::new()
        .embed(ready_embed(&message))
        .components(vec![CreateActionRow::Buttons(vec![
            CreateButton::new_link(message.url.as_str()).label(messages::DOWNLOAD_LABEL),
        ])]);
    send_dm(http, job, delivery, dm).await
}

/// Tells the user their export failed: in the private reply while it can be edited, else by
/// direct message.
async fn send_failure(app: &App, http: &Http, job: &JobRow, delivery: &DeliveryRow) -> Attempt {
    if let Some(reply) = &delivery.reply
        && reply.expires_at > app.clock.now()
    {
        match edit_reply(http, &reply.token, failed_text(job)).await {
            Ok(()) => return Attempt::Sent,
            Err(error) => {
                tracing::warn!(job_id = %job.job_id, %error, "could not edit the reply; sending a DM");
            }
        }
    }
    send_dm(
        http,
        job,
        delivery,
        CreateMessage::new().content(failed_text(job)),
    )
    .await
}

/// What the user is told when their export failed.
fn failed_text(job: &JobRow) -> &'static str {
    match job.server_id {
        Some(_) => messages::SERVER_EXPORT_FAILED,
        None => messages::EXPORT_FAILED,
    }
}

/// The guide's direct message as an embed.
pub fn ready_embed(message: &DeliveryMessage) -> CreateEmbed {
    let title = match message.server_name {
        Some(_) => messages::SERVER_READY_TITLE,
        None => messages::READY_TITLE,
    };
    let mut embed = CreateEmbed::new().title(title).colour(0x0058_65F2);
    for (name, value) in messages::ready_fields(message) {
        embed = embed.field(name, value, true);
    }
    embed.field("\u{200b}", messages::expiry_warning(message), false)
}

async fn send_dm(http: &Http, job: &JobRow, delivery: &DeliveryRow, dm: CreateMessage) -> Attempt {
    // Discord allows nonces of 25 characters; a job id and a round fit comfortably.
    let nonce = format!("e{}r{}", job.job_id, delivery.round);
    let dm = dm.nonce(Nonce::String(nonce)).enforce_nonce(true);
    let user = serenity::UserId::new(job.user_id.get());
    let sent = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
        let channel = user.create_dm_channel(http).await?;
        channel.id.send_message(http, dm).await
    })
    .await;
    match sent {
        Ok(Ok(_)) => Attempt::Sent,
        Ok(Err(error)) => classify(&error),
        Err(_) => Attempt::Ambiguous(format!(
            "Discord did not answer within {} seconds",
            ATTEMPT_TIMEOUT.as_secs()
        )),
    }
}

/// Edits the private reply, within [`ATTEMPT_TIMEOUT`].
async fn edit_reply(http: &Http, token: &str, text: &str) -> Result<(), String> {
    let edit = EditInteractionResponse::new()
        .content(messages::fit(text))
        .components(Vec::new())
        .execute(http, token);
    match tokio::time::timeout(ATTEMPT_TIMEOUT, edit).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!(
            "Discord did not answer within {} seconds",
            ATTEMPT_TIMEOUT.as_secs()
        )),
    }
}

/// Stores how the attempt ended and, when the delivery is over, updates the private reply.
async fn record(
    app: &App,
    http: &Http,
    job: &JobRow,
    delivery: &DeliveryRow,
    attempt: Attempt,
) -> Result<(), ExportError> {
    let now = app.clock.now();
    let expires_at = job.expires_at.unwrap_or(now);
    let ambiguous = matches!(attempt, Attempt::Ambiguous(_));
    // A server-wide export is not delivered again on a new request (a new request makes a new
    // export), so its replies say so instead of the personal export's instructions.
    let server = job.server_id.is_some();
    let undelivered = |expires_at| match server {
        true => messages::server_undelivered(expires_at),
        false => messages::delivery_failed(expires_at),
    };
    let (state, detail, reply_text) = match attempt {
        Attempt::Sent => {
            tracing::info!(job_id = %job.job_id, "export delivered");
            crate::signals::delivery("sent");
            let sent = if server {
                messages::SERVER_SENT
            } else {
                messages::SENT
            };
            let text = (job.state == JobState::Ready).then_some(sent.to_owned());
            (DeliveryState::Sent, None, text)
        }
        Attempt::Closed(detail) => {
            tracing::info!(job_id = %job.job_id, "the user does not accept DMs; export kept");
            crate::signals::delivery("closed");
            // A failed export's notice could not be shown either; its reply already said so
            // or has expired, and "your export is ready" would be untrue.
            let text = (job.state == JobState::Ready).then(|| match server {
                true => messages::server_undelivered(expires_at),
                false => messages::dms_closed(expires_at),
            });
            (DeliveryState::Closed, Some(detail), text)
        }
        Attempt::Permanent(detail) => {
            tracing::warn!(job_id = %job.job_id, %detail, "delivery failed");
            crate::signals::delivery("failed");
            let text = (job.state == JobState::Ready).then(|| undelivered(expires_at));
            (DeliveryState::Failed, Some(detail), text)
        }
        Attempt::Temporary(detail) | Attempt::Ambiguous(detail) => {
            match retry(ambiguous, delivery, now) {
                Retry::After(wait, ambiguous_at) => {
                    let due_at = now + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX).max(1);
                    tracing::warn!(job_id = %job.job_id, %detail, attempt = delivery.attempts, ?wait, "delivery will be retried");
                    crate::signals::delivery("retried");
                    let mut tx = app.db.write().await?;
                    dq::retry_at(&mut tx, job.job_id, due_at, &detail, ambiguous_at, now).await?;
                    tx.commit().await?;
                    return Ok(());
                }
                // An earlier attempt may have arrived and Discord no longer recognises its nonce.
                Retry::Lapsed => {
                    let detail = format!(
                        "not retried: an earlier attempt may have arrived, and Discord's duplicate \
                     check has lapsed: {detail}"
                    );
                    tracing::warn!(job_id = %job.job_id, %detail, "delivery ends unknown");
                    crate::signals::delivery("unknown");
                    let text = (job.state == JobState::Ready).then(|| undelivered(expires_at));
                    (DeliveryState::Unknown, Some(detail), text)
                }
                Retry::UsedUp => {
                    let detail = format!("gave up after {} attempts: {detail}", delivery.attempts);
                    tracing::error!(job_id = %job.job_id, %detail, "delivery failed");
                    crate::signals::delivery("failed");
                    let text = (job.state == JobState::Ready).then(|| undelivered(expires_at));
                    (DeliveryState::Failed, Some(detail), text)
                }
            }
        }
    };

    let mut tx = app.db.write().await?;
    dq::finish(&mut tx, job.job_id, state, detail.as_deref(), now).await?;
    tx.commit().await?;

    if let Some(reply) = &delivery.reply {
        if let Some(text) = reply_text
            && reply.expires_at > now
            && let Err(error) = edit_reply(http, &reply.token, &text).await
        {
            tracing::warn!(job_id = %job.job_id, %error, "could not update the private reply");
        }
        let mut tx = app.db.write().await?;
        dq::clear_reply(&mut tx, job.job_id).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Another attempt after the wait, with the round's `ambiguous_at`.
    After(Duration, Option<i64>),
    /// No more attempts: one of this round may have arrived, and by the next attempt it
    /// would be older than [`NONCE_WINDOW_SECONDS`].
    Lapsed,
    /// No more attempts: [`MAX_ATTEMPTS`] were made.
    UsedUp,
}

fn retry(ambiguous: bool, delivery: &DeliveryRow, now: i64) -> Retry {
    let Some(wait) = backoff(delivery.attempts) else {
        return Retry::UsedUp;
    };
    let attempted_at = delivery.claimed_at.unwrap_or(now);
    let ambiguous_at = delivery.ambiguous_at.or(ambiguous.then_some(attempted_at));
    let next = now.saturating_add(i64::try_from(wait.as_secs()).unwrap_or(i64::MAX));
    match ambiguous_at {
        Some(since) if next.saturating_sub(since) > NONCE_WINDOW_SECONDS => Retry::Lapsed,
        _ => Retry::After(wait, ambiguous_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attempts: i64, claimed_at: i64, ambiguous_at: Option<i64>) -> DeliveryRow {
        DeliveryRow {
            job_id: crate::ids::JobId(1),
            state: DeliveryState::Sending,
            round: 1,
            attempts,
            due_at: claimed_at,
            claimed_at: Some(claimed_at),
            delivered_at: None,
            detail: None,
            ambiguous_at,
            reply: None,
        }
    }

    #[test]
    fn an_ambiguous_attempt_is_retried_only_while_its_nonce_protects() {
        // The first attempt timed out at t = 1000: the next one comes 5 to 10 s later, well
        // inside the 120 s window, and the round remembers when the doubt began.
        match retry(true, &row(1, 1000, None), 1020) {
            Retry::After(_, Some(1000)) => {}
            other => panic!("{other:?}"),
        }
        // The fifth attempt, 150 s after the doubtful one: the next would be outside it.
        assert_eq!(retry(false, &row(5, 1150, Some(1000)), 1150), Retry::Lapsed);
        // Without any doubtful attempt, 5xx answers are retried for the whole schedule.
        assert!(matches!(
            retry(false, &row(5, 1150, None), 1150),
            Retry::After(_, None)
        ));
        assert_eq!(
            retry(false, &row(MAX_ATTEMPTS, 5000, None), 5000),
            Retry::UsedUp
        );
    }

    #[test]
    fn backoff_grows_and_stops_after_the_last_attempt() {
        // Jitter adds up to one more delay, so each wait lies in [d, 2d) for d = 5 s doubling
        // to the 600 s cap: 5, 10, 20, 40, 80, 160, 320, 600, 600.
        let expected = [5, 10, 20, 40, 80, 160, 320, 600, 600];
        for (attempts, base) in (1..).zip(expected) {
            let wait = backoff(attempts).unwrap().as_secs();
            assert!(
                wait >= base && wait < 2 * base,
                "attempt {attempts}: {wait}s"
            );
        }
        assert_eq!(backoff(MAX_ATTEMPTS), None);
        assert_eq!(backoff(0), None);
    }
}
