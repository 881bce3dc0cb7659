//! Clocky on Discord: the gateway connection, the slash commands, and delivery by direct message.
//!
//! This is the only module that talks to Discord. Commands parse what Discord sends, call the
//! same [`Tracker`](crate::tracking::Tracker) and [`Exporter`](crate::export::Exporter) as the
//! command line, and turn the outcome into short replies; every rule lives below them.
//!
//! - [`commands`]: the tracking commands, `/status`, `/timezone`, `/leaderboard`, `/privacy`.
//! - [`data_export`]: `/data-export`, from the private acknowledgement to the fee confirmation.
//! - [`server_export`]: `/server-export`, a server's sessions for its managers, where enabled.
//! - [`delivery`]: the worker that sends finished exports by direct message, with retries.
//! - [`messages`]: every sentence the bot says, in one place.
//!
//! The bot needs no privileged intents and no permissions: slash commands and their replies
//! work without either, and direct messages need only that the user accepts them. It asks for
//! the `GUILDS` intent so the cache knows servers' current names, which exports show.

pub mod commands;
pub mod data_export;
pub mod delivery;
pub mod messages;
pub mod server_export;

use std::future::Future;
use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{ClientBuilder, GatewayIntents, Http, HttpBuilder};
use thiserror::Error;

use crate::app::App;
use crate::export::ExportError;
use crate::ids::{IdError, ServerId, UserId};
use crate::tracking::TrackError;

/// What every command can reach.
#[derive(Debug)]
pub struct Data {
    /// The host.
    pub app: App,
}

/// Why a command could not finish. Expected refusals (a check-out without a check-in) are
/// replies, not errors; these are the failures of Clocky or Discord, which the user sees as one
/// plain sentence and the log sees in full.
#[derive(Debug, Error)]
pub enum CommandError {
    /// Talking to Discord failed. Boxed: serenity's error is large, and commands return this
    /// on every path.
    #[error("Discord request failed: {0}")]
    Discord(Box<serenity::Error>),
    /// The tracker failed.
    #[error(transparent)]
    Track(#[from] TrackError),
    /// The export pipeline failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Discord sent an id Clocky cannot store.
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<serenity::Error> for CommandError {
    fn from(error: serenity::Error) -> Self {
        CommandError::Discord(Box::new(error))
    }
}

/// The context every command gets.
pub type Context<'a> = poise::Context<'a, Data, CommandError>;

/// Every slash command Clocky registers.
pub fn all_commands() -> Vec<poise::Command<Data, CommandError>> {
    let mut all = commands::tracking_commands();
    all.push(data_export::data_export());
    all.push(server_export::server_export());
    all
}

/// The REST client: pointed at `api_base` when one is configured (a local server speaking
/// Discord's protocol), otherwise at discord.com with serenity's rate limiter.
pub fn http_client(token: &str, api_base: Option<&url::Url>) -> Http {
    let builder = HttpBuilder::new(token);
    match api_base {
        // The rate limiter keys its buckets on discord.com routes and bypasses the proxy, so it
        // has to be off for another base to be used at all.
        Some(base) => builder
            .proxy(base.as_str().trim_end_matches('/'))
            .ratelimiter_disabled(true)
            .build(),
        None => builder.build(),
    }
}

/// Connects to Discord with the configured token and serves the commands, with the delivery
/// worker beside them, until `shutdown` completes. Returns an error when the connection cannot
/// be made or is refused (a wrong token, say).
pub async fn run(
    app: App,
    token: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let http = http_client(&token, app.config.discord.api_base.as_ref());
    let command_server = app.config.discord.command_server;
    let framework_app = app.clone();
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: all_commands(),
            on_error: |error| Box::pin(on_error(error)),
            ..Default::default()
        })
        // Owners are only used by prefix commands, which Clocky does not have; asking for them
        // would cost a request at every start.
        .initialize_owners(false)
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                let commands = &framework.options().commands;
                match command_server {
                    Some(server) => {
                        let server = serenity::GuildId::new(server.max(1));
                        poise::builtins::register_in_guild(ctx, commands, server).await?;
                    }
                    None => poise::builtins::register_globally(ctx, commands).await?,
                }
                tracing::info!(
                    bot = %ready.user.name,
                    servers = ready.guilds.len(),
                    "connected to Discord; commands registered"
                );
                Ok(Data { app: framework_app })
            })
        })
        .build();

    let mut client = ClientBuilder::new_with_http(http, GatewayIntents::GUILDS)
        .framework(framework)
        .await?;
    let http = Arc::clone(&client.http);
    let shards = Arc::clone(&client.shard_manager);
    let worker = tokio::spawn(delivery::run(app.clone(), Arc::clone(&http)));

    let outcome = tokio::select! {
        started = client.start() => started.map_err(anyhow::Error::from),
        () = shutdown => {
            shards.shutdown_all().await;
            Ok(())
        }
    };
    worker.abort();
    outcome.map_err(|error| error.context("the Discord connection ended"))
}

/// Logs a command's failure once and tells the user in one plain sentence.
async fn on_error(error: poise::FrameworkError<'_, Data, CommandError>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            tracing::error!(
                command = %ctx.command().qualified_name,
                user_id = %ctx.author().id,
                error = %format!("{error:#}"),
                "command failed"
            );
            let reply = poise::CreateReply::default()
                .content(messages::SOMETHING_WENT_WRONG)
                .ephemeral(true);
            if let Err(also) = ctx.send(reply).await {
                tracing::warn!(error = %also, "could not tell the user either");
            }
        }
        other => {
            if let Err(also) = poise::builtins::on_error(other).await {
                tracing::warn!(error = %also, "could not handle a framework error");
            }
        }
    }
}

/// The user behind an interaction, as Clocky stores them.
pub fn user_of(user: &serenity::User) -> Result<(UserId, (String, u16)), IdError> {
    let discriminator = user.discriminator.map_or(0, std::num::NonZeroU16::get);
    Ok((
        UserId::new(user.id.get())?,
        (user.name.clone(), discriminator),
    ))
}

/// The server an interaction came from, with its current name when the cache knows it.
pub fn server_of(ctx: Context<'_>) -> Result<Option<(ServerId, Option<String>)>, IdError> {
    let Some(guild) = ctx.guild_id() else {
        return Ok(None);
    };
    let name = ctx
        .serenity_context()
        .cache
        .guild(guild)
        .map(|cached| cached.name.clone());
    Ok(Some((ServerId::new(guild.get())?, name)))
}
