//! The fake REST API under `/api/v10`: the routes Clocky's bot uses, answered as Discord does,
//! and every request recorded, the unknown ones too.
//!
//! Routing is by path segments in one function rather than by axum routes, because Discord's
//! paths mix ids with literal segments such as `@me` and `@original`, and because every request
//! must be recorded the same way whether or not a route matches. Query strings are recorded and
//! otherwise ignored (serenity writes them as `?&name=value`).
//!
//! Like Discord, the fake wants `Authorization: Bot <token>` on every route except `GET /gateway`
//! and the interaction callbacks and webhooks, which are authorized by the token in their path; and it
//! accepts exactly one callback per interaction. What it does not imitate: rate limits other
//! than the scripted ones, permissions, guild channels (a message to any channel id is created),
//! attachments (file parts are recorded by name but messages list none), and the time window of
//! nonce deduplication (the fake dedupes for its whole life, which a test never outlasts).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::payloads::{
    self, APPLICATION_ID, BOT_TOKEN, bot_user_object, dm_channel_id, message_object, snowflake,
};
use super::state::{Failure, RecordedRequest, Shared, State as FakeState};

/// The largest request body the fake reads; Discord's own limit for uploads is far above what
/// a test sends.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// An answer before it becomes an HTTP response, so it can be recorded too.
struct Reply {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    fn no_content() -> Self {
        Self::json(StatusCode::NO_CONTENT, Value::Null)
    }

    /// Discord's error shape: a numeric JSON error code and a message.
    fn error(status: StatusCode, code: u32, message: &str) -> Self {
        Self::json(status, json!({ "message": message, "code": code }))
    }

    fn not_found() -> Self {
        Self::error(StatusCode::NOT_FOUND, 0, "404: Not Found")
    }

    fn into_response(self) -> Response {
        let mut response = if self.body.is_null() {
            self.status.into_response()
        } else {
            (self.status, axum::Json(self.body)).into_response()
        };
        for (name, value) in self.headers {
            let value = HeaderValue::from_str(&value).expect("the fake writes ASCII headers");
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// Every request that is not the gateway ends up here.
pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let raw_body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let (body, files) = parse_body(content_type, &raw_body);
    let expected = format!("Bot {BOT_TOKEN}");
    let authorized = parts
        .headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == expected.as_bytes());
    let path = parts.uri.path().to_owned();

    let reply = {
        let mut state = shared.lock();
        let reply = route(
            &mut state,
            &shared,
            parts.method.as_str(),
            &path,
            &body,
            authorized,
        );
        state.requests.push(RecordedRequest {
            at,
            method: parts.method.clone(),
            path,
            query: parts.uri.query().map(str::to_owned),
            body,
            raw_body: raw_body.to_vec(),
            files,
            status: reply.status.as_u16(),
            response: reply.body.clone(),
        });
        reply
    };
    shared.touch();
    reply.into_response()
}

/// Finds the endpoint for `method path` and answers it.
fn route(
    state: &mut FakeState,
    shared: &Shared,
    method: &str,
    path: &str,
    body: &Value,
    authorized: bool,
) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return Reply::not_found();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let application = APPLICATION_ID.to_string();

    // Interaction callbacks and webhooks carry their own token, and the gateway's address is
    // public; everything else needs the bot's token.
    let needs_bot_token = !matches!(
        segments.as_slice(),
        ["interactions", ..] | ["webhooks", ..] | ["gateway"]
    );
    if needs_bot_token && !authorized {
        return Reply::error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }

