//! A fake Discord on `127.0.0.1:0` for tests that run the real serenity client (and poise on
//! top of it) over real HTTP and WebSocket.
//!
//! A test starts a [`FakeDiscord`], points serenity at it the way production does
//! (`HttpBuilder::new(token).proxy(fake.api_base()).ratelimiter_disabled(true)`, see
//! [`FakeDiscord::http`]), and starts the client. serenity asks `GET /api/v10/gateway` for the
//! WebSocket URL, connects, identifies and gets READY. The test then injects interactions built
//! with [`payloads`] through [`FakeDiscord::interact`], and reads back what the bot did: every
//! REST request is recorded with its body, its answer and the instant it arrived.
//!
//! Tests never sleep blindly: the `wait_*` methods sleep until the recorded state satisfies a
//! condition, and when it never does they panic with a dump of every request and gateway frame.
//!
//! The fake imitates what Clocky's bot relies on and no more; [`rest`] lists what it leaves
//! out. Dropping the fake stops the server and hangs up every gateway connection.
//!
//! - [`gateway`]: HELLO, IDENTIFY, READY, heartbeats, dispatches.
//! - [`rest`]: commands, interaction callbacks and webhooks, DM channels and messages, scripted
//!   failures.
//! - [`payloads`]: the JSON objects, and builders for slash commands, autocomplete and buttons.
//! - [`state`]: what is recorded, and the lock and change counter around it.

mod gateway;
pub mod payloads;
mod rest;
mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use serenity::http::{Http, HttpBuilder};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

pub use payloads::{
    APPLICATION_ID, BOT_TOKEN, BOT_USER_ID, BOT_USERNAME, CommandOption, GUILD_OWNER,
    InteractionFixture, Invoker, MANAGE_GUILD, MANAGER_ROLE, OptionValue, autocomplete,
    button_press, dm_channel_id, slash_command,
};
pub use state::{Direction, Failure, GatewayFrame, RecordedRequest};

use state::{InteractionRecord, Shared, State};

/// How long the `wait_*` conveniences wait before they give up. Generous, because a loaded
/// machine can be slow; a passing test never waits this long.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// What a test may change about the fake.
#[derive(Debug, Clone)]
pub struct FakeDiscordConfig {
    /// The heartbeat interval announced in HELLO. Discord's is 41.25 s, longer than any test;
    /// a short one makes serenity heartbeat during the test.
    pub heartbeat_interval: Duration,
    /// The servers listed (as unavailable) in READY.
    pub guilds: Vec<u64>,
}

impl Default for FakeDiscordConfig {
    fn default() -> Self {
        FakeDiscordConfig {
            heartbeat_interval: Duration::from_millis(41_250),
            guilds: Vec::new(),
        }
    }
}

