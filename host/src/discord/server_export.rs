//! `/server-export`: a server's managers get every session recorded in that server, by DM.
//!
//! Three gates, in this order, before anything is queued: the command runs in a server; the
//! member has **Manage Server** (or Administrator, or owns the server) at the server level; and
//! the operator has enabled server-wide exports for the server (`clocky server-export enable`).
//! The command is also registered with Manage Server as its default permission, so Discord
//! hides it from other members, but a server can change that default, so the host checks again
//! and never relies on it.
//!
//! The permission is computed from the server's roles, fetched from Discord at the time of the
//! request, and the member's roles: the `@everyone` role's permissions and those of each role
//! the member has, or everything for the owner. Not from the permissions Discord sends with the
//! interaction: those are the member's permissions in the channel, channel overrides included,
//! and whoever may edit one channel's overrides could grant themselves Manage Server there.
//!
//! The export runs a plugin of the `server-exporter-plugin` world, whose capability reads the
//! server's sessions and its members' names and zones, nothing else. Nobody gets another
//! person's `/data-export` through it: a personal export is always made for, and sent to, the
//! person who runs `/data-export`.

use poise::serenity_prelude as serenity;
use serenity::{EditInteractionResponse, Permissions};

use super::data_export::REPLY_EDIT_SECONDS;
use super::{CommandError, Context, messages, user_of};
use crate::db::deliveries::Reply;
use crate::export::{ExportError, ServerRequest};
use crate::ids::ServerId;

/// Export every session recorded in this server, sent to you by DM (Manage Server only).
#[poise::command(
    slash_command,
    rename = "server-export",
    guild_only,
    default_member_permissions = "MANAGE_GUILD"
)]
pub async fn server_export(
    ctx: Context<'_>,
    #[description = "File format (default: server-sessions-csv, one row per session)"]
    #[autocomplete = "autocomplete_server_format"]
    #[max_length = 64]
    format: Option<String>,
) -> Result<(), CommandError> {
    ctx.defer_ephemeral().await?;
    let poise::Context::Application(actx) = ctx else {
        return Ok(());
    };
    let interaction = actx.interaction;
    let app = &ctx.data().app;

    let Some(guild) = interaction.guild_id else {
        return edit(ctx, interaction, messages::SERVER_ONLY).await;
    };
    let Some(member) = interaction.member.as_deref() else {
        return edit(ctx, interaction, messages::SERVER_ONLY).await;
    };
    let roles = match ctx.http().get_guild(guild).await {
        Ok(roles) => roles,
        Err(error) => {
            tracing::warn!(server_id = %guild, %error, "could not read the server's roles");
            return edit(ctx, interaction, messages::SOMETHING_WENT_WRONG).await;
        }
    };
    if !may_manage(roles.member_permissions(member)) {
        tracing::info!(user_id = %ctx.author().id, server_id = %guild, "server export refused: no Manage Server");
        return edit(ctx, interaction, messages::SERVER_NOT_ALLOWED).await;
    }
    let server = ServerId::new(guild.get())?;
    let (user, (name, discriminator)) = user_of(ctx.author())?;
    let reply = Reply {
        token: interaction.token.clone(),
        expires_at: app.clock.now() + REPLY_EDIT_SECONDS,
    };

    let outcome = app
        .exporter
        .request_server_export(
            user,
            Some((name.as_str(), discriminator)),
            server,
            format.as_deref(),
            Some(&reply),
        )
        .await;
    let text = match outcome {
        Ok(ServerRequest::Queued(_)) => messages::SERVER_GENERATING.to_owned(),
        Ok(ServerRequest::InProgress(job)) => messages::server_in_progress(job.requested_at),
        Ok(ServerRequest::NotEnabled) => messages::SERVER_NOT_ENABLED.to_owned(),
        Err(error @ (ExportError::UnknownFormat { .. } | ExportError::OtherScope { .. })) => {
            format!("⚠️ {}", error.user_message())
        }
        Err(error) => {
            tracing::error!(user_id = %user, server_id = %server, error = %format!("{error:#}"), "server export request failed");
            messages::SOMETHING_WENT_WRONG.to_owned()
        }
    };
    edit(ctx, interaction, &text).await
}

/// Whether server-level `permissions` let a member export the server: Manage Server or
/// Administrator (the owner has every permission).
pub fn may_manage(permissions: Permissions) -> bool {
    permissions.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR)
}

async fn edit(
    ctx: Context<'_>,
    interaction: &serenity::CommandInteraction,
    text: &str,
) -> Result<(), CommandError> {
    interaction
        .edit_response(
            ctx.http(),
            EditInteractionResponse::new().content(messages::fit(text)),
        )
        .await?;
    Ok(())
}

/// Offers the names of the active server-wide export plugins that start with what was typed.
async fn autocomplete_server_format(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let partial = partial.trim().to_lowercase();
    let formats = ctx.data().app.exporter.server_formats();
    super::commands::choices(
        formats
            .into_iter()
            .filter(|name| name.starts_with(&partial))
            .collect(),
    )
}
