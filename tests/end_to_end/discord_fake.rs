//! The fake Discord of `tests/harness/discord`, checked against serenity itself: every payload
//! it sends deserializes with serenity's models and carries what the test put in; a real
//! serenity client connects, receives an injected interaction and answers it; and DMs, closed
//! DMs, nonce deduplication and scripted failures behave as Discord's do.
//!
//! serenity turns a gateway dispatch it cannot deserialize into an "unknown event" that no
//! handler sees, so a fake payload with a missing field would not fail loudly anywhere else:
//! that is what the deserialization tests are for.

use std::sync::Arc;
use std::time::Duration;

use clocky_tests::discord::payloads::{
    self, application_object, dispatch_frame, dm_channel_object, gateway_object,
    heartbeat_ack_frame, hello_frame, invalid_session_frame, message_object, ready_data,
    registered_command,
};
use clocky_tests::discord::{
    APPLICATION_ID, BOT_TOKEN, BOT_USER_ID, CommandOption, DEFAULT_WAIT, Direction, Failure,
    FakeDiscord, InteractionFixture, Invoker, autocomplete, button_press, dm_channel_id,
    slash_command,
};
use serde_json::{Value, json};
use serenity::all::{
    BotGateway, ButtonKind, ButtonStyle, Channel, ClientBuilder, Command, CommandDataOption,
    CommandDataOptionValue, CommandOptionType, ComponentInteractionDataKind, Context,
    CreateActionRow, CreateButton, CreateEmbed, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateMessage, CurrentApplicationInfo, Event, EventHandler,
    GatewayError, GatewayEvent, GatewayIntents, Http, HttpBuilder, HttpError, Interaction, Message,
    Nonce, Permissions, Ready, UserId,
};
use tokio::sync::mpsc;

const ALICE: u64 = 123_456_789_012_345_678;
const BOB: u64 = 223_456_789_012_345_678;
const WORK: u64 = 987_654_321_098_765_432;

/// A frame as serenity's shard reads it.
fn gateway_event(frame: &Value) -> GatewayEvent {
    serde_json::from_value(frame.clone())
        .unwrap_or_else(|error| panic!("serenity rejects the frame {frame}: {error}"))
}

/// An interaction fixture as serenity's event handler receives it: through a whole dispatch
/// frame, so an interaction serenity could not read shows up as `Event::Unknown` and fails here.
fn delivered(fixture: &InteractionFixture) -> Interaction {
    let frame = dispatch_frame("INTERACTION_CREATE", 7, fixture.payload.clone());
    match gateway_event(&frame) {
        GatewayEvent::Dispatch(7, Event::InteractionCreate(event)) => event.interaction,
        other => panic!("not read as an interaction: {other:?}\nframe: {frame}"),
    }
}

/// A value serenity deserializes as `T`, or a panic naming the JSON.
fn parse<T: serde::de::DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|error| panic!("serenity rejects {value}: {error}"))
}

fn option<'a>(options: &'a [CommandDataOption], name: &str) -> &'a CommandDataOptionValue {
    let found = options.iter().find(|option| option.name == name);
    &found
        .unwrap_or_else(|| panic!("no option {name} in {options:?}"))
        .value
}

#[test]
fn serenity_reads_every_gateway_frame_the_fake_sends() {
    assert!(matches!(
        gateway_event(&hello_frame(41_250)),
        GatewayEvent::Hello(41_250)
    ));
    assert!(matches!(
        gateway_event(&heartbeat_ack_frame()),
        GatewayEvent::HeartbeatAck
    ));
    assert!(matches!(
        gateway_event(&invalid_session_frame()),
        GatewayEvent::InvalidateSession(false)
    ));

    let data = ready_data(
        "session-1",
        "ws://127.0.0.1:9/gateway",
        json!([0, 1]),
        &[WORK],
    );
    let ready = match gateway_event(&dispatch_frame("READY", 1, data)) {
        GatewayEvent::Dispatch(1, Event::Ready(event)) => event.ready,
        other => panic!("READY was not read as READY: {other:?}"),
    };
    assert_eq!(ready.version, 10);
    assert_eq!(ready.user.id.get(), BOT_USER_ID);
    assert!(ready.user.bot);
    assert_eq!(ready.application.id.get(), APPLICATION_ID);
    assert_eq!(ready.session_id, "session-1");
    assert_eq!(ready.resume_gateway_url, "ws://127.0.0.1:9/gateway");
    let shard = ready.shard.expect("the shard is echoed");
    assert_eq!((shard.id.0, shard.total), (0, 1));
    assert_eq!(ready.guilds.len(), 1);
    assert_eq!(ready.guilds[0].id.get(), WORK);
    assert!(ready.guilds[0].unavailable);
}

