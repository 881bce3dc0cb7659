//! Everything Clocky says on Discord, in one place so the wording stays consistent and can be
//! checked against the product guide.
//!
//! Times are written as Discord timestamps (`<t:UNIX:f>`), which each reader's app shows in
//! their own time zone and language.

use clocky_rules::Timestamp;

use clocky_rules::tracking::TrackingError;

use crate::export::{DeliveryMessage, FreeAllowance, human_size};
use crate::tracking::{CheckedOut, LeaderboardRow, StatusReport, TrackError};

/// The guide's acknowledgement of `/data-export`.
pub const GENERATING: &str = "🔄 Generating your data export...\n\
    This may take a few minutes depending on how much data you have.\n\
    You'll receive a DM when it's ready.";

/// The private reply once the direct message has been accepted by Discord.
pub const SENT: &str = "✅ Your data export is ready. I've sent you a DM with the download link.";

/// A failure of Clocky's own, with no detail.
pub const SOMETHING_WENT_WRONG: &str = "⚠️ Something went wrong on Clocky's side and nothing \
    was changed. Please try again in a minute.";

/// The export failed. Failed exports do not count against the free allowance.
pub const EXPORT_FAILED: &str = "❌ Your data export failed. Nothing was lost, and a failed \
    export does not count as your free one.\nPlease run `/data-export` again in a few minutes.";

/// The user pressed Cancel on the fee notice.
pub const CANCELLED: &str = "Cancelled: no export was requested.";

/// The user did not answer the fee notice in time.
pub const NO_ANSWER: &str = "No answer, so no export was requested. Run `/data-export` again \
    whenever you like.";

/// Label of the button that confirms a further export.
pub const CONFIRM_LABEL: &str = "Request export";

/// Label of the button that declines it.
pub const CANCEL_LABEL: &str = "Cancel";

/// Label of the link button in the direct message, as in the guide.
pub const DOWNLOAD_LABEL: &str = "Download Export";

/// Title of the direct message, as in the guide.
pub const READY_TITLE: &str = "📥 Your Data Export is Ready";

/// Title of the direct message carrying a server-wide export.
pub const SERVER_READY_TITLE: &str = "📥 Your Server Export is Ready";

/// The private reply to `/server-export` once the request is queued.
pub const SERVER_GENERATING: &str = "🔄 Generating the server export...\n\
    It holds every session recorded in this server. You'll receive a DM when it's ready.";

/// The private reply once a server-wide export's direct message has been accepted by Discord.
pub const SERVER_SENT: &str =
    "✅ The server export is ready. I've sent you a DM with the download link.";

/// A server-wide export failed.
pub const SERVER_EXPORT_FAILED: &str = "❌ The server export failed. Nothing was lost.\n\
    Please run `/server-export` again in a few minutes.";

/// `/server-export` outside a server.
pub const SERVER_ONLY: &str =
    "⚠️ `/server-export` exports the server it is run in: run it in that server.";

/// `/server-export` by someone without Manage Server. Personal exports stay private: nobody
/// gets another person's `/data-export`.
pub const SERVER_NOT_ALLOWED: &str = "⚠️ Only members with the **Manage Server** permission can \
    export this server's sessions.\nYour own data is always yours: run `/data-export` for it.";

/// `/server-export` where the operator has not enabled it.
pub const SERVER_NOT_ENABLED: &str = "⚠️ Server-wide exports are not enabled for this server. \
    They are a premium feature that the bot's operator turns on per server; ask them to enable \
    it.\nYour own data is always available with `/data-export`.";

/// The private reply when a server-wide export's direct message could not be delivered. A new
/// request makes a new export, so that is what the reader is told to do.
pub fn server_undelivered(expires_at: Timestamp) -> String {
    format!(
        "⚠️ The server export is ready, but I couldn't send you a DM: your direct messages may \
         be closed to me. It is kept until {}.\n\
         Turn on **Allow direct messages from server members** for this server, then run \
         `/server-export` again for a new export.",
        when(expires_at)
    )
}

