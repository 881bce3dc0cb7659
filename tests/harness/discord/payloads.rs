//! The JSON the fake Discord sends, and builders for the interactions a test injects.
//!
//! Every object here is shaped after Discord's documentation and checked against serenity
//! 0.12.5's models: a field serenity requires and Discord always sends is always present, even
//! where its value is dull (`entitlements: []`, `deaf: false`), because a gateway dispatch that
//! fails to deserialize is not an error in serenity but an "unknown event" that no handler sees.
//! The `discord_fake` tests deserialize every builder's output with serenity's own types.
//!
//! Ids are strings, as Discord sends them. New ids come from [`snowflake`], which hands out
//! distinct, increasing, plausibly timed snowflakes; ids that must be the same every time a test
//! asks (a user's DM channel, a command's id) come from [`derived_id`].

use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// The bot's token, as the production code is configured with it (without the `Bot ` prefix).
pub const BOT_TOKEN: &str = "fake-bot-token.clocky-tests.0123456789";
/// The bot's application id.
pub const APPLICATION_ID: u64 = 1_300_000_000_000_000_001;
/// The bot's user id. Discord gives a bot the same id as its application; keeping them apart
/// here lets a test notice code that confuses the two.
pub const BOT_USER_ID: u64 = 1_300_000_000_000_000_002;
/// The bot's username.
pub const BOT_USERNAME: &str = "Clocky";

/// The permissions a member has unless the test says otherwise: Discord's default `@everyone`
/// set (view channels, send messages, use application commands and the like), no admin rights.
pub const MEMBER_PERMISSIONS: u64 = 2_248_473_465_835_073;
/// Discord's `MANAGE_GUILD` permission bit ("Manage Server").
pub const MANAGE_GUILD: u64 = 1 << 5;
/// A role every fake server has, whose members may manage the server.
pub const MANAGER_ROLE: u64 = 1_300_000_000_000_000_010;
/// The owner of every fake server: nobody the tests act as unless they choose to.
pub const GUILD_OWNER: u64 = 1_300_000_000_000_000_011;
/// The permissions Discord reports the bot has in a channel (`app_permissions`): the same set.
const APP_PERMISSIONS: u64 = MEMBER_PERMISSIONS;
/// Discord's attachment size limit for a server without boosts, 25 MiB.
const ATTACHMENT_SIZE_LIMIT: u64 = 26_214_400;

/// Milliseconds from the Unix epoch to Discord's, 2015-01-01T00:00:00Z.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// The last snowflake handed out, so the next one is strictly larger.
static LAST_SNOWFLAKE: AtomicU64 = AtomicU64::new(0);

/// A fresh snowflake: the current time in its upper bits, like Discord's, and larger than every
/// snowflake handed out before in this process, so ids never repeat even within a millisecond.
pub fn snowflake() -> u64 {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    let millis = u64::try_from(since_unix.as_millis()).expect("milliseconds fit in u64");
    let timed = millis.saturating_sub(DISCORD_EPOCH_MS) << 22;
    let previous = LAST_SNOWFLAKE
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(timed.max(last + 1))
        })
        .expect("the update closure always returns a value");
    timed.max(previous + 1)
}

/// A stable id for `key`: the same within a build every time it is asked for, different for
/// different keys. It stays below `i64::MAX` because Clocky stores ids as SQL integers.
pub fn derived_id(key: impl Hash) -> u64 {
    // `DefaultHasher::new` uses fixed keys, unlike `RandomState`, which is what makes this stable.
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() >> 1).max(1)
}

/// The id of the DM channel between the bot and `user_id`. Derived, not stored, so a DM
/// interaction built before the bot ever opened the channel names the channel the fake will
/// hand out.
pub fn dm_channel_id(user_id: u64) -> u64 {
    derived_id(("dm channel", user_id))
}

/// The characters of URL-safe base64, which Discord's interaction tokens are written in.
const TOKEN_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// How long an interaction token is. Discord's are longer still; this is enough to be unique.
const TOKEN_LENGTH: usize = 72;

/// A random-looking interaction token, different on every call.
pub fn token() -> String {
    // A fresh `RandomState` has fresh keys, so hashing a counter with it gives unrelated bits on
    // every call without a random-number crate.
    let state = RandomState::new();
    let mut text = String::with_capacity(TOKEN_LENGTH);
    let mut block = 0_u64;
    while text.len() < TOKEN_LENGTH {
        let mut bits = state.hash_one(block);
        block += 1;
        for _ in 0..10 {
            let index = usize::try_from(bits % 64).expect("below 64");
            text.push(char::from(TOKEN_ALPHABET[index]));
            bits >>= 6;
        }
    }
    text.truncate(TOKEN_LENGTH);
    text
}

