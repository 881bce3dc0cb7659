//! The time-tracking commands: `/checkin`, `/checkout`, `/break start|end`, `/status`,
//! `/timezone`, `/leaderboard` and `/privacy leaderboard`.
//!
//! Each one records who acted (their current username, and the server's current name) and
//! calls the same [`Tracker`](crate::tracking::Tracker) method as the command line. A refusal
//! by the rules ("you are not checked in here") is an answer, not an error. Every reply that
//! holds personal data is private to the user; only `/leaderboard` answers in the channel, and
//! it lists only users who chose to appear there.

use poise::serenity_prelude as serenity;

use super::{CommandError, Context, Data, messages, server_of, user_of};
use crate::tracking::{Member, TrackError};

/// Most rows `/leaderboard` shows; a Discord message holds far more, a channel reader fewer.
pub const LEADERBOARD_ROWS: u32 = 10;

/// The tracking commands, in the order Discord lists them.
pub fn tracking_commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![
        checkin(),
        checkout(),
        break_(),
        status(),
        timezone(),
        leaderboard(),
        privacy(),
    ]
}

/// Start a work session in this server.
#[poise::command(slash_command, guild_only)]
pub async fn checkin(ctx: Context<'_>) -> Result<(), CommandError> {
    let app = &ctx.data().app;
    let outcome = match Acting::of(ctx)? {
        Ok(acting) => app.tracker.check_in(acting.member(), None).await,
        Err(refusal) => Err(refusal),
    };
    let now = app.clock.now();
    let text = refusal_or(outcome, |_| messages::checked_in(now))?;
    private(ctx, text).await
}

/// End your work session in this server (and a running break with it).
#[poise::command(slash_command, guild_only)]
pub async fn checkout(ctx: Context<'_>) -> Result<(), CommandError> {
    let app = &ctx.data().app;
    let outcome = match Acting::of(ctx)? {
        Ok(acting) => app.tracker.check_out(acting.member(), None).await,
        Err(refusal) => Err(refusal),
    };
    let text = refusal_or(outcome, |done| messages::checked_out(&done))?;
    private(ctx, text).await
}

/// Take or end a break in your current session.
#[poise::command(
    slash_command,
    guild_only,
    rename = "break",
    subcommands("break_start", "break_end"),
    subcommand_required
)]
pub async fn break_(_ctx: Context<'_>) -> Result<(), CommandError> {
    // Discord only ever invokes the subcommands of a command that has them.
    Ok(())
}

/// Start a break in your current session.
#[poise::command(slash_command, guild_only, rename = "start")]
pub async fn break_start(ctx: Context<'_>) -> Result<(), CommandError> {
    let app = &ctx.data().app;
    let outcome = match Acting::of(ctx)? {
        Ok(acting) => app.tracker.start_break(acting.member(), None).await,
        Err(refusal) => Err(refusal),
    };
    let now = app.clock.now();
    let text = refusal_or(outcome, |()| messages::break_started(now))?;
    private(ctx, text).await
}

/// End your running break.
#[poise::command(slash_command, guild_only, rename = "end")]
pub async fn break_end(ctx: Context<'_>) -> Result<(), CommandError> {
    let app = &ctx.data().app;
    let outcome = match Acting::of(ctx)? {
        Ok(acting) => app.tracker.end_break(acting.member(), None).await,
        Err(refusal) => Err(refusal),
    };
    let text = refusal_or(outcome, messages::break_ended)?;
    private(ctx, text).await
}

/// What you have running now, and today's totals in your time zone.
#[poise::command(slash_command)]
pub async fn status(ctx: Context<'_>) -> Result<(), CommandError> {
    let (user, _) = user_of(ctx.author())?;
    let report = ctx.data().app.tracker.status(user).await?;
    private(ctx, messages::status(&report)).await
}

/// Set your time zone, used for "today" in /status (for example Europe/Berlin).
#[poise::command(slash_command)]
pub async fn timezone(
    ctx: Context<'_>,
    #[description = "An IANA time zone name, such as Europe/Berlin or America/New_York"]
    #[autocomplete = "autocomplete_zone"]
    #[max_length = 64]
    zone: String,
) -> Result<(), CommandError> {
    let (user, (name, discriminator)) = user_of(ctx.author())?;
    let username = Some((name.as_str(), discriminator));
    let outcome = ctx
        .data()
        .app
        .tracker
        .set_timezone(user, username, &zone)
        .await;
    let text = refusal_or(outcome, |tz| messages::timezone_set(tz.name()))?;
    private(ctx, text).await
}

/// The period a leaderboard covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum Period {
    /// The last 7 days.
    #[name = "last 7 days"]
    Week,
    /// The last 30 days.
    #[name = "last 30 days"]
    Month,
    /// Everything Clocky recorded in this server.
    #[name = "all time"]
    All,
}