/// `/server-export` while the same person's export of the server is still being made.
pub fn server_in_progress(requested_at: Timestamp) -> String {
    format!(
        "⏳ Your export of this server, requested {}, is still being generated. You'll receive \
         a DM when it's ready.",
        relative(requested_at)
    )
}

/// Discord's limit on a message's text, in characters.
pub const MAX_CONTENT: usize = 2000;

/// `text` cut to fit one Discord message, ending in an ellipsis when cut. Discord refuses a
/// longer message outright, and a refused reply would leave the user with no answer at all.
pub fn fit(text: &str) -> String {
    if text.chars().count() <= MAX_CONTENT {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_CONTENT - 1).collect();
    cut.push('…');
    cut
}

/// `<t:…:f>`: date and time, in the reader's zone.
pub fn when(at: Timestamp) -> String {
    format!("<t:{at}:f>")
}

/// `<t:…:R>`: "3 minutes ago", in the reader's language.
pub fn relative(at: Timestamp) -> String {
    format!("<t:{at}:R>")
}

/// A request while the user's export is queued or running.
pub fn in_progress(requested_at: Timestamp, running: bool) -> String {
    let stage = if running {
        "being generated"
    } else {
        "waiting for its turn"
    };
    format!(
        "⏳ You already have a data export {stage} (requested {}). \
         You'll receive a DM when it's ready; there is no need to ask again.",
        relative(requested_at)
    )
}

/// A request while a ready export's direct message is still on its way.
pub fn delivering(generated_at: Timestamp) -> String {
    format!(
        "📬 Your data export from {} is ready and on its way to your DMs.",
        when(generated_at)
    )
}

/// A request that re-delivers a ready export which had not reached the user.
pub fn redelivering(generated_at: Timestamp, expires_at: Timestamp) -> String {
    format!(
        "📬 Your data export from {} is still ready (until {}). I'm sending it to your DMs \
         again; no new export is needed.",
        when(generated_at),
        when(expires_at)
    )
}

/// The notice shown before a further export, with the question the buttons answer.
pub fn fee_notice(allowance: FreeAllowance, ready_until: Option<Timestamp>) -> String {
    let free = match allowance.exports {
        1 => "Your free data export".to_owned(),
        n => format!("Your {n} free data exports"),
    };
    let mut text = format!(
        "{free} for this period (the last {} days) has already been used. \
         Additional exports may incur a reasonable administrative fee.",
        allowance.period_days
    );
    if let Some(until) = ready_until {
        text.push_str(&format!(
            "\nYour last export can still be downloaded from your DMs until {}.",
            when(until)
        ));
    }
    text.push_str("\nDo you want to request another export?");
    text
}

/// The private reply when the user does not accept direct messages from the bot.
pub fn dms_closed(expires_at: Timestamp) -> String {
    format!(
        "⚠️ Your data export is ready, but I couldn't send you a DM: your direct messages are \
         closed to me, or I'm blocked.\n\
         Your export is kept until {}. To get it:\n\
         1. Open **User Settings → Privacy & Safety** (or this server's **Privacy Settings**) and \
         turn on **Allow direct messages from server members**; unblock Clocky if you blocked it.\n\
         2. Run `/data-export` again: I'll send the same export, no new request needed.\n\
         You can turn DMs off again after downloading.",
        when(expires_at)
    )
}

/// The private reply when Discord kept refusing the direct message for another reason.
pub fn delivery_failed(expires_at: Timestamp) -> String {
    format!(
        "⚠️ Your data export is ready, but Discord did not deliver my DM. Your export is kept \
         until {}; run `/data-export` again to have it sent.",
        when(expires_at)
    )
}

/// The direct message's figures, laid out as in the guide: (name, value) pairs in order.
pub fn ready_fields(message: &DeliveryMessage) -> Vec<(String, String)> {
    let last = match &message.server_name {
        // Discord refuses an embed field with no text.
        Some(name) if name.trim().is_empty() => ("Server".to_owned(), "(no name)".to_owned()),
        Some(name) => ("Server".to_owned(), safe(name)),
        None => ("Servers".to_owned(), message.servers_included.to_string()),
    };
    vec![
        ("Export generated".to_owned(), when(message.generated_at)),
        ("File size".to_owned(), human_size(message.file_size)),
        (
            "Sessions included".to_owned(),
            message.sessions_included.to_string(),
        ),
        last,
    ]
}