#[test]
fn a_server_slash_command_arrives_with_member_and_every_option_type() {
    let mut alice = Invoker::in_guild(ALICE, "alice", WORK);
    alice.roles = vec![555];
    let fixture = slash_command(
        &alice,
        "export",
        vec![
            CommandOption::string("format", "json"),
            CommandOption::integer("days", 30),
            CommandOption::boolean("public", true),
            CommandOption::number("hours", 7.5),
        ],
    );
    let Interaction::Command(command) = delivered(&fixture) else {
        panic!("a slash command is a command interaction");
    };

    assert_eq!(command.id.get(), fixture.id);
    assert_eq!(command.token, fixture.token);
    assert_eq!(command.application_id.get(), APPLICATION_ID);
    assert_eq!(command.guild_id.map(|id| id.get()), Some(WORK));
    assert_eq!(command.channel_id.get(), alice.channel_id);
    // In a server the user comes inside `member`, and serenity copies it to `user`.
    assert_eq!(command.user.id.get(), ALICE);
    assert_eq!(command.user.name, "alice");
    let member = command
        .member
        .as_ref()
        .expect("a server interaction has a member");
    assert_eq!(member.user.id.get(), ALICE);
    assert_eq!(member.guild_id.get(), WORK);
    assert_eq!(member.roles.len(), 1);
    assert_eq!(member.roles[0].get(), 555);
    // serenity keeps the permission bits it knows of Discord's default set, and drops newer ones.
    let permissions = member
        .permissions
        .expect("a server interaction has the member's permissions");
    assert_eq!(
        permissions,
        Permissions::from_bits_truncate(payloads::MEMBER_PERMISSIONS)
    );
    assert!(
        permissions.contains(Permissions::SEND_MESSAGES | Permissions::USE_APPLICATION_COMMANDS)
    );
    assert!(
        !permissions.contains(Permissions::MANAGE_GUILD),
        "an ordinary member"
    );

    assert_eq!(command.data.name, "export");
    assert_eq!(command.data.id.get(), payloads::command_id("export"));
    let options = &command.data.options;
    assert_eq!(options.len(), 4);
    assert_eq!(
        option(options, "format"),
        &CommandDataOptionValue::String("json".into())
    );
    assert_eq!(
        option(options, "days"),
        &CommandDataOptionValue::Integer(30)
    );
    assert_eq!(
        option(options, "public"),
        &CommandDataOptionValue::Boolean(true)
    );
    assert_eq!(
        option(options, "hours"),
        &CommandDataOptionValue::Number(7.5)
    );
}

#[test]
fn subcommands_and_groups_arrive_nested() {
    let alice = Invoker::in_guild(ALICE, "alice", WORK);

    // `/break start`: a subcommand without options.
    let fixture = slash_command(
        &alice,
        "break",
        vec![CommandOption::subcommand("start", vec![])],
    );
    let Interaction::Command(command) = delivered(&fixture) else {
        panic!("a slash command is a command interaction");
    };
    assert_eq!(command.data.name, "break");
    assert_eq!(command.data.options.len(), 1);
    assert_eq!(command.data.options[0].name, "start");
    assert_eq!(
        command.data.options[0].value,
        CommandDataOptionValue::SubCommand(vec![])
    );

    // `/privacy leaderboard on`, once as group and subcommand and once as a subcommand with a
    // boolean option, since either is a way to declare it.
    let group = CommandOption::group("leaderboard", CommandOption::subcommand("on", vec![]));
    let fixture = slash_command(&alice, "privacy", vec![group]);
    let Interaction::Command(command) = delivered(&fixture) else {
        panic!("a slash command is a command interaction");
    };
    let CommandDataOptionValue::SubCommandGroup(inside) = &command.data.options[0].value else {
        panic!("not a group: {:?}", command.data.options);
    };
    assert_eq!(command.data.options[0].name, "leaderboard");
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].name, "on");
    assert_eq!(inside[0].value, CommandDataOptionValue::SubCommand(vec![]));

    let subcommand = CommandOption::subcommand(
        "leaderboard",
        vec![CommandOption::boolean("visible", false)],
    );
    let fixture = slash_command(&alice, "privacy", vec![subcommand]);
    let Interaction::Command(command) = delivered(&fixture) else {
        panic!("a slash command is a command interaction");
    };
    let CommandDataOptionValue::SubCommand(inside) = &command.data.options[0].value else {
        panic!("not a subcommand: {:?}", command.data.options);
    };
    assert_eq!(
        option(inside, "visible"),
        &CommandDataOptionValue::Boolean(false)
    );
}