/// Now as Discord writes instants: RFC 3339 with microseconds and an explicit `+00:00`.
pub fn now_timestamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// A user object as Discord embeds it in interactions and messages.
pub fn user_object(id: u64, username: &str) -> Value {
    json!({
        "id": id.to_string(),
        "username": username,
        "discriminator": "0",
        "global_name": username,
        "avatar": null,
        "public_flags": 0,
    })
}

/// The bot's own user object, marked as a bot.
pub fn bot_user_object() -> Value {
    let mut user = user_object(BOT_USER_ID, BOT_USERNAME);
    user["bot"] = json!(true);
    user["global_name"] = Value::Null;
    user
}

/// `GET /gateway` and `GET /gateway/bot`: where to connect, and for the bot route the shard
/// advice and an ample session-start budget.
pub fn gateway_object(url: &str, bot: bool) -> Value {
    if !bot {
        return json!({ "url": url });
    }
    json!({
        "url": url,
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 999,
            "reset_after": 14_400_000,
            "max_concurrency": 1,
        },
    })
}

/// `GET /oauth2/applications/@me`, which poise asks for at start-up to learn the bot's owners.
pub fn application_object() -> Value {
    json!({
        "id": APPLICATION_ID.to_string(),
        "name": BOT_USERNAME,
        "icon": null,
        "description": "",
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "owner": user_object(derived_id("owner"), "owner"),
        "team": null,
        "flags": 0,
        "bot": bot_user_object(),
    })
}

/// The gateway's HELLO (op 10): how often the client must heartbeat.
pub fn hello_frame(heartbeat_interval_ms: u64) -> Value {
    json!({
        "op": 10,
        "s": null,
        "t": null,
        "d": { "heartbeat_interval": heartbeat_interval_ms, "_trace": ["clocky-fake-gateway"] },
    })
}

/// The gateway's HEARTBEAT_ACK (op 11).
pub fn heartbeat_ack_frame() -> Value {
    json!({ "op": 11, "s": null, "t": null, "d": null })
}

/// The gateway's INVALID_SESSION (op 9) saying the session cannot be resumed, which makes
/// serenity identify afresh.
pub fn invalid_session_frame() -> Value {
    json!({ "op": 9, "s": null, "t": null, "d": false })
}

/// A dispatch (op 0) of event `name` with sequence number `sequence`.
pub fn dispatch_frame(name: &str, sequence: u64, data: Value) -> Value {
    json!({ "op": 0, "s": sequence, "t": name, "d": data })
}

/// The READY event's data. `shard` is what the client identified with (`[id, total]`); the
/// guilds are listed as unavailable, as Discord does before sending their GUILD_CREATEs.
pub fn ready_data(session_id: &str, resume_url: &str, shard: Value, guilds: &[u64]) -> Value {
    let guilds: Vec<Value> = guilds
        .iter()
        .map(|id| json!({ "id": id.to_string(), "unavailable": true }))
        .collect();
    let mut user = bot_user_object();
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["flags"] = json!(0);
    user["email"] = Value::Null;
    json!({
        "v": 10,
        "user": user,
        "guilds": guilds,
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "shard": shard,
        "application": { "id": APPLICATION_ID.to_string(), "flags": 0 },
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "session_type": "normal",
        "auth": {},
        "user_settings": {},
        "_trace": ["clocky-fake-gateway"],
    })
}

/// A DM channel object (type 1) between the bot and `user_id`.
pub fn dm_channel_object(user_id: u64, username: &str) -> Value {
    json!({
        "id": dm_channel_id(user_id).to_string(),
        "type": 1,
        "last_message_id": null,
        "flags": 0,
        "recipients": [user_object(user_id, username)],
    })
}

/// A message object as Discord answers a create: what `request` (a create-message, follow-up
/// or interaction-response body) asked for, plus what Discord fills in. Embeds and components
/// are echoed as sent, embeds marked `rich`.
pub fn message_object(id: u64, channel_id: u64, author: Value, request: &Value) -> Value {
    let text = |key: &str| request.get(key).cloned().unwrap_or_else(|| json!(""));
    let list = |key: &str| request.get(key).cloned().unwrap_or_else(|| json!([]));
    let mut embeds = list("embeds");
    for embed in embeds.as_array_mut().into_iter().flatten() {
        if embed.get("type").is_none() {
            embed["type"] = json!("rich");
        }
    }
    let mut message = json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "content": text("content"),
        "timestamp": now_timestamp(),
        "edited_timestamp": null,
        "tts": request.get("tts").cloned().unwrap_or(json!(false)),
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": embeds,
        "pinned": false,
        "type": 0,
        "flags": request.get("flags").cloned().unwrap_or(json!(0)),
        "components": list("components"),
    });
    if let Some(nonce) = request.get("nonce") {
        message["nonce"] = nonce.clone();
    }
    message
}