/// The warning under the figures.
pub fn expiry_warning(message: &DeliveryMessage) -> String {
    let hours = (message.expires_at - message.generated_at).max(0) / 3600;
    format!(
        "⚠️ This link expires in {hours} hours for security ({}).\nDownload your data now.",
        when(message.expires_at)
    )
}

/// Minutes as "2 h 05 min" or "45 min".
pub fn duration(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

/// After `/checkin`.
pub fn checked_in(at: Timestamp) -> String {
    format!(
        "✅ Checked in at {}. Use `/break start` for a break and `/checkout` when you're done.",
        clock_time(at)
    )
}

/// After `/checkout`.
pub fn checked_out(done: &CheckedOut) -> String {
    let figures = &done.figures;
    let ended = if done.ended_break {
        " Your running break ended with it."
    } else {
        ""
    };
    format!(
        "👋 Checked out. You worked {} in this session, with {} of breaks.{ended}",
        duration(figures.net_worked_minutes.unwrap_or(0)),
        duration(figures.break_duration_minutes),
    )
}

/// After `/break start`.
pub fn break_started(at: Timestamp) -> String {
    format!(
        "☕ Break started at {}. Use `/break end` when you're back.",
        clock_time(at)
    )
}

/// After `/break end`.
pub fn break_ended(minutes: u64) -> String {
    format!("💪 Welcome back! Your break lasted {}.", duration(minutes))
}

/// After `/timezone`.
pub fn timezone_set(zone: &str) -> String {
    format!("🌍 Your time zone is now **{zone}**; `/status` counts your days in it.")
}

/// After `/privacy leaderboard`.
pub fn leaderboard_visibility(public: bool) -> &'static str {
    if public {
        "👀 You now appear on `/leaderboard` in the servers where you track time."
    } else {
        "🙈 You no longer appear on `/leaderboard`."
    }
}

/// The answer to `/status`.
pub fn status(report: &StatusReport) -> String {
    let mut text = String::new();
    if report.running.is_empty() {
        text.push_str("⚪ You're not checked in anywhere right now.\n");
    }
    for running in &report.running {
        text.push_str(&format!(
            "🟢 Checked in at **{}** since {} ({}), {} worked so far.\n",
            safe(&running.server_name),
            clock_time(running.checked_in_at),
            relative(running.checked_in_at),
            duration(running.worked_minutes)
        ));
        if let Some(since) = running.break_started_at {
            text.push_str(&format!("☕ On a break since {}.\n", clock_time(since)));
        }
    }
    let sessions = match report.today_sessions {
        1 => "1 session".to_owned(),
        n => format!("{n} sessions"),
    };
    text.push_str(&format!(
        "📅 Today ({}): **{}** worked, {} of breaks, {sessions}.",
        report.zone.name(),
        duration(report.today_worked_minutes),
        duration(report.today_break_minutes),
    ));
    text
}

/// The answer to `/leaderboard`, for the channel. Names are escaped so that nobody's name can
/// format the message or mention anyone.
pub fn leaderboard(rows: &[LeaderboardRow], period: &str) -> String {
    if rows.is_empty() {
        return format!(
            "🏆 Nobody is on this server's leaderboard for {period} yet. \
             People appear here once they finish a session and turn on \
             `/privacy leaderboard on`."
        );
    }
    let mut text = format!("🏆 **Leaderboard**, {period}\n");
    for (place, row) in (1..).zip(rows) {
        text.push_str(&format!(
            "{place}. {}: {}\n",
            safe(&row.username),
            duration(row.worked_minutes)
        ));
    }
    text.push_str("Only people who turned on `/privacy leaderboard` are listed.");
    text
}

/// A name as plain text: no formatting, no mentions.
fn safe(name: &str) -> String {
    poise::serenity_prelude::MessageBuilder::new()
        .push_safe(name)
        .build()
}

