//! `/data-export`: anyone, in any server where Clocky is present, gets their own data by DM.
//!
//! Discord gets its acknowledgement (a private, deferred reply) before Clocky touches the
//! database, so the three seconds Discord allows are never at the mercy of a busy disk. Then
//! one transaction decides what the request means (see
//! [`Exporter::request_on_discord`](crate::export::Exporter::request_on_discord)) and the reply
//! is edited to say so. The export itself runs on the host's export workers; the
//! [`delivery`](super::delivery) worker sends the direct message and updates this reply.

use std::time::Duration;

use futures::StreamExt as _;

use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, ComponentInteractionCollector, CreateActionRow, CreateButton,
    CreateInteractionResponse, EditInteractionResponse,
};

use super::{CommandError, Context, messages, user_of};
use crate::db::deliveries::Reply;
use crate::db::exports::JobState;
use crate::export::{DiscordRequest, ExportError};

/// How long Discord accepts edits of an interaction's reply, with a minute to spare.
pub const REPLY_EDIT_SECONDS: i64 = 14 * 60;

/// How long the fee notice waits for a button press.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Get a copy of all the data Clocky keeps about you, sent to you by DM.
#[poise::command(slash_command, rename = "data-export")]
pub async fn data_export(
    ctx: Context<'_>,
    #[description = "File format (default: data-export, the complete JSON document)"]
    #[autocomplete = "autocomplete_format"]
    #[max_length = 64]
    format: Option<String>,
) -> Result<(), CommandError> {
    // Before anything else: Discord shows the user a private "thinking" reply at once.
    ctx.defer_ephemeral().await?;
    let poise::Context::Application(actx) = ctx else {
        return Ok(());
    };
    let interaction = actx.interaction;
    let app = &ctx.data().app;
    let reply = Reply {
        token: interaction.token.clone(),
        expires_at: app.clock.now() + REPLY_EDIT_SECONDS,
    };
    let (user, (name, discriminator)) = user_of(ctx.author())?;
    let username = Some((name.as_str(), discriminator));

    let outcome = app
        .exporter
        .request_on_discord(user, username, format.as_deref(), &reply, false)
        .await;
    let ready_until = match outcome {
        Ok(DiscordRequest::NeedsConfirmation { ready }) => ready.and_then(|job| job.expires_at),
        other => return answer(ctx, interaction, other).await,
    };

    // The free allowance is used up: say so, and ask before doing anything.
    let confirm_id = format!("data-export:confirm:{}", interaction.id);
    let cancel_id = format!("data-export:cancel:{}", interaction.id);
    let buttons = CreateActionRow::Buttons(vec![
        CreateButton::new(&confirm_id)
            .label(messages::CONFIRM_LABEL)
            .style(ButtonStyle::Primary),
        CreateButton::new(&cancel_id)
            .label(messages::CANCEL_LABEL)
            .style(ButtonStyle::Secondary),
    ]);
    // The collector is registered before the buttons are shown: a press that arrived between
    // the edit and the registration would otherwise be dropped, and Discord would tell the user
    // that the interaction failed.
    let ids = (confirm_id.clone(), cancel_id);
    let mut presses = ComponentInteractionCollector::new(ctx.serenity_context())
        .author_id(ctx.author().id)
        .filter(move |press| press.data.custom_id == ids.0 || press.data.custom_id == ids.1)
        .timeout(CONFIRM_TIMEOUT)
        .stream();
    let notice = messages::fee_notice(app.exporter.allowance(), ready_until);
    edit(ctx, interaction, &notice, vec![buttons]).await?;

    let Some(press) = presses.next().await else {
        return edit(ctx, interaction, messages::NO_ANSWER, Vec::new()).await;
    };
    // The press is acknowledged at once, like the command; the original reply is then edited.
    press
        .create_response(ctx.http(), CreateInteractionResponse::Acknowledge)
        .await?;
    if press.data.custom_id != confirm_id {
        return edit(ctx, interaction, messages::CANCELLED, Vec::new()).await;
    }
    let confirmed = app
        .exporter
        .request_on_discord(user, username, format.as_deref(), &reply, true)
        .await;
    answer(ctx, interaction, confirmed).await
}

/// Edits the private reply to say what the request led to.
async fn answer(
    ctx: Context<'_>,
    interaction: &serenity::CommandInteraction,
    outcome: Result<DiscordRequest, ExportError>,
) -> Result<(), CommandError> {
    let text = match outcome {
        Ok(DiscordRequest::Queued(_)) => messages::GENERATING.to_owned(),
        Ok(DiscordRequest::InProgress(job)) => {
            messages::in_progress(job.requested_at, job.state == JobState::Running)
        }
        Ok(DiscordRequest::Delivering(job)) => {
            messages::delivering(job.generated_at.unwrap_or(job.requested_at))
        }
        Ok(DiscordRequest::Redelivering(job)) => messages::redelivering(
            job.generated_at.unwrap_or(job.requested_at),
            job.expires_at.unwrap_or(job.requested_at),
        ),
        // Only asked for without confirmation, which `data_export` handles itself; a second
        // notice after a confirmation would loop, so the user is told plainly instead.
        Ok(DiscordRequest::NeedsConfirmation { .. }) => messages::SOMETHING_WENT_WRONG.to_owned(),
        Err(error @ (ExportError::UnknownFormat { .. } | ExportError::OtherScope { .. })) => {
            format!("⚠️ {}", error.user_message())
        }
        Err(error) => {
            tracing::error!(user_id = %ctx.author().id, error = %format!("{error:#}"), "export request failed");
            error.user_message()
        }
    };
    edit(ctx, interaction, &text, Vec::new()).await
}

async fn edit(
    ctx: Context<'_>,
    interaction: &serenity::CommandInteraction,
    text: &str,
    components: Vec<CreateActionRow>,
) -> Result<(), CommandError> {
    interaction
        .edit_response(
            ctx.http(),
            EditInteractionResponse::new()
                .content(messages::fit(text))
                .components(components),
        )
        .await?;
    Ok(())
}

/// Offers the names of the active export plugins that start with what the user typed.
async fn autocomplete_format(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let partial = partial.trim().to_lowercase();
    let formats = ctx.data().app.exporter.formats();
    super::commands::choices(
        formats
            .into_iter()
            .filter(|name| name.starts_with(&partial))
            .collect(),
    )
}