/// Applies an edit body (`PATCH .../messages/...`) to a stored message: every field the edit
/// names replaces the stored one, and the message is marked edited now.
pub fn apply_edit(message: &mut Value, edit: &Value) {
    for key in ["content", "embeds", "components", "flags"] {
        if let Some(value) = edit.get(key) {
            message[key] = value.clone();
        }
    }
    message["edited_timestamp"] = json!(now_timestamp());
}

/// A registered command as Discord answers `PUT .../commands`: the request's command with the
/// fields Discord adds. Its id is derived from its name, so the id in an injected interaction
/// for that command matches.
pub fn registered_command(request: &Value, guild_id: Option<u64>) -> Value {
    let mut command = request.as_object().cloned().unwrap_or_default();
    let name = command
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    command.insert("id".into(), json!(command_id(&name).to_string()));
    command.insert("application_id".into(), json!(APPLICATION_ID.to_string()));
    command.insert("version".into(), json!(snowflake().to_string()));
    let defaults = [
        ("type", json!(1)),
        ("description", json!("")),
        ("options", json!([])),
        ("default_member_permissions", Value::Null),
        ("nsfw", json!(false)),
    ];
    for (key, value) in defaults {
        command.entry(key).or_insert(value);
    }
    if let Some(guild_id) = guild_id {
        command.insert("guild_id".into(), json!(guild_id.to_string()));
    }
    Value::Object(command)
}

/// The id of the command named `name`, the same whenever it is asked for.
pub fn command_id(name: &str) -> u64 {
    derived_id(("command", name))
}

/// Who invokes an interaction and where: a member in a server channel, or a user in their DM
/// channel with the bot.
#[derive(Debug, Clone)]
pub struct Invoker {
    /// The user's id.
    pub user_id: u64,
    /// The user's name.
    pub username: String,
    /// The server, or `None` in a DM.
    pub guild_id: Option<u64>,
    /// The channel the interaction happens in.
    pub channel_id: u64,
    /// The member's role ids (servers only).
    pub roles: Vec<u64>,
    /// The member's permissions in the channel (servers only).
    pub permissions: u64,
    /// The user's client language.
    pub locale: String,
}

impl Invoker {
    /// A member of `guild_id` in one of its text channels, with ordinary permissions.
    pub fn in_guild(user_id: u64, username: &str, guild_id: u64) -> Self {
        Invoker {
            user_id,
            username: username.to_owned(),
            guild_id: Some(guild_id),
            channel_id: derived_id(("text channel", guild_id)),
            roles: Vec::new(),
            permissions: MEMBER_PERMISSIONS,
            locale: "en-US".to_owned(),
        }
    }

    /// A user in their DM channel with the bot.
    pub fn in_dm(user_id: u64, username: &str) -> Self {
        Invoker {
            user_id,
            username: username.to_owned(),
            guild_id: None,
            channel_id: dm_channel_id(user_id),
            roles: Vec::new(),
            permissions: MEMBER_PERMISSIONS,
            locale: "en-US".to_owned(),
        }
    }
}

/// `GET /guilds/{id}`: a server whose `@everyone` role has [`MEMBER_PERMISSIONS`] and whose
/// "Managers" role ([`MANAGER_ROLE`]) adds [`MANAGE_GUILD`], owned by [`GUILD_OWNER`].
pub fn guild_object(guild_id: u64) -> Value {
    let role = |id: u64, name: &str, permissions: u64, position: u64| {
        json!({
            "id": id.to_string(),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "icon": null,
            "unicode_emoji": null,
            "position": position,
            "permissions": permissions.to_string(),
            "managed": false,
            "mentionable": false,
            "flags": 0,
        })
    };
    json!({
        "id": guild_id.to_string(),
        "name": format!("Server {guild_id}"),
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": GUILD_OWNER.to_string(),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [
            role(guild_id, "@everyone", MEMBER_PERMISSIONS, 0),
            role(MANAGER_ROLE, "Managers", MEMBER_PERMISSIONS | MANAGE_GUILD, 1),
        ],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
    })
}