    match (method, segments.as_slice()) {
        ("GET", ["gateway"]) => Reply::ok(payloads::gateway_object(&shared.gateway_url, false)),
        ("GET", ["gateway", "bot"]) => {
            Reply::ok(payloads::gateway_object(&shared.gateway_url, true))
        }
        ("GET", ["oauth2", "applications", "@me"]) => Reply::ok(payloads::application_object()),
        ("GET", ["users", "@me"]) => Reply::ok(bot_user_object()),

        ("PUT", ["applications", app, "commands"]) if *app == application => {
            state.global_commands = register_commands(body, None);
            Reply::ok(json!(state.global_commands))
        }
        ("GET", ["applications", app, "commands"]) if *app == application => {
            Reply::ok(json!(state.global_commands))
        }
        ("PUT", ["applications", app, "guilds", guild, "commands"]) if *app == application => {
            let Ok(guild) = guild.parse::<u64>() else {
                return Reply::not_found();
            };
            let commands = register_commands(body, Some(guild));
            state.guild_commands.insert(guild, commands.clone());
            Reply::ok(json!(commands))
        }
        ("GET", ["applications", app, "guilds", guild, "commands"]) if *app == application => {
            let commands = guild
                .parse::<u64>()
                .ok()
                .and_then(|guild| state.guild_commands.get(&guild).cloned())
                .unwrap_or_default();
            Reply::ok(json!(commands))
        }

        ("POST", ["interactions", id, token, "callback"]) => callback(state, id, token, body),
        (_, ["webhooks", app, token, "messages", "@original"]) if *app == application => {
            original(state, method, token, body)
        }
        (_, ["webhooks", app, token, "messages", id]) if *app == application => {
            followup(state, method, token, id, body)
        }
        ("POST", ["webhooks", app, token]) if *app == application => {
            let Some(interaction) = state.interactions.get_mut(*token) else {
                return unknown_webhook();
            };
            let message =
                message_object(snowflake(), interaction.channel_id, bot_user_object(), body);
            interaction.followups.push(message.clone());
            Reply::ok(message)
        }

        ("GET", ["guilds", guild]) => match guild.parse::<u64>() {
            Ok(guild_id) => Reply::ok(payloads::guild_object(guild_id)),
            Err(_) => Reply::not_found(),
        },
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"]
                .as_str()
                .and_then(|id| id.parse::<u64>().ok());
            let Some(user_id) = recipient else {
                return Reply::error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
            };
            state.dm_channels.insert(dm_channel_id(user_id), user_id);
            let username = state
                .usernames
                .get(&user_id)
                .cloned()
                .unwrap_or_else(|| format!("user-{user_id}"));
            Reply::ok(payloads::dm_channel_object(user_id, &username))
        }
        ("POST", ["channels", channel, "messages"]) => match channel.parse::<u64>() {
            Ok(channel_id) => create_message(state, channel_id, body),
            Err(_) => Reply::not_found(),
        },

        _ => Reply::not_found(),
    }
}

/// `PUT .../commands` answers with the commands as registered; a body that is not a list of
/// commands registers none.
fn register_commands(body: &Value, guild_id: Option<u64>) -> Vec<Value> {
    body.as_array()
        .into_iter()
        .flatten()
        .map(|command| payloads::registered_command(command, guild_id))
        .collect()
}

/// Discord's answer to a callback or webhook for an interaction it does not know.
fn unknown_interaction() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, 10062, "Unknown interaction")
}

fn unknown_webhook() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook")
}

fn unknown_message() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, 10008, "Unknown Message")
}

/// `POST /interactions/{id}/{token}/callback`: the one response to an interaction.
fn callback(state: &mut FakeState, id: &str, token: &str, body: &Value) -> Reply {
    let Some(interaction) = state.interactions.get_mut(token) else {
        return unknown_interaction();
    };
    if interaction.id.to_string() != id {
        return unknown_interaction();
    }
    if interaction.acknowledged {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        );
    }

    let data = body.get("data").cloned().unwrap_or_else(|| json!({}));
    match body["type"].as_u64() {
        // A message, or "thinking…" (flag 128, loading) until the response is edited in.
        Some(4) => {
            let message = message_object(
                snowflake(),
                interaction.channel_id,
                bot_user_object(),
                &data,
            );
            interaction.original = Some(message);
        }
        Some(5) => {
            let flags = data["flags"].as_u64().unwrap_or(0) | 128;
            let message = message_object(
                snowflake(),
                interaction.channel_id,
                bot_user_object(),
                &json!({ "flags": flags }),
            );
            interaction.original = Some(message);
        }
        // Update the component's message now; a deferred update (6) changes nothing yet.
        Some(7) => {
            if let Some(message) = &mut interaction.original {
                payloads::apply_edit(message, &data);
                update_stored(&mut state.messages, message);
            }
        }
        // Deferred update, autocomplete choices, modal: nothing to show until later.
        Some(6 | 8 | 9) => {}
        _ => return Reply::error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body"),
    }
    interaction.acknowledged = true;
    Reply::no_content()
}

/// `GET`, `PATCH` and `DELETE /webhooks/{app}/{token}/messages/@original`.
fn original(state: &mut FakeState, method: &str, token: &str, body: &Value) -> Reply {
    let Some(interaction) = state.interactions.get_mut(token) else {
        return unknown_webhook();
    };
    let Some(message) = &mut interaction.original else {
        return unknown_message();
    };
    match method {
        "GET" => Reply::ok(message.clone()),
        "PATCH" => {
            payloads::apply_edit(message, body);
            if body.get("content").is_some() || body.get("embeds").is_some() {
                // An edit replaces the "thinking…" state of a deferred response.
                let flags = message["flags"].as_u64().unwrap_or(0) & !128;
                message["flags"] = json!(flags);
            }
            update_stored(&mut state.messages, message);
            Reply::ok(message.clone())
        }
        "DELETE" => {
            interaction.original = None;
            Reply::no_content()
        }
        _ => Reply::not_found(),
    }
}