#[test]
fn a_dm_slash_command_has_a_user_and_no_server() {
    let alice = Invoker::in_dm(ALICE, "alice");
    let fixture = slash_command(&alice, "data-export", vec![]);
    let Interaction::Command(command) = delivered(&fixture) else {
        panic!("a slash command is a command interaction");
    };
    assert_eq!(command.guild_id, None);
    assert!(command.member.is_none());
    assert_eq!(command.user.id.get(), ALICE);
    assert_eq!(command.channel_id.get(), dm_channel_id(ALICE));
    assert_eq!(command.data.name, "data-export");
    assert!(command.data.options.is_empty());
    assert_eq!(command.token, fixture.token);
}

#[test]
fn autocomplete_names_the_focused_option_and_its_partial_text() {
    let alice = Invoker::in_guild(ALICE, "alice", WORK);
    let fixture = autocomplete(
        &alice,
        "timezone",
        vec![CommandOption::subcommand(
            "set",
            vec![CommandOption::focused("zone", "Europe/Ber")],
        )],
    );
    let Interaction::Autocomplete(request) = delivered(&fixture) else {
        panic!("type 4 is an autocomplete interaction");
    };
    assert_eq!(request.id.get(), fixture.id);
    assert_eq!(request.data.name, "timezone");
    let focused = request.data.autocomplete().expect("a focused option");
    assert_eq!(focused.name, "zone");
    assert_eq!(focused.value, "Europe/Ber");
    assert_eq!(focused.kind, CommandOptionType::String);

    // An integer option being typed in still arrives as text.
    let fixture = autocomplete(
        &alice,
        "report",
        vec![CommandOption::focused_as("days", 4, "1")],
    );
    let Interaction::Autocomplete(request) = delivered(&fixture) else {
        panic!("type 4 is an autocomplete interaction");
    };
    let focused = request.data.autocomplete().expect("a focused option");
    assert_eq!((focused.name, focused.value), ("days", "1"));
    assert_eq!(focused.kind, CommandOptionType::Integer);
}

#[test]
fn a_button_press_carries_its_custom_id_and_message() {
    let request = json!({
        "content": "Your export is ready.",
        "components": [{
            "type": 1,
            "components": [{ "type": 2, "style": 1, "label": "Again", "custom_id": "export:again" }],
        }],
    });
    let message = message_object(
        4242,
        dm_channel_id(ALICE),
        payloads::bot_user_object(),
        &request,
    );
    let alice = Invoker::in_dm(ALICE, "alice");
    let fixture = button_press(&alice, &message, "export:again");
    let Interaction::Component(press) = delivered(&fixture) else {
        panic!("type 3 is a component interaction");
    };
    assert_eq!(press.id.get(), fixture.id);
    assert_eq!(press.token, fixture.token);
    assert_eq!(press.data.custom_id, "export:again");
    assert!(
        matches!(press.data.kind, ComponentInteractionDataKind::Button),
        "{:?}",
        press.data.kind
    );
    assert_eq!(press.user.id.get(), ALICE);
    assert_eq!(press.channel_id.get(), dm_channel_id(ALICE));
    assert_eq!(press.message.id.get(), 4242);
    assert_eq!(press.message.content, "Your export is ready.");
    assert_eq!(press.message.author.id.get(), BOT_USER_ID);
}