/// Why a tracking action did not happen, in the words of the slash commands.
pub fn refused(refusal: &TrackError) -> String {
    let text = match refusal {
        TrackError::Refused(TrackingError::NotCheckedIn) => {
            "You're not checked in here. Use `/checkin` first.".to_owned()
        }
        TrackError::Refused(TrackingError::AlreadyCheckedIn { since }) => format!(
            "You're already checked in here since {}. Use `/checkout` first.",
            clock_time(*since)
        ),
        TrackError::Refused(TrackingError::AlreadyOnBreak { since }) => format!(
            "You're already on a break since {}. Use `/break end` first.",
            clock_time(*since)
        ),
        TrackError::Refused(TrackingError::NotOnBreak) => {
            "You're not on a break. Use `/break start` to take one.".to_owned()
        }
        TrackError::AutoClosed {
            checked_in_at,
            closed_at,
            max_hours,
        } => format!(
            "Your session from {} was closed automatically at {} because it ran longer than \
             {max_hours} hours. Use `/checkin` to start a new one.",
            when(*checked_in_at),
            when(*closed_at)
        ),
        other => capitalized(&other.to_string()),
    };
    format!("⚠️ {text}")
}

/// `<t:…:t>`: the time of day, in the reader's zone.
fn clock_time(at: Timestamp) -> String {
    format!("<t:{at}:t>")
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_replies_are_cut_to_discords_limit() {
        assert_eq!(fit("short"), "short");
        let exact = "é".repeat(MAX_CONTENT);
        assert_eq!(fit(&exact), exact);
        let cut = fit(&"🙂".repeat(MAX_CONTENT + 1));
        assert_eq!(cut.chars().count(), MAX_CONTENT);
        assert!(cut.ends_with("🙂…"));
    }
    use crate::ids::JobId;

    #[test]
    fn the_direct_message_carries_the_guides_figures() {
        // 1736955900 is 2025-01-15T15:45:00Z; 24 hours later is 1737042300.
        let message = DeliveryMessage {
            job_id: JobId(7),
            generated_at: 1_736_955_900,
            file_size: 127_000,
            file_name: "clocky-data-export-20250115T154500Z.json".to_owned(),
            sessions_included: 486,
            servers_included: 2,
            server_name: None,
            url: url::Url::parse("https://clocky.example/download/t").unwrap(),
            expires_at: 1_737_042_300,
        };
        let fields = ready_fields(&message);
        assert_eq!(
            fields,
            [
                ("Export generated", "<t:1736955900:f>"),
                ("File size", "127 kB"),
                ("Sessions included", "486"),
                ("Servers", "2"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
        assert_eq!(
            expiry_warning(&message),
            "⚠️ This link expires in 24 hours for security (<t:1737042300:f>).\n\
             Download your data now."
        );

        // A server-wide export names its server in place of the count; Discord markup in the
        // name is escaped, and a server Clocky never saw named still gets a field with text.
        let server = DeliveryMessage {
            server_name: Some("**Team**".to_owned()),
            ..message.clone()
        };
        assert_eq!(
            ready_fields(&server)[3],
            ("Server".to_owned(), "\\*\\*Team\\*\\*".to_owned())
        );
        let unnamed = DeliveryMessage {
            server_name: Some(String::new()),
            ..message
        };
        assert_eq!(
            ready_fields(&unnamed)[3],
            ("Server".to_owned(), "(no name)".to_owned())
        );
    }

    #[test]
    fn the_fee_notice_names_the_allowance_and_the_fee() {
        let text = fee_notice(FreeAllowance::default(), None);
        assert!(text.starts_with("Your free data export for this period (the last 365 days)"));
        assert!(text.contains("may incur a reasonable administrative fee"));
        assert!(!text.contains("still be downloaded"));
        let text = fee_notice(
            FreeAllowance {
                exports: 3,
                period_days: 30,
            },
            Some(100),
        );
        assert!(text.starts_with("Your 3 free data exports for this period (the last 30 days)"));
        assert!(text.contains("until <t:100:f>"));
    }
}