/// Copies an edited message over its stored copy, when it is one the bot created in a channel:
/// a component interaction's `@original` is the message the component is on.
fn update_stored(messages: &mut [Value], edited: &Value) {
    if let Some(stored) = messages
        .iter_mut()
        .find(|stored| stored["id"] == edited["id"])
    {
        *stored = edited.clone();
    }
}

/// `GET`, `PATCH` and `DELETE /webhooks/{app}/{token}/messages/{id}`: a follow-up message.
fn followup(state: &mut FakeState, method: &str, token: &str, id: &str, body: &Value) -> Reply {
    let Some(interaction) = state.interactions.get_mut(token) else {
        return unknown_webhook();
    };
    let Some(index) = interaction
        .followups
        .iter()
        .position(|message| message["id"] == id)
    else {
        return unknown_message();
    };
    match method {
        "GET" => Reply::ok(interaction.followups[index].clone()),
        "PATCH" => {
            payloads::apply_edit(&mut interaction.followups[index], body);
            Reply::ok(interaction.followups[index].clone())
        }
        "DELETE" => {
            interaction.followups.remove(index);
            Reply::no_content()
        }
        _ => Reply::not_found(),
    }
}

/// `POST /channels/{id}/messages`. For a DM channel, a scripted failure comes first, then a
/// closed DM refuses; a message whose nonce was already used in the channel with
/// `enforce_nonce` is answered with the earlier message instead of a new one.
fn create_message(state: &mut FakeState, channel_id: u64, body: &Value) -> Reply {
    if let Some(&user_id) = state.dm_channels.get(&channel_id) {
        let failure = state
            .dm_failures
            .get_mut(&user_id)
            .and_then(|failures| failures.pop_front());
        if let Some(failure) = failure {
            return failed(&failure);
        }
        if state.closed_dms.contains(&user_id) {
            return Reply::error(
                StatusCode::FORBIDDEN,
                50007,
                "Cannot send messages to this user",
            );
        }
    }

    let channel = channel_id.to_string();
    let enforce_nonce = body["enforce_nonce"].as_bool() == Some(true);
    if let Some(nonce) = body.get("nonce").filter(|_| enforce_nonce) {
        let earlier = state.messages.iter().find(|message| {
            message["channel_id"] == channel && message.get("nonce") == Some(nonce)
        });
        if let Some(earlier) = earlier {
            return Reply::ok(earlier.clone());
        }
    }

    let message = message_object(snowflake(), channel_id, bot_user_object(), body);
    state.messages.push(message.clone());
    Reply::ok(message)
}

/// The answer to a scripted failure, as Discord gives it.
fn failed(failure: &Failure) -> Reply {
    match *failure {
        Failure::RateLimited { retry_after } => {
            let mut reply = Reply::json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": false,
                }),
            );
            // `Retry-After` is whole seconds, rounded up; the X-RateLimit headers are exact.
            let whole_seconds = format!("{}", retry_after.ceil());
            reply.headers = vec![
                ("retry-after", whole_seconds),
                ("x-ratelimit-limit", "5".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset-after", format!("{retry_after:.3}")),
                ("x-ratelimit-bucket", "fake-dm-bucket".to_owned()),
                ("x-ratelimit-scope", "user".to_owned()),
            ];
            reply
        }
        Failure::ServerError(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let message = format!(
                "{}: {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            Reply::error(status, 0, &message)
        }
    }
}

/// Reads a request body: JSON as is, multipart through its `payload_json` part (which is where
/// serenity puts the JSON when it attaches files), anything else as `Null`. Also returns the
/// file names of the multipart file parts.
fn parse_body(content_type: &str, raw: &[u8]) -> (Value, Vec<String>) {
    if let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
    {
        return parse_multipart(boundary.trim_matches('"'), raw);
    }
    (
        serde_json::from_slice(raw).unwrap_or(Value::Null),
        Vec::new(),
    )
}

/// A small multipart reader, enough for serenity's forms: parts separated by `--boundary`,
/// each with headers, a blank line and content.
fn parse_multipart(boundary: &str, raw: &[u8]) -> (Value, Vec<String>) {
    let text = String::from_utf8_lossy(raw);
    let delimiter = format!("--{boundary}");
    let mut body = Value::Null;
    let mut files = Vec::new();
    for part in text.split(delimiter.as_str()) {
        let Some((headers, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let disposition = headers
            .lines()
            .find(|line| line.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or_default();
        if disposition.contains("name=\"payload_json\"") {
            body = serde_json::from_str(content).unwrap_or(Value::Null);
        } else if let Some(name) = disposition.split("filename=\"").nth(1) {
            files.push(name.split('"').next().unwrap_or_default().to_owned());
        }
    }
    (body, files)
}