/// One option of a slash command as the user filled it in.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOption {
    /// The option's name.
    pub name: String,
    /// Its value.
    pub value: OptionValue,
}

/// The value of a [`CommandOption`], one variant per option type Clocky uses.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// Type 3.
    String(String),
    /// Type 4.
    Integer(i64),
    /// Type 5.
    Boolean(bool),
    /// Type 10.
    Number(f64),
    /// Type 1: a subcommand and its own options.
    SubCommand(Vec<CommandOption>),
    /// Type 2: a group of subcommands; holds exactly one subcommand.
    SubCommandGroup(Vec<CommandOption>),
    /// The option the user is typing in during autocomplete: `option_type` is the option's
    /// declared type, and the partial input is sent as a string whatever that type is, as
    /// Discord does.
    Focused {
        /// The declared type (3 string, 4 integer, 10 number).
        option_type: u8,
        /// What the user has typed so far.
        partial: String,
    },
}

impl CommandOption {
    /// A string option.
    pub fn string(name: &str, value: &str) -> Self {
        Self::new(name, OptionValue::String(value.to_owned()))
    }

    /// An integer option.
    pub fn integer(name: &str, value: i64) -> Self {
        Self::new(name, OptionValue::Integer(value))
    }

    /// A boolean option.
    pub fn boolean(name: &str, value: bool) -> Self {
        Self::new(name, OptionValue::Boolean(value))
    }

    /// A number option.
    pub fn number(name: &str, value: f64) -> Self {
        Self::new(name, OptionValue::Number(value))
    }

    /// A subcommand, such as `start` in `/break start`.
    pub fn subcommand(name: &str, options: Vec<CommandOption>) -> Self {
        Self::new(name, OptionValue::SubCommand(options))
    }

    /// A subcommand group, such as `privacy` in `/settings privacy leaderboard`.
    pub fn group(name: &str, subcommand: CommandOption) -> Self {
        Self::new(name, OptionValue::SubCommandGroup(vec![subcommand]))
    }

    /// A string option being typed in, for [`autocomplete`].
    pub fn focused(name: &str, partial: &str) -> Self {
        Self::focused_as(name, 3, partial)
    }

    /// An option of declared type `option_type` being typed in, for [`autocomplete`].
    pub fn focused_as(name: &str, option_type: u8, partial: &str) -> Self {
        let partial = partial.to_owned();
        Self::new(
            name,
            OptionValue::Focused {
                option_type,
                partial,
            },
        )
    }

    fn new(name: &str, value: OptionValue) -> Self {
        CommandOption {
            name: name.to_owned(),
            value,
        }
    }

    /// The option as it appears in an interaction's `data.options`.
    fn to_json(&self) -> Value {
        let nested = |options: &[CommandOption]| -> Vec<Value> {
            options.iter().map(CommandOption::to_json).collect()
        };
        let (option_type, mut object) = match &self.value {
            OptionValue::String(text) => (3, json!({ "value": text })),
            OptionValue::Integer(number) => (4, json!({ "value": number })),
            OptionValue::Boolean(flag) => (5, json!({ "value": flag })),
            OptionValue::Number(number) => (10, json!({ "value": number })),
            // serenity requires `options` on subcommands even when they are empty.
            OptionValue::SubCommand(options) => (1, json!({ "options": nested(options) })),
            OptionValue::SubCommandGroup(options) => (2, json!({ "options": nested(options) })),
            OptionValue::Focused {
                option_type,
                partial,
            } => (*option_type, json!({ "value": partial, "focused": true })),
        };
        object["name"] = json!(self.name);
        object["type"] = json!(option_type);
        object
    }

    /// Whether this option, or one nested in it, is the focused one.
    fn has_focus(&self) -> bool {
        match &self.value {
            OptionValue::Focused { .. } => true,
            OptionValue::SubCommand(options) | OptionValue::SubCommandGroup(options) => {
                options.iter().any(CommandOption::has_focus)
            }
            _ => false,
        }
    }
}

/// An interaction ready to inject with [`FakeDiscord::interact`](super::FakeDiscord::interact):
/// its id and token (to find its callback and webhook calls afterwards) and the dispatch data.
#[derive(Debug, Clone)]
pub struct InteractionFixture {
    /// The interaction's id, the `{interaction_id}` of its callback URL.
    pub id: u64,
    /// The interaction's token, the `{token}` of its callback and webhook URLs.
    pub token: String,
    /// The INTERACTION_CREATE dispatch's `d`.
    pub payload: Value,
}