impl Period {
    /// How far back the period reaches, in seconds; `None` for all time.
    pub fn seconds(self) -> Option<i64> {
        match self {
            Period::Week => Some(7 * 86_400),
            Period::Month => Some(30 * 86_400),
            Period::All => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Period::Week => "the last 7 days",
            Period::Month => "the last 30 days",
            Period::All => "all time",
        }
    }
}

/// Who worked most in this server (only people who made themselves public).
#[poise::command(slash_command, guild_only)]
pub async fn leaderboard(
    ctx: Context<'_>,
    #[description = "Which period to total (default: the last 7 days)"] period: Option<Period>,
) -> Result<(), CommandError> {
    let Some((server, _)) = server_of(ctx)? else {
        return Ok(());
    };
    let period = period.unwrap_or(Period::Week);
    let app = &ctx.data().app;
    let since = period.seconds().map(|back| app.clock.now() - back);
    let rows = app
        .tracker
        .leaderboard(server, since, LEADERBOARD_ROWS)
        .await?;
    let text = messages::leaderboard(&rows, period.describe());
    let reply = poise::CreateReply::default()
        .content(messages::fit(&text))
        // A leaderboard names people; it never pings them.
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    ctx.send(reply).await?;
    Ok(())
}

/// Choose what others can see about you.
#[poise::command(slash_command, subcommands("privacy_leaderboard"), subcommand_required)]
pub async fn privacy(_ctx: Context<'_>) -> Result<(), CommandError> {
    Ok(())
}

/// Whether you appear on /leaderboard (off by default).
#[poise::command(slash_command, rename = "leaderboard")]
pub async fn privacy_leaderboard(
    ctx: Context<'_>,
    #[description = "on: list me on leaderboards; off: keep me off them"] visibility: Toggle,
) -> Result<(), CommandError> {
    let (user, (name, discriminator)) = user_of(ctx.author())?;
    let public = visibility == Toggle::On;
    let username = Some((name.as_str(), discriminator));
    ctx.data()
        .app
        .tracker
        .set_leaderboard(user, username, public)
        .await?;
    private(ctx, messages::leaderboard_visibility(public).to_owned()).await
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum Toggle {
    /// On.
    #[name = "on"]
    On,
    /// Off.
    #[name = "off"]
    Off,
}

/// Who invoked a command, and in which server, as the tracker wants them.
struct Acting {
    user: crate::ids::UserId,
    name: String,
    discriminator: u16,
    server: crate::ids::ServerId,
    server_name: Option<String>,
}

impl Acting {
    /// The invoker of a `guild_only` command. Poise answers such commands outside servers
    /// itself, so a missing server is a refusal that never reaches users in practice.
    fn of(ctx: Context<'_>) -> Result<Result<Acting, TrackError>, CommandError> {
        let (user, (name, discriminator)) = user_of(ctx.author())?;
        let Some((server, server_name)) = server_of(ctx)? else {
            return Ok(Err(TrackError::Refused(
                clocky_rules::tracking::TrackingError::NotCheckedIn,
            )));
        };
        Ok(Ok(Acting {
            user,
            name,
            discriminator,
            server,
            server_name,
        }))
    }

    fn member(&self) -> Member<'_> {
        Member {
            user: self.user,
            username: Some((self.name.as_str(), self.discriminator)),
            server: self.server,
            server_name: self.server_name.as_deref(),
        }
    }
}

/// The answer to a tracking action: its success text, or why the rules refused it. Storage
/// failures stay errors, for the log and the generic apology.
fn refusal_or<T>(
    outcome: Result<T, TrackError>,
    success: impl FnOnce(T) -> String,
) -> Result<String, CommandError> {
    match outcome {
        Ok(done) => Ok(success(done)),
        Err(TrackError::Db(error)) => Err(TrackError::Db(error).into()),
        Err(refusal) => Ok(messages::refused(&refusal)),
    }
}

async fn private(ctx: Context<'_>, text: String) -> Result<(), CommandError> {
    let reply = poise::CreateReply::default()
        .content(messages::fit(&text))
        .ephemeral(true);
    ctx.send(reply).await?;
    Ok(())
}

/// Offers IANA zone names that look like what the user typed.
async fn autocomplete_zone(
    _ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let names = if partial.trim().is_empty() {
        [
            "UTC",
            "Europe/London",
            "Europe/Berlin",
            "America/New_York",
            "Asia/Tokyo",
        ]
        .map(str::to_owned)
        .to_vec()
    } else {
        clocky_rules::zone::suggest(partial)
    };
    choices(names)
}

/// Discord's answer to an autocomplete request: at most 25 choices, each shown as its value.
pub fn choices(names: Vec<String>) -> serenity::CreateAutocompleteResponse {
    let choices = names
        .into_iter()
        .take(25)
        .map(serenity::AutocompleteChoice::from)
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}