#[test]
fn serenity_reads_every_rest_answer_the_fake_gives() {
    let bot = parse::<BotGateway>(&gateway_object("ws://127.0.0.1:9/gateway", true));
    assert_eq!(bot.url, "ws://127.0.0.1:9/gateway");
    assert_eq!(bot.shards, 1);

    let application = parse::<CurrentApplicationInfo>(&application_object());
    assert_eq!(application.id.get(), APPLICATION_ID);

    let Channel::Private(channel) = parse::<Channel>(&dm_channel_object(ALICE, "alice")) else {
        panic!("type 1 is a DM channel");
    };
    assert_eq!(channel.id.get(), dm_channel_id(ALICE));
    assert_eq!(channel.recipient.id.get(), ALICE);

    let request = json!({ "name": "break", "description": "Take a break", "options": [
        { "type": 1, "name": "start", "description": "Start a break" },
    ] });
    let command = parse::<Command>(&registered_command(&request, Some(WORK)));
    assert_eq!(command.id.get(), payloads::command_id("break"));
    assert_eq!(command.application_id.get(), APPLICATION_ID);
    assert_eq!(command.guild_id.map(|id| id.get()), Some(WORK));
    assert_eq!(command.options.len(), 1);
    assert_eq!(command.options[0].name, "start");

    let request = json!({
        "content": "hello",
        "nonce": "export-7",
        "enforce_nonce": true,
        "embeds": [{ "title": "Export", "description": "ready" }],
        "components": [{
            "type": 1,
            "components": [{ "type": 2, "style": 1, "label": "Again", "custom_id": "again" }],
        }],
    });
    let message = parse::<Message>(&message_object(
        77,
        88,
        payloads::bot_user_object(),
        &request,
    ));
    assert_eq!((message.id.get(), message.channel_id.get()), (77, 88));
    assert_eq!(message.content, "hello");
    assert_eq!(message.author.id.get(), BOT_USER_ID);
    assert!(
        matches!(&message.nonce, Some(Nonce::String(nonce)) if nonce == "export-7"),
        "{:?}",
        message.nonce
    );
    assert_eq!(message.embeds[0].title.as_deref(), Some("Export"));
    assert_eq!(message.embeds[0].kind.as_deref(), Some("rich"));
    let serenity::all::ActionRowComponent::Button(button) = &message.components[0].components[0]
    else {
        panic!("the echoed component is a button: {:?}", message.components);
    };
    assert_eq!(
        button.data,
        ButtonKind::NonLink {
            custom_id: "again".into(),
            style: ButtonStyle::Primary,
        }
    );
}

/// What the test's event handler saw.
#[derive(Debug)]
enum Seen {
    Ready(Box<Ready>),
    /// An interaction and whether answering it succeeded.
    Interaction(Box<Interaction>, bool),
}

/// Records what serenity hands it, and answers commands with "pong, NAME" (ephemeral) and
/// button presses by updating the message.
struct Recorder {
    seen: mpsc::UnboundedSender<Seen>,
}

#[serenity::async_trait]
impl EventHandler for Recorder {
    async fn ready(&self, _context: Context, ready: Ready) {
        // The receiver lives as long as the test that reads it.
        let _ = self.seen.send(Seen::Ready(Box::new(ready)));
    }

    async fn interaction_create(&self, context: Context, interaction: Interaction) {
        let answered = match &interaction {
            Interaction::Command(command) => {
                let message = CreateInteractionResponseMessage::new()
                    .content(format!("pong, {}", command.user.name))
                    .ephemeral(true);
                let response = CreateInteractionResponse::Message(message);
                command.create_response(&context.http, response).await
            }
            Interaction::Component(press) => {
                let message = CreateInteractionResponseMessage::new().content("Again it is.");
                let response = CreateInteractionResponse::UpdateMessage(message);
                press.create_response(&context.http, response).await
            }
            _ => Ok(()),
        };
        let _ = self
            .seen
            .send(Seen::Interaction(Box::new(interaction), answered.is_ok()));
    }
}

/// A real serenity client built as production builds it, started in the background.
struct RunningClient {
    http: Arc<Http>,
    seen: mpsc::UnboundedReceiver<Seen>,
    shards: Arc<serenity::all::ShardManager>,
    task: tokio::task::JoinHandle<serenity::Result<()>>,
}