/// A slash command (interaction type 2) named `name` with `options`.
pub fn slash_command(who: &Invoker, name: &str, options: Vec<CommandOption>) -> InteractionFixture {
    interaction(who, 2, command_data(name, &options), None)
}

/// An autocomplete request (interaction type 4) while the user types into the option marked
/// with [`CommandOption::focused`].
///
/// # Panics
///
/// When no option is focused: Discord never sends such a request.
pub fn autocomplete(who: &Invoker, name: &str, options: Vec<CommandOption>) -> InteractionFixture {
    assert!(
        options.iter().any(CommandOption::has_focus),
        "an autocomplete interaction needs a focused option: {options:?}"
    );
    interaction(who, 4, command_data(name, &options), None)
}

/// A press of the button `custom_id` (interaction type 3, component type 2) on `message`, a
/// message object such as one the fake recorded. The interaction happens in the message's
/// channel.
pub fn button_press(who: &Invoker, message: &Value, custom_id: &str) -> InteractionFixture {
    let data = json!({ "custom_id": custom_id, "component_type": 2 });
    interaction(who, 3, data, Some(message.clone()))
}

fn command_data(name: &str, options: &[CommandOption]) -> Value {
    json!({
        "id": command_id(name).to_string(),
        "name": name,
        "type": 1,
        "options": options.iter().map(CommandOption::to_json).collect::<Vec<_>>(),
    })
}

/// The parts every interaction type shares. In a server the user comes inside `member`; in a DM
/// it comes alone as `user`, and serenity fills one from the other.
fn interaction(who: &Invoker, kind: u8, data: Value, message: Option<Value>) -> InteractionFixture {
    let id = snowflake();
    let token = token();
    let user = user_object(who.user_id, &who.username);

    // A component interaction happens where its message is.
    let channel_id = message
        .as_ref()
        .and_then(|message| message["channel_id"].as_str())
        .map_or(who.channel_id.to_string(), str::to_owned);

    let mut payload = Map::new();
    payload.insert("id".into(), json!(id.to_string()));
    payload.insert("application_id".into(), json!(APPLICATION_ID.to_string()));
    payload.insert("type".into(), json!(kind));
    payload.insert("data".into(), data);
    payload.insert("channel_id".into(), json!(channel_id));
    payload.insert("token".into(), json!(token));
    payload.insert("version".into(), json!(1));
    payload.insert("app_permissions".into(), json!(APP_PERMISSIONS.to_string()));
    payload.insert("locale".into(), json!(who.locale));
    payload.insert("entitlements".into(), json!([]));
    payload.insert("attachment_size_limit".into(), json!(ATTACHMENT_SIZE_LIMIT));
    if let Some(message) = message {
        payload.insert("message".into(), message);
    }

    match who.guild_id {
        Some(guild_id) => {
            let roles: Vec<String> = who.roles.iter().map(u64::to_string).collect();
            let member = json!({
                "user": user,
                "roles": roles,
                "joined_at": "2024-01-01T00:00:00.000000+00:00",
                "premium_since": null,
                "nick": null,
                "avatar": null,
                "banner": null,
                "deaf": false,
                "mute": false,
                "pending": false,
                "flags": 0,
                "permissions": who.permissions.to_string(),
                "communication_disabled_until": null,
                "unusual_dm_activity_until": null,
            });
            let channel = json!({
                "id": channel_id,
                "type": 0,
                "name": "general",
                "guild_id": guild_id.to_string(),
                "permissions": who.permissions.to_string(),
            });
            payload.insert("guild_id".into(), json!(guild_id.to_string()));
            payload.insert("guild_locale".into(), json!("en-US"));
            payload.insert("member".into(), member);
            payload.insert("channel".into(), channel);
            payload.insert(
                "authorizing_integration_owners".into(),
                json!({ "0": guild_id.to_string() }),
            );
            payload.insert("context".into(), json!(0));
        }
        None => {
            let channel = json!({
                "id": channel_id,
                "type": 1,
                "flags": 0,
                "recipients": [user.clone()],
            });
            payload.insert("user".into(), user);
            payload.insert("channel".into(), channel);
            // "0" is how Discord says "installed to a server, used in the bot's DM".
            payload.insert("authorizing_integration_owners".into(), json!({ "0": "0" }));
            payload.insert("context".into(), json!(1));
        }
    }

    InteractionFixture {
        id,
        token,
        payload: Value::Object(payload),
    }
}