/// A running fake Discord. See the module documentation.
#[derive(Debug)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeDiscord {
    /// Starts a fake with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(FakeDiscordConfig::default()).await
    }

    /// Starts a fake on a free port of `127.0.0.1`.
    ///
    /// # Panics
    ///
    /// When no port can be bound.
    pub async fn start_with(config: FakeDiscordConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1 for the fake Discord");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            config,
            api_base: format!("http://{address}"),
            gateway_url: format!("ws://{address}/gateway"),
            started: Instant::now(),
            state: Mutex::new(State::default()),
            changes: watch::Sender::new(0),
        });
        let router = Router::new()
            .route("/gateway", get(gateway::upgrade))
            .fallback(rest::handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("the fake Discord stopped serving: {error}");
            }
        });
        FakeDiscord { shared, server }
    }

    /// What goes into `HttpBuilder::proxy`: `http://127.0.0.1:PORT`.
    pub fn api_base(&self) -> String {
        self.shared.api_base.clone()
    }

    /// The WebSocket URL `GET /gateway` hands out: `ws://127.0.0.1:PORT/gateway`.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url.clone()
    }

    /// An HTTP client built the way production builds it, with the fake's bot token.
    pub fn http(&self) -> Http {
        HttpBuilder::new(BOT_TOKEN)
            .proxy(self.api_base())
            .ratelimiter_disabled(true)
            .build()
    }

    /// Every REST request so far, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every gateway frame so far, both ways, all connections.
    pub fn gateway_log(&self) -> Vec<GatewayFrame> {
        self.shared.lock().frames.clone()
    }

    /// How many gateway connections have identified and been sent READY and are still open.
    pub fn ready_sessions(&self) -> usize {
        let state = self.shared.lock();
        state
            .sessions
            .iter()
            .filter(|session| session.ready)
            .count()
    }

    /// The bodies of every callback posted for interaction `interaction_id`, accepted or not.
    pub fn callbacks_for(&self, interaction_id: u64) -> Vec<Value> {
        let path_start = format!("/api/v10/interactions/{interaction_id}/");
        self.bodies(|request| {
            request.method == "POST"
                && request.path.starts_with(&path_start)
                && request.path.ends_with("/callback")
        })
    }

    /// The bodies of every `PATCH` of the original response of the interaction with `token`.
    pub fn original_edits(&self, token: &str) -> Vec<Value> {
        let path = format!("/api/v10/webhooks/{APPLICATION_ID}/{token}/messages/@original");
        self.bodies(|request| request.is("PATCH", &path))
    }

    /// The original response of the interaction with `token` as it stands now, after edits.
    pub fn original_response(&self, token: &str) -> Option<Value> {
        let state = self.shared.lock();
        state.interactions.get(token)?.original.clone()
    }

    /// The follow-up messages of the interaction with `token` as they stand now.
    pub fn followups(&self, token: &str) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .interactions
            .get(token)
            .map(|interaction| interaction.followups.clone())
            .unwrap_or_default()
    }

    /// The messages actually created in `user_id`'s DM channel: refused, failed and deduplicated
    /// sends are not among them.
    pub fn dm_messages_to(&self, user_id: u64) -> Vec<Value> {
        self.messages_in(dm_channel_id(user_id))
    }

    /// The messages created in channel `channel_id`.
    pub fn messages_in(&self, channel_id: u64) -> Vec<Value> {
        let channel = channel_id.to_string();
        let state = self.shared.lock();
        let in_channel = state
            .messages
            .iter()
            .filter(|message| message["channel_id"] == channel);
        in_channel.cloned().collect()
    }

    /// The global commands as last registered.
    pub fn global_commands(&self) -> Vec<Value> {
        self.shared.lock().global_commands.clone()
    }

    /// The commands of server `guild_id` as last registered.
    pub fn guild_commands(&self, guild_id: u64) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .guild_commands
            .get(&guild_id)
            .cloned()
            .unwrap_or_default()
    }

    /// From now on, messages to `user_id`'s DM channel are refused with 403 and Discord's
    /// code 50007, as when the user does not accept DMs from the bot.
    pub fn close_dms(&self, user_id: u64) {
        self.shared.lock().closed_dms.insert(user_id);
        self.shared.touch();
    }

    /// Undoes [`FakeDiscord::close_dms`].
    pub fn open_dms(&self, user_id: u64) {
        self.shared.lock().closed_dms.remove(&user_id);
        self.shared.touch();
    }

    /// Scripts temporary failures for the next messages to `user_id`'s DM channel: each is
    /// served once, in order, after any scripted before; then messages go through again.
    pub fn fail_dms(&self, user_id: u64, failures: Vec<Failure>) {
        let mut state = self.shared.lock();
        state
            .dm_failures
            .entry(user_id)
            .or_default()
            .extend(failures);
        drop(state);
        self.shared.touch();
    }

    /// Sends `interaction` as an INTERACTION_CREATE dispatch to every ready gateway session,
    /// waiting for one first, and makes its callback and webhook routes known.
    ///
    /// # Panics
    ///
    /// When no session becomes ready within [`DEFAULT_WAIT`].
    pub async fn interact(&self, interaction: &InteractionFixture) {
        self.wait_ready().await;

        let payload = &interaction.payload;
        let channel_id = payload["channel_id"]
            .as_str()
            .and_then(|id| id.parse().ok());
        let user = match payload.get("member") {
            Some(member) => &member["user"],
            None => &payload["user"],
        };
        let mut state = self.shared.lock();
        if let (Some(id), Some(name)) = (user["id"].as_str(), user["username"].as_str())
            && let Ok(id) = id.parse()
        {
            state.usernames.insert(id, name.to_owned());
        }
        // A component's message is what `@original` edits for a component interaction.
        let record = InteractionRecord {
            id: interaction.id,
            channel_id: channel_id.expect("interaction payloads name their channel"),
            acknowledged: false,
            original: payload.get("message").cloned(),
            followups: Vec::new(),
        };
        state.interactions.insert(interaction.token.clone(), record);
        drop(state);

        let sessions = gateway::dispatch(&self.shared, "INTERACTION_CREATE", payload);
        assert!(
            sessions > 0,
            "the gateway session closed before the interaction went out"
        );
    }

    /// Sends any dispatch (`GUILD_CREATE`, say) to every ready gateway session, waiting for one
    /// first. Returns how many sessions it went to.
    pub async fn dispatch(&self, event: &str, data: &Value) -> usize {
        self.wait_ready().await;
        gateway::dispatch(&self.shared, event, data)
    }

    /// Waits until a gateway session has identified and been sent READY.
    pub async fn wait_ready(&self) {
        self.wait_state("a gateway session to be ready", DEFAULT_WAIT, |state| {
            state
                .sessions
                .iter()
                .any(|session| session.ready)
                .then_some(())
        })
        .await;
    }

    /// Waits until `check` finds what it looks for among the recorded requests, and returns it.
    ///
    /// # Panics
    ///
    /// After `timeout`, with `what` and a dump of everything recorded.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&[RecordedRequest]) -> Option<T>,
    ) -> T {
        self.wait_state(what, timeout, |state| check(&state.requests))
            .await
    }

    /// Like [`FakeDiscord::wait_for`], over the gateway frames.
    pub async fn wait_for_frames<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&[GatewayFrame]) -> Option<T>,
    ) -> T {
        self.wait_state(what, timeout, |state| check(&state.frames))
            .await
    }

    /// Waits for the first callback to interaction `interaction_id` and returns its body.
    pub async fn wait_for_callback(&self, interaction_id: u64) -> Value {
        let path_start = format!("/api/v10/interactions/{interaction_id}/");
        let what = format!("a callback to interaction {interaction_id}");
        self.wait_for(&what, DEFAULT_WAIT, |requests| {
            let callback = requests
                .iter()
                .find(|request| request.method == "POST" && request.path.starts_with(&path_start));
            callback.map(|request| request.body.clone())
        })
        .await
    }

    /// Waits until at least `count` messages were created in `user_id`'s DM channel, and
    /// returns them all.
    pub async fn wait_for_dms(&self, user_id: u64, count: usize) -> Vec<Value> {
        let channel = dm_channel_id(user_id).to_string();
        let what = format!("{count} DM(s) to user {user_id}");
        self.wait_state(&what, DEFAULT_WAIT, |state| {
            let messages: Vec<Value> = state
                .messages
                .iter()
                .filter(|message| message["channel_id"] == channel)
                .cloned()
                .collect();
            (messages.len() >= count).then_some(messages)
        })
        .await
    }

    /// Waits until global commands were registered, and returns them.
    pub async fn wait_for_global_commands(&self) -> Vec<Value> {
        self.wait_state("global commands to be registered", DEFAULT_WAIT, |state| {
            let commands = &state.global_commands;
            (!commands.is_empty()).then(|| commands.clone())
        })
        .await
    }

    /// The waiter behind all the others. It subscribes to the change counter before the first
    /// check, so a change between a check and the sleep still wakes it.
    async fn wait_state<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut changes = self.shared.changes.subscribe();
        loop {
            if let Some(found) = check(&self.shared.lock()) {
                return found;
            }
            // `changed` fails only when the sender is gone, and `self.shared` holds it.
            if timeout_at(deadline, changes.changed()).await.is_err() {
                break;
            }
        }
        let state = self.shared.lock();
        if let Some(found) = check(&state) {
            return found;
        }
        panic!(
            "waited {timeout:?} for {what}, in vain. The fake Discord recorded:\n{}",
            state.dump(self.shared.started)
        );
    }

    /// The bodies of the recorded requests that `filter` picks.
    fn bodies(&self, filter: impl Fn(&RecordedRequest) -> bool) -> Vec<Value> {
        let state = self.shared.lock();
        let picked = state.requests.iter().filter(|request| filter(request));
        picked.map(|request| request.body.clone()).collect()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        // Aborting the server stops new connections; clearing the sessions drops their senders,
        // which ends each session's task and closes its WebSocket.
        self.server.abort();
        self.shared.lock().sessions.clear();
    }
}