impl RunningClient {
    async fn start(http: Http) -> Self {
        let (sender, seen) = mpsc::unbounded_channel();
        let mut client = client_builder(http)
            .event_handler(Recorder { seen: sender })
            .await
            .expect("the client builds");
        let http = Arc::clone(&client.http);
        let shards = Arc::clone(&client.shard_manager);
        let task = tokio::spawn(async move { client.start().await });
        RunningClient {
            http,
            seen,
            shards,
            task,
        }
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(DEFAULT_WAIT, self.seen.recv())
            .await
            .expect("the event handler was called in time")
            .expect("the handler is alive")
    }

    async fn stop(self) {
        self.shards.shutdown_all().await;
        let result = self.task.await.expect("the client task did not panic");
        result.expect("the client stopped cleanly");
    }
}

/// The client builder as production makes it: from a ready `Http`, without `.token()`, which
/// would replace that `Http` and its proxy.
fn client_builder(http: Http) -> ClientBuilder {
    ClientBuilder::new_with_http(http, GatewayIntents::non_privileged())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_serenity_client_connects_answers_an_interaction_and_sends_dms() {
    let fake = FakeDiscord::start().await;
    let mut client = RunningClient::start(fake.http()).await;

    // READY reaches the handler, and serenity learns the application id from it.
    let Seen::Ready(ready) = client.next().await else {
        panic!("the first event is READY");
    };
    assert_eq!(ready.user.id.get(), BOT_USER_ID);
    assert_eq!(
        client.http.application_id().map(|id| id.get()),
        Some(APPLICATION_ID)
    );
    assert_eq!(fake.ready_sessions(), 1);

    // What serenity sent on the way: the gateway URL asked over REST with the bot token, the
    // WebSocket opened with `?v=10` and nothing else, IDENTIFY with the `Bot `-prefixed token.
    let requests = fake.requests();
    assert!(
        requests[0].is("GET", "/api/v10/gateway"),
        "{:?}",
        requests[0]
    );
    let frames = fake.gateway_log();
    assert_eq!(frames[0].direction, Direction::Received);
    assert_eq!(frames[0].payload, json!({ "connect_query": "v=10" }));
    let identify = frames
        .iter()
        .find(|frame| frame.direction == Direction::Received && frame.payload["op"] == 2)
        .expect("serenity identified");
    assert_eq!(identify.payload["d"]["token"], format!("Bot {BOT_TOKEN}"));
    assert_eq!(identify.payload["d"]["compress"], true);

    // A slash command: the handler answers it through the callback route.
    let alice = Invoker::in_guild(ALICE, "alice", WORK);
    let ping = slash_command(&alice, "ping", vec![]);
    fake.interact(&ping).await;
    let callback = fake.wait_for_callback(ping.id).await;
    assert_eq!(callback["type"], 4);
    assert_eq!(callback["data"]["content"], "pong, alice");
    assert_eq!(callback["data"]["flags"], 64);
    let Seen::Interaction(interaction, answered) = client.next().await else {
        panic!("the next event is the interaction");
    };
    assert!(answered, "the callback was accepted");
    let Interaction::Command(command) = *interaction else {
        panic!("a command interaction");
    };
    assert_eq!(command.data.name, "ping");
    assert_eq!(fake.callbacks_for(ping.id), vec![callback]);
    let original = fake
        .original_response(&ping.token)
        .expect("a type 4 callback is shown");
    assert_eq!(original["content"], "pong, alice");

    // A DM: the channel is opened for Alice, the message lands in it and serenity reads back
    // the message the fake made.
    let http = Arc::clone(&client.http);
    let http = http.as_ref();
    let channel = UserId::new(ALICE)
        .create_dm_channel(http)
        .await
        .expect("the DM channel opens");
    assert_eq!(channel.id.get(), dm_channel_id(ALICE));
    let opened = fake.requests();
    let opened = opened.last().expect("the DM channel request was recorded");
    assert!(
        opened.is("POST", "/api/v10/users/@me/channels"),
        "{opened:?}"
    );
    assert_eq!(opened.body, json!({ "recipient_id": ALICE.to_string() }));

    let dm = CreateMessage::new()
        .content("Your export is ready.")
        .embed(CreateEmbed::new().title("Export"))
        .components(vec![CreateActionRow::Buttons(vec![
            CreateButton::new("export:again").label("Again"),
        ])]);
    let sent = channel
        .id
        .send_message(http, dm)
        .await
        .expect("the DM is sent");
    assert_eq!(sent.content, "Your export is ready.");
    assert_eq!(sent.author.id.get(), BOT_USER_ID);
    assert_eq!(sent.channel_id, channel.id);
    assert_eq!(sent.embeds[0].title.as_deref(), Some("Export"));
    let delivered = fake.dm_messages_to(ALICE);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["id"], sent.id.to_string());
    let posted = fake.requests();
    let posted = posted.last().expect("the message request was recorded");
    let path = format!("/api/v10/channels/{}/messages", dm_channel_id(ALICE));
    assert!(posted.is("POST", &path), "{posted:?}");
    assert_eq!(posted.body["content"], "Your export is ready.");
    assert_eq!(
        posted.body["components"][0]["components"][0]["custom_id"],
        "export:again"
    );

    // Alice presses the button on that message; the handler updates the message in place.
    let press = button_press(
        &Invoker::in_dm(ALICE, "alice"),
        &delivered[0],
        "export:again",
    );
    fake.interact(&press).await;
    assert_eq!(fake.wait_for_callback(press.id).await["type"], 7);
    let Seen::Interaction(_, answered) = client.next().await else {
        panic!("the next event is the button press");
    };
    assert!(answered, "the update was accepted");
    let updated = fake
        .original_response(&press.token)
        .expect("the pressed message");
    assert_eq!(updated["content"], "Again it is.");
    assert_eq!(updated["id"], sent.id.to_string());
    assert_eq!(fake.dm_messages_to(ALICE)[0]["content"], "Again it is.");

    // Bob does not accept DMs: opening the channel works, sending is refused as Discord does.
    fake.close_dms(BOB);
    let bobs = UserId::new(BOB)
        .create_dm_channel(http)
        .await
        .expect("a DM channel opens even when DMs are closed");
    let refused = bobs
        .id
        .send_message(http, CreateMessage::new().content("hello"))
        .await
        .expect_err("closed DMs refuse messages");
    let serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) = refused else {
        panic!("not a refusal from Discord: {refused:?}");
    };
    assert_eq!(response.status_code.as_u16(), 403);
    assert_eq!(response.error.code, 50007);
    assert!(fake.dm_messages_to(BOB).is_empty());

    // The same nonce twice with `enforce_nonce`: one message, returned both times.
    let with_nonce = || {
        CreateMessage::new()
            .content("Export 7 is ready.")
            .nonce(Nonce::String("export-7".into()))
            .enforce_nonce(true)
    };
    let first = channel
        .id
        .send_message(http, with_nonce())
        .await
        .expect("sent");
    let second = channel
        .id
        .send_message(http, with_nonce())
        .await
        .expect("answered");
    assert_eq!(first.id, second.id);
    // The DM from before and this one.
    assert_eq!(fake.dm_messages_to(ALICE).len(), 2);
    let posts = fake
        .requests()
        .iter()
        .filter(|request| request.is("POST", &path))
        .count();
    // Three sends reached the fake: the first DM and both nonce sends.
    assert_eq!(posts, 3);

    // Nothing the client did went to a route the fake does not know.
    let unknown: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|request| request.status == 404)
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");

    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_closed_with_4004_and_serenity_gives_up() {
    let fake = FakeDiscord::start().await;
    let http = HttpBuilder::new("not-the-token")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();
    let mut client = client_builder(http).await.expect("the client builds");

    let result = tokio::time::timeout(DEFAULT_WAIT, client.start()).await;
    let result = result.expect("serenity stops after an authentication failure");
    assert!(
        matches!(
            result,
            Err(serenity::Error::Gateway(
                GatewayError::InvalidAuthentication
            ))
        ),
        "{result:?}"
    );
    assert_eq!(fake.ready_sessions(), 0);
    let closes: Vec<Value> = fake
        .gateway_log()
        .into_iter()
        .filter(|frame| {
            frame.direction == Direction::Sent && frame.payload["close_code"] != json!(null)
        })
        .map(|frame| frame.payload)
        .collect();
    assert_eq!(
        closes,
        vec![json!({ "close_code": 4004, "reason": "Authentication failed." })]
    );
    // `GET /gateway` needs no token, on Discord as here, so serenity got as far as the gateway.
    let requests = fake.requests();
    assert!(
        requests[0].is("GET", "/api/v10/gateway"),
        "{:?}",
        requests[0]
    );
    assert_eq!(requests[0].status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_dm_failures_are_served_once_each_in_order() {
    let fake = FakeDiscord::start().await;
    let http = fake.http();
    let channel = UserId::new(ALICE)
        .create_dm_channel(&http)
        .await
        .expect("the DM channel opens");
    fake.fail_dms(
        ALICE,
        vec![
            Failure::RateLimited { retry_after: 0.05 },
            Failure::ServerError(502),
        ],
    );

    let mut statuses = Vec::new();
    for attempt in 1..=4 {
        let message = CreateMessage::new().content(format!("attempt {attempt}"));
        match channel.id.send_message(&http, message).await {
            Ok(_) => statuses.push(200),
            Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response))) => {
                statuses.push(response.status_code.as_u16());
            }
            Err(other) => panic!("attempt {attempt} failed another way: {other:?}"),
        }
    }
    assert_eq!(statuses, vec![429, 502, 200, 200]);

    // Only the two that went through were created.
    let delivered = fake.dm_messages_to(ALICE);
    let contents: Vec<&Value> = delivered
        .iter()
        .map(|message| &message["content"])
        .collect();
    assert_eq!(contents, vec!["attempt 3", "attempt 4"]);

    // The rate limit was answered with Discord's body and headers' figures.
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|request| {
            request.method == "POST" && request.path.starts_with("/api/v10/channels/")
        })
        .collect();
    assert_eq!(
        posts[0].response,
        json!({ "message": "You are being rate limited.", "retry_after": 0.05, "global": false })
    );
    assert_eq!(posts[1].response["message"], "502: Bad Gateway");
    // Requests are recorded in the order they arrived.
    assert!(posts.windows(2).all(|pair| pair[0].at <= pair[1].at));

    // Other users' DMs are untouched by Alice's script.
    let bobs = UserId::new(BOB)
        .create_dm_channel(&http)
        .await
        .expect("the DM channel opens");
    let sent = bobs
        .id
        .send_message(&http, CreateMessage::new().content("hi"))
        .await;
    assert!(sent.is_ok(), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_that_never_sees_its_condition_panics_with_the_record() {
    let fake = FakeDiscord::start().await;
    let http = fake.http();
    // An unknown route, so the dump has something to show.
    let _ = http.get_current_user().await;
    let _ = http.get_channel(WORK.into()).await;

    let waiting = tokio::spawn(async move {
        fake.wait_for(
            "a request that never comes",
            Duration::from_millis(100),
            |requests| {
                requests
                    .iter()
                    .find(|request| request.path == "/never")
                    .map(|_| ())
            },
        )
        .await;
    });
    let panic = waiting.await.expect_err("the waiter gives up").into_panic();
    let message = panic
        .downcast_ref::<String>()
        .expect("the waiter panics with a formatted message");
    assert!(message.contains("a request that never comes"), "{message}");
    assert!(
        message.contains("GET /api/v10/users/@me -> 200"),
        "{message}"
    );
    assert!(
        message.contains(&format!("GET /api/v10/channels/{WORK} -> 404")),
        "{message}"
    );
}

#[test]
fn serenity_reads_the_fake_server_and_finds_who_may_manage_it() {
    use clocky_tests::discord::{GUILD_OWNER, MANAGER_ROLE};
    let guild: serenity::all::PartialGuild = parse(&payloads::guild_object(WORK));
    assert_eq!(guild.owner_id.get(), GUILD_OWNER);
    assert_eq!(guild.roles.len(), 2);
    // Server-level permissions: a member's roles with `@everyone`, never a channel's overrides.
    let member = |id: u64, roles: Vec<u64>| -> serenity::all::Member {
        parse(&serde_json::json!({
            "user": {"id": id.to_string(), "username": "m", "discriminator": "0",
                     "global_name": null, "avatar": null},
            "roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "joined_at": "2025-01-01T00:00:00+00:00",
            "deaf": false, "mute": false, "flags": 0, "guild_id": WORK.to_string(),
        }))
    };
    assert!(
        !guild
            .member_permissions(&member(ALICE, vec![]))
            .manage_guild()
    );
    assert!(
        guild
            .member_permissions(&member(ALICE, vec![MANAGER_ROLE]))
            .manage_guild()
    );
    assert!(
        guild
            .member_permissions(&member(GUILD_OWNER, vec![]))
            .administrator()
    );
}
