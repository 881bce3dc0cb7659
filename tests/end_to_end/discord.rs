//! Clocky's bot against the fake Discord: `clocky serve` with a bot token, the real serenity
//! client and poise over real HTTP and WebSocket, and assertions on what Discord received.
//!
//! Every scenario starts its own fake and host. Interactions are injected as gateway dispatches;
//! the bot answers through REST, which the fake records with bodies. Times in the host are on a
//! manual clock, so retry backoffs are crossed by moving the clock, not by waiting.

use std::time::Duration;

use clocky::clock::Clock as _;
use clocky::db::deliveries::{self, DeliveryState};
use clocky::db::exports::{self, JobState};
use clocky_tests::discord::{
    CommandOption, DEFAULT_WAIT, Failure, FakeDiscord, InteractionFixture, Invoker, MANAGE_GUILD,
    MANAGER_ROLE, autocomplete, button_press, slash_command,
};
use clocky_tests::fixtures::TRAPPER_WASM;
use clocky_tests::json::assert_valid;
use clocky_tests::{Serving, TestHost, TestHostBuilder, user};
use serde_json::Value;

const ALICE: u64 = 111_111_111_111_111_111;
const BOB: u64 = 222_222_222_222_222_222;
const WORK: u64 = 900_000_000_000_000_001;

/// Interaction callback types, as Discord numbers them.
const CHANNEL_MESSAGE: u64 = 4;
const DEFERRED_CHANNEL_MESSAGE: u64 = 5;
const DEFERRED_UPDATE: u64 = 6;
const AUTOCOMPLETE_RESULT: u64 = 8;
/// The message flag that makes a reply visible to its user only.
const EPHEMERAL: u64 = 64;

/// The guide's acknowledgement, word for word.
const GENERATING: &str = "🔄 Generating your data export...\n\
    This may take a few minutes depending on how much data you have.\n\
    You'll receive a DM when it's ready.";

/// A fake Discord and a host serving the bot against it, commands registered.
struct Bot {
    fake: FakeDiscord,
    host: TestHost,
    serving: Option<Serving>,
}

impl Bot {
    async fn start() -> Bot {
        Self::start_with(TestHost::builder()).await
    }

    async fn start_with(builder: TestHostBuilder) -> Bot {
        let fake = FakeDiscord::start().await;
        let host = builder.discord(fake.api_base()).start().await;
        let serving = host.serve().await;
        fake.wait_for_global_commands().await;
        Bot {
            fake,
            host,
            serving: Some(serving),
        }
    }

    /// Sends a slash command and returns it with the body of its callback.
    async fn command(
        &self,
        who: &Invoker,
        name: &str,
        options: Vec<CommandOption>,
    ) -> (InteractionFixture, Value) {
        let interaction = slash_command(who, name, options);
        self.fake.interact(&interaction).await;
        let callback = self.fake.wait_for_callback(interaction.id).await;
        (interaction, callback)
    }

    /// Sends a command that answers at once, privately, and returns the answer's text.
    async fn private_answer(
        &self,
        who: &Invoker,
        name: &str,
        options: Vec<CommandOption>,
    ) -> String {
        let (_, callback) = self.command(who, name, options).await;
        assert_eq!(callback["type"], CHANNEL_MESSAGE, "{callback}");
        assert_eq!(callback["data"]["flags"], EPHEMERAL, "{callback}");
        text(&callback["data"]["content"])
    }

    /// Waits until the interaction's reply was edited to a text that `wanted` accepts, and
    /// returns the edit's body.
    async fn reply_edit(
        &self,
        interaction: &InteractionFixture,
        wanted: impl Fn(&str) -> bool,
    ) -> Value {
        let path = format!(
            "/api/v10/webhooks/{}/{}/messages/@original",
            clocky_tests::discord::APPLICATION_ID,
            interaction.token
        );
        let what = format!("an edit of the reply to interaction {}", interaction.id);
        self.fake
            .wait_for(&what, DEFAULT_WAIT, |requests| {
                requests
                    .iter()
                    .filter(|request| request.is("PATCH", &path))
                    .map(|request| request.body.clone())
                    .find(|body| body["content"].as_str().is_some_and(&wanted))
            })
            .await
    }

    /// The texts of every edit of the interaction's reply, in order.
    fn reply_texts(&self, interaction: &InteractionFixture) -> Vec<String> {
        let edits = self.fake.original_edits(&interaction.token);
        edits.iter().map(|edit| text(&edit["content"])).collect()
    }

    async fn jobs_of(&self, user_id: u64) -> Vec<exports::JobRow> {
        let mut conn = self.host.pool().acquire().await.expect("a connection");
        exports::jobs_of(&mut conn, user(user_id))
            .await
            .expect("the jobs")
    }

    async fn delivery_of(&self, job: &exports::JobRow) -> deliveries::DeliveryRow {
        let mut conn = self.host.pool().acquire().await.expect("a connection");
        deliveries::delivery(&mut conn, job.job_id)
            .await
            .expect("the delivery")
            .expect("the job has a delivery")
    }

    /// Waits until the user's newest job's delivery is in `state`.
    async fn wait_delivery(&self, user_id: u64, state: DeliveryState) -> deliveries::DeliveryRow {
        let deadline = tokio::time::Instant::now() + DEFAULT_WAIT;
        loop {
            let jobs = self.jobs_of(user_id).await;
            if let Some(job) = jobs.iter().max_by_key(|job| job.job_id) {
                let delivery = self.delivery_of(job).await;
                if delivery.state == state {
                    return delivery;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the delivery of job {} stayed {:?}, not {state:?}: {delivery:?}",
                    job.job_id,
                    delivery.state
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(serving) = self.serving.take() {
            serving.stop().await.expect("the host stops cleanly");
        }
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a text: {value}"))
        .to_owned()
}

fn alice() -> Invoker {
    Invoker::in_guild(ALICE, "alice", WORK)
}

fn bob() -> Invoker {
    Invoker::in_guild(BOB, "bob", WORK)
}

fn sub(name: &str) -> Vec<CommandOption> {
    vec![CommandOption::subcommand(name, Vec::new())]
}

/// The path and query of a download link, for the host's router.
fn link_path(url: &str) -> String {
    let url = url::Url::parse(url).expect("the link is a URL");
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The embed and the link button of an export DM.
fn export_dm(message: &Value) -> (&Value, &Value) {
    let embed = &message["embeds"][0];
    let button = &message["components"][0]["components"][0];
    (embed, button)
}

fn field<'a>(embed: &'a Value, name: &str) -> &'a str {
    let fields = embed["fields"].as_array().expect("the embed has fields");
    let found = fields.iter().find(|field| field["name"] == name);
    found
        .and_then(|field| field["value"].as_str())
        .unwrap_or_else(|| panic!("no field {name:?} in {embed}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_day_is_exported_and_delivered_by_dm_with_a_working_link() {
    let bot = Bot::start().await;

    // The commands Discord learned about, by name.
    let mut names: Vec<String> = bot
        .fake
        .global_commands()
        .iter()
        .map(|command| text(&command["name"]))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "break",
            "checkin",
            "checkout",
            "data-export",
            "leaderboard",
            "privacy",
            "server-export",
            "status",
            "timezone"
        ]
    );

    // 09:00 in, a break 10:30–10:45, 12:00 out: 180 minutes, 15 of them on break.
    bot.host.set_now("2025-01-15T09:00:00Z");
    let answer = bot.private_answer(&alice(), "checkin", vec![]).await;
    assert_eq!(
        answer,
        "✅ Checked in at <t:1736931600:t>. Use `/break start` for a break and `/checkout` when \
         you're done."
    );
    bot.host.set_now("2025-01-15T10:30:00Z");
    let answer = bot.private_answer(&alice(), "break", sub("start")).await;
    assert!(
        answer.starts_with("☕ Break started at <t:1736937000:t>."),
        "{answer}"
    );
    bot.host.set_now("2025-01-15T10:45:00Z");
    let answer = bot.private_answer(&alice(), "break", sub("end")).await;
    assert_eq!(answer, "💪 Welcome back! Your break lasted 15 min.");
    bot.host.set_now("2025-01-15T12:00:00Z");
    let answer = bot.private_answer(&alice(), "checkout", vec![]).await;
    assert_eq!(
        answer,
        "👋 Checked out. You worked 2 h 45 min in this session, with 15 min of breaks."
    );

    // /data-export: a private "thinking" acknowledgement, then the guide's message.
    bot.host.set_now("2025-01-15T15:45:00Z");
    let (export, callback) = bot.command(&alice(), "data-export", vec![]).await;
    assert_eq!(callback["type"], DEFERRED_CHANNEL_MESSAGE, "{callback}");
    assert_eq!(callback["data"]["flags"], EPHEMERAL, "{callback}");
    bot.reply_edit(&export, |content| content == GENERATING)
        .await;

    // The DM, shaped like the guide's example.
    let dms = bot.fake.wait_for_dms(ALICE, 1).await;
    assert_eq!(dms.len(), 1);
    let (embed, button) = export_dm(&dms[0]);
    assert_eq!(embed["title"], "📥 Your Data Export is Ready");
    assert_eq!(field(embed, "Export generated"), "<t:1736955900:f>");
    assert_eq!(field(embed, "Sessions included"), "1");
    assert_eq!(field(embed, "Servers"), "1");
    // The warning closes the embed, under the figures.
    assert_eq!(
        field(embed, "\u{200b}"),
        "⚠️ This link expires in 24 hours for security (<t:1737042300:f>).\nDownload your data now."
    );
    assert_eq!(button["type"], 2);
    assert_eq!(button["style"], 5, "a link button: {button}");
    assert_eq!(button["label"], "Download Export");

    // The private reply now says the DM went out.
    bot.reply_edit(&export, |content| content.contains("I've sent you a DM"))
        .await;
    assert_eq!(
        bot.reply_texts(&export).first().map(String::as_str),
        Some(GENERATING)
    );

    // The link serves a valid document with exactly the day recorded above.
    let page = link_path(&text(&button["url"]));
    assert_eq!(
        bot.host.get(&page).await.status,
        200,
        "the download page opens"
    );
    let fetched = bot.host.get(&format!("{page}/file")).await;
    assert_eq!(fetched.status, 200);
    let document: Value = serde_json::from_slice(&fetched.body).expect("the download is JSON");
    assert_valid(&document);
    assert_eq!(
        field(embed, "File size"),
        clocky::export::human_size(u64::try_from(fetched.body.len()).expect("a small file"))
    );
    let sessions = document["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["checked_in_at"], "2025-01-15T09:00:00Z");
    assert_eq!(sessions[0]["checked_out_at"], "2025-01-15T12:00:00Z");
    assert_eq!(sessions[0]["net_worked_minutes"], 165);
    assert_eq!(sessions[0]["server_id"], WORK.to_string());
    let breaks = document["breaks"].as_array().expect("breaks");
    assert_eq!(breaks.len(), 1);
    assert_eq!(breaks[0]["started_at"], "2025-01-15T10:30:00Z");
    assert_eq!(breaks[0]["ended_at"], "2025-01-15T10:45:00Z");
    assert_eq!(document["export_info"]["username"], "alice");

    // One job, delivered once, and recorded as such.
    let jobs = bot.jobs_of(ALICE).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Ready);
    assert!(!jobs[0].further_request);
    let delivery = bot.wait_delivery(ALICE, DeliveryState::Sent).await;
    assert_eq!(delivery.attempts, 1);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_dms_keep_the_export_and_a_new_request_delivers_the_same_one() {
    let bot = Bot::start().await;
    bot.host
        .session(
            bot.host.member(BOB, WORK),
            "2025-01-14T08:00:00Z",
            "2025-01-14T16:00:00Z",
        )
        .await;
    bot.fake.close_dms(BOB);

    let (first, _) = bot.command(&bob(), "data-export", vec![]).await;
    let closed = bot
        .reply_edit(&first, |content| content.contains("couldn't send you a DM"))
        .await;
    let closed = text(&closed["content"]);
    assert!(
        closed.contains("Allow direct messages from server members"),
        "{closed}"
    );
    assert!(closed.contains("Run `/data-export` again"), "{closed}");
    assert!(bot.fake.dm_messages_to(BOB).is_empty());

    // The export is kept, and its delivery says why it did not arrive.
    let delivery = bot.wait_delivery(BOB, DeliveryState::Closed).await;
    let jobs = bot.jobs_of(BOB).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Ready);
    assert_eq!(delivery.attempts, 1, "a refusal is not retried");

    // Bob opens his DMs and asks again an hour later: the same export comes.
    bot.fake.open_dms(BOB);
    bot.host.clock.advance(3600);
    let (second, callback) = bot.command(&bob(), "data-export", vec![]).await;
    assert_eq!(callback["type"], DEFERRED_CHANNEL_MESSAGE);
    bot.reply_edit(&second, |content| content.contains("still ready"))
        .await;
    let dms = bot.fake.wait_for_dms(BOB, 1).await;
    assert_eq!(dms.len(), 1);
    bot.reply_edit(&second, |content| content.contains("I've sent you a DM"))
        .await;
    let jobs = bot.jobs_of(BOB).await;
    assert_eq!(jobs.len(), 1, "no second export was made");
    let (embed, _) = export_dm(&dms[0]);
    assert_eq!(field(embed, "Sessions included"), "1");
    bot.wait_delivery(BOB, DeliveryState::Sent).await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_quick_requests_make_one_export_and_one_dm() {
    let bot = Bot::start().await;
    bot.host
        .session(
            bot.host.member(ALICE, WORK),
            "2025-01-14T08:00:00Z",
            "2025-01-14T16:00:00Z",
        )
        .await;

    let first = slash_command(&alice(), "data-export", vec![]);
    let second = slash_command(&alice(), "data-export", vec![]);
    bot.fake.interact(&first).await;
    bot.fake.interact(&second).await;
    assert_eq!(
        bot.fake.wait_for_callback(first.id).await["type"],
        DEFERRED_CHANNEL_MESSAGE
    );
    assert_eq!(
        bot.fake.wait_for_callback(second.id).await["type"],
        DEFERRED_CHANNEL_MESSAGE
    );

    // Whichever the bot handled first queued the export; the other was told it is under way.
    let already = |content: &str| content.starts_with("⏳ You already have a data export");
    let queued = |content: &str| content == GENERATING;
    let first_text = text(&bot.reply_edit(&first, |c| queued(c) || already(c)).await["content"]);
    let second_text = text(&bot.reply_edit(&second, |c| queued(c) || already(c)).await["content"]);
    assert!(
        queued(&first_text) != queued(&second_text),
        "one request queued the export and the other was told: {first_text:?} / {second_text:?}"
    );

    bot.fake.wait_for_dms(ALICE, 1).await;
    bot.wait_delivery(ALICE, DeliveryState::Sent).await;
    assert_eq!(bot.jobs_of(ALICE).await.len(), 1);
    assert_eq!(bot.fake.dm_messages_to(ALICE).len(), 1);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_further_export_within_the_year_asks_first_and_records_the_confirmation() {
    let bot = Bot::start().await;
    bot.host
        .session(
            bot.host.member(ALICE, WORK),
            "2025-01-14T08:00:00Z",
            "2025-01-14T16:00:00Z",
        )
        .await;
    let (free, _) = bot.command(&alice(), "data-export", vec![]).await;
    bot.reply_edit(&free, |content| content.contains("I've sent you a DM"))
        .await;

    // Two days later the free export is used up (and its link has expired).
    bot.host.clock.advance(2 * 86_400);
    let (further, _) = bot.command(&alice(), "data-export", vec![]).await;
    let notice = bot
        .reply_edit(&further, |content| content.contains("administrative fee"))
        .await;
    let notice_text = text(&notice["content"]);
    assert!(
        notice_text.starts_with("Your free data export for this period (the last 365 days)"),
        "{notice_text}"
    );
    assert_eq!(
        bot.jobs_of(ALICE).await.len(),
        1,
        "nothing is queued before the answer"
    );
    let buttons = notice["components"][0]["components"]
        .as_array()
        .expect("buttons");
    let labels: Vec<String> = buttons
        .iter()
        .map(|button| text(&button["label"]))
        .collect();
    assert_eq!(labels, ["Request export", "Cancel"]);

    // Alice confirms on the message the bot showed her.
    let shown = bot
        .fake
        .original_response(&further.token)
        .expect("the notice is shown");
    let confirm = text(&buttons[0]["custom_id"]);
    let press = button_press(&alice(), &shown, &confirm);
    bot.fake.interact(&press).await;
    assert_eq!(
        bot.fake.wait_for_callback(press.id).await["type"],
        DEFERRED_UPDATE
    );
    bot.reply_edit(&further, |content| content == GENERATING)
        .await;
    let dms = bot.fake.wait_for_dms(ALICE, 2).await;
    assert_eq!(dms.len(), 2);
    // The delivery is recorded as sent just after the DM; until then a new request is told
    // that the export is on its way, so wait for the reply that follows the record.
    bot.reply_edit(&further, |content| content.contains("I've sent you a DM"))
        .await;

    let jobs = bot.jobs_of(ALICE).await;
    assert_eq!(jobs.len(), 2);
    let newest = jobs.iter().max_by_key(|job| job.job_id).expect("two jobs");
    assert!(
        newest.further_request,
        "the job records that it was a further request"
    );
    let oldest = jobs.iter().min_by_key(|job| job.job_id).expect("two jobs");
    assert!(!oldest.further_request);

    // A third request, cancelled: nothing is queued.
    let (third, _) = bot.command(&alice(), "data-export", vec![]).await;
    let notice = bot
        .reply_edit(&third, |content| content.contains("administrative fee"))
        .await;
    let cancel = text(&notice["components"][0]["components"][1]["custom_id"]);
    let shown = bot
        .fake
        .original_response(&third.token)
        .expect("the notice is shown");
    let press = button_press(&alice(), &shown, &cancel);
    bot.fake.interact(&press).await;
    bot.reply_edit(&third, |content| content.starts_with("Cancelled"))
        .await;
    assert_eq!(bot.jobs_of(ALICE).await.len(), 2);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_export_is_reported_in_plain_words_and_does_not_count() {
    let bot = Bot::start_with(TestHost::builder().plugin(TRAPPER_WASM)).await;
    bot.host
        .session(
            bot.host.member(ALICE, WORK),
            "2025-01-14T08:00:00Z",
            "2025-01-14T16:00:00Z",
        )
        .await;

    let format = vec![CommandOption::string("format", "trapper")];
    let (failing, _) = bot.command(&alice(), "data-export", format).await;
    let failed = bot
        .reply_edit(&failing, |content| content.starts_with("❌"))
        .await;
    assert_eq!(
        text(&failed["content"]),
        "❌ Your data export failed. Nothing was lost, and a failed export does not count as \
         your free one.\nPlease run `/data-export` again in a few minutes."
    );
    let jobs = bot.jobs_of(ALICE).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed);
    assert!(bot.fake.dm_messages_to(ALICE).is_empty());

    // The failure did not use up the free export: the next request is queued without a notice.
    let (retry, _) = bot.command(&alice(), "data-export", vec![]).await;
    bot.reply_edit(&retry, |content| content == GENERATING)
        .await;
    bot.fake.wait_for_dms(ALICE, 1).await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_dm_failures_are_retried_with_backoff_and_deliver_once() {
    let bot = Bot::start().await;
    bot.host
        .session(
            bot.host.member(ALICE, WORK),
            "2025-01-14T08:00:00Z",
            "2025-01-14T16:00:00Z",
        )
        .await;
    bot.fake.fail_dms(
        ALICE,
        vec![
            Failure::RateLimited { retry_after: 1.5 },
            Failure::ServerError(502),
        ],
    );

    let (export, _) = bot.command(&alice(), "data-export", vec![]).await;
    // The first attempt met the rate limit; the retry waits on the host's clock.
    let delivery = wait_attempts(&bot, 1).await;
    assert_eq!(delivery.state, DeliveryState::Pending);
    let now = bot.host.clock.now();
    let wait = delivery.due_at - now;
    assert!(
        (5..10).contains(&wait),
        "the first retry waits 5 to 10 s, not {wait}"
    );
    assert!(bot.fake.dm_messages_to(ALICE).is_empty());

    bot.host.clock.advance(wait);
    let delivery = wait_attempts(&bot, 2).await;
    let wait = delivery.due_at - bot.host.clock.now();
    assert!(
        (10..20).contains(&wait),
        "the second retry waits 10 to 20 s, not {wait}"
    );
    bot.host.clock.advance(wait);

    bot.fake.wait_for_dms(ALICE, 1).await;
    let sent = bot.wait_delivery(ALICE, DeliveryState::Sent).await;
    assert_eq!(sent.attempts, 3);
    bot.reply_edit(&export, |content| content.contains("I've sent you a DM"))
        .await;

    // Three sends reached Discord, all with the same nonce; one message exists.
    let channel = clocky_tests::discord::dm_channel_id(ALICE);
    let path = format!("/api/v10/channels/{channel}/messages");
    let sends: Vec<_> = bot
        .fake
        .requests()
        .into_iter()
        .filter(|request| request.is("POST", &path))
        .collect();
    assert_eq!(sends.len(), 3);
    let statuses: Vec<u16> = sends.iter().map(|send| send.status).collect();
    assert_eq!(statuses, [429, 502, 200]);
    assert!(
        sends
            .iter()
            .all(|send| send.body["nonce"] == sends[0].body["nonce"])
    );
    assert_eq!(bot.fake.dm_messages_to(ALICE).len(), 1);
    bot.stop().await;
}

/// Waits until the user's only job has had `attempts` delivery attempts and is waiting again
/// (or done).
async fn wait_attempts(bot: &Bot, attempts: i64) -> deliveries::DeliveryRow {
    let deadline = tokio::time::Instant::now() + DEFAULT_WAIT;
    loop {
        let jobs = bot.jobs_of(ALICE).await;
        if let Some(job) = jobs.first() {
            let delivery = bot.delivery_of(job).await;
            if delivery.attempts >= attempts && delivery.state != DeliveryState::Sending {
                return delivery;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no attempt {attempts}: {delivery:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_that_finished_while_disconnected_is_delivered_after_a_restart_and_only_once() {
    let fake = FakeDiscord::start().await;
    let host = TestHost::builder().discord(fake.api_base()).start().await;
    host.session(
        host.member(ALICE, WORK),
        "2025-01-14T08:00:00Z",
        "2025-01-14T16:00:00Z",
    )
    .await;

    // The request came in on Discord, then the bot went away before the export was done.
    let reply = deliveries::Reply {
        token: "gone-interaction-token".to_owned(),
        expires_at: host.clock.now() + 14 * 60,
    };
    let requested = host
        .app
        .exporter
        .request_on_discord(user(ALICE), Some(("alice", 0)), None, &reply, false)
        .await
        .expect("the request is recorded");
    let clocky::export::DiscordRequest::Queued(job) = requested else {
        panic!("a first request is queued: {requested:?}");
    };
    host.app
        .exporter
        .run(job.job_id)
        .await
        .expect("the export runs");
    assert!(fake.dm_messages_to(ALICE).is_empty());

    // The bot comes back: the DM goes out.
    let serving = host.serve().await;
    let dms = fake.wait_for_dms(ALICE, 1).await;
    assert_eq!(
        export_dm(&dms[0]).0["title"],
        "📥 Your Data Export is Ready"
    );
    let mut bot = Bot {
        fake,
        host,
        serving: Some(serving),
    };
    bot.wait_delivery(ALICE, DeliveryState::Sent).await;
    let serving = bot.serving.take().expect("the first run");
    serving.stop().await.expect("the host stops cleanly");

    // Another restart sends nothing more.
    let serving = bot.host.serve().await;
    let registrations = |requests: &[clocky_tests::discord::RecordedRequest]| {
        let puts = requests
            .iter()
            .filter(|request| request.method == "PUT" && request.path.ends_with("/commands"));
        (puts.count() >= 2).then_some(())
    };
    bot.fake
        .wait_for(
            "the second run to register its commands",
            DEFAULT_WAIT,
            registrations,
        )
        .await;
    // Long enough for several passes of the delivery worker, which polls every 250 ms.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(bot.fake.dm_messages_to(ALICE).len(), 1);
    serving.stop().await.expect("the host stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_zone_privacy_status_and_leaderboard_answer_on_discord() {
    let bot = Bot::start().await;

    // Autocomplete offers IANA names.
    let typing = autocomplete(
        &alice(),
        "timezone",
        vec![CommandOption::focused("zone", "berl")],
    );
    bot.fake.interact(&typing).await;
    let offered = bot.fake.wait_for_callback(typing.id).await;
    assert_eq!(offered["type"], AUTOCOMPLETE_RESULT);
    let choices: Vec<String> = offered["data"]["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .map(|choice| text(&choice["value"]))
        .collect();
    assert_eq!(choices, ["Europe/Berlin"]);

    let zone = vec![CommandOption::string("zone", "Europe/Berlin")];
    let answer = bot.private_answer(&alice(), "timezone", zone).await;
    assert_eq!(
        answer,
        "🌍 Your time zone is now **Europe/Berlin**; `/status` counts your days in it."
    );
    let typo = vec![CommandOption::string("zone", "Europe/Berlim")];
    let answer = bot.private_answer(&alice(), "timezone", typo).await;
    assert!(answer.starts_with("⚠️"), "{answer}");
    assert!(answer.contains("Europe/Berlin"), "a suggestion: {answer}");

    // Alice and Bob worked today; only Alice is public.
    bot.host.set_now("2025-01-15T17:00:00Z");
    bot.host
        .session(
            bot.host.member(ALICE, WORK),
            "2025-01-15T08:00:00Z",
            "2025-01-15T11:00:00Z",
        )
        .await;
    bot.host
        .session(
            bot.host.member(BOB, WORK),
            "2025-01-15T08:00:00Z",
            "2025-01-15T14:00:00Z",
        )
        .await;
    let on = vec![CommandOption::subcommand(
        "leaderboard",
        vec![CommandOption::integer("visibility", 0)],
    )];
    let answer = bot.private_answer(&alice(), "privacy", on).await;
    assert!(
        answer.contains("You now appear on `/leaderboard`"),
        "{answer}"
    );

    let (_, board) = bot.command(&bob(), "leaderboard", vec![]).await;
    assert_eq!(board["type"], CHANNEL_MESSAGE);
    assert_ne!(
        board["data"]["flags"], EPHEMERAL,
        "the leaderboard is for the channel"
    );
    let board = text(&board["data"]["content"]);
    assert!(board.contains("alice"), "{board}");
    assert!(board.contains("3 h 00 min"), "{board}");
    assert!(
        !board.contains("bob"),
        "a hidden user is not listed: {board}"
    );

    // Alice checks in again at 16:00 UTC (17:00 in Berlin); /status an hour later.
    bot.host.set_now("2025-01-15T16:00:00Z");
    bot.private_answer(&alice(), "checkin", vec![]).await;
    bot.host.set_now("2025-01-15T17:00:00Z");
    let status = bot.private_answer(&alice(), "status", vec![]).await;
    // Today in Berlin: 3 h earlier and 1 h running.
    assert!(status.contains("4 h 00 min"), "{status}");
    assert!(
        status.contains("<t:1736956800:t>"),
        "the running session's start: {status}"
    );
    bot.stop().await;
}

/// How long the bot took from the INTERACTION_CREATE frame leaving the fake's gateway to the
/// interaction's callback arriving at its REST API.
fn acknowledgement_time(fake: &FakeDiscord, interaction: &InteractionFixture) -> Duration {
    use clocky_tests::discord::Direction;

    let id = interaction.id.to_string();
    let frames = fake.gateway_log();
    let dispatched = frames
        .iter()
        .find(|frame| {
            frame.direction == Direction::Sent
                && frame.payload["t"] == "INTERACTION_CREATE"
                && frame.payload["d"]["id"] == id
        })
        .expect("the interaction went out on the gateway")
        .at;
    let path_start = format!("/api/v10/interactions/{id}/");
    let callback = fake
        .requests()
        .into_iter()
        .find(|request| request.method == "POST" && request.path.starts_with(&path_start))
        .expect("the interaction was answered")
        .at;
    callback.duration_since(dispatched)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_export_is_acknowledged_while_the_database_is_locked() {
    let bot = Bot::start().await;
    bot.host
        .session(
            bot.host.member(ALICE, WORK),
            "2025-01-14T08:00:00Z",
            "2025-01-14T16:00:00Z",
        )
        .await;

    // Another writer holds SQLite's write lock: any database work the command did before its
    // acknowledgement would wait behind it.
    let mut blocker = bot.host.pool().acquire().await.expect("a connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *blocker)
        .await
        .expect("the write lock");

    let (export, callback) = bot.command(&alice(), "data-export", vec![]).await;
    assert_eq!(callback["type"], DEFERRED_CHANNEL_MESSAGE, "{callback}");
    assert_eq!(callback["data"]["flags"], EPHEMERAL, "{callback}");
    let held = acknowledgement_time(&bot.fake, &export);
    // Still nothing queued: the request itself waits for the lock.
    assert!(
        bot.reply_texts(&export).is_empty(),
        "the reply was edited before the lock was released"
    );

    sqlx::query("COMMIT")
        .execute(&mut *blocker)
        .await
        .expect("the lock is released");
    drop(blocker);
    bot.reply_edit(&export, |content| content == GENERATING)
        .await;
    bot.fake.wait_for_dms(ALICE, 1).await;

    // The same command on an idle host, for comparison (Bob has no export yet).
    let (idle, _) = bot.command(&bob(), "data-export", vec![]).await;
    let unlocked = acknowledgement_time(&bot.fake, &idle);
    eprintln!(
        "/data-export acknowledged {:.1} ms after its dispatch with the database locked, \
         {:.1} ms on an idle host",
        held.as_secs_f64() * 1e3,
        unlocked.as_secs_f64() * 1e3
    );
    // Discord's own limit: an interaction not answered within three seconds fails.
    assert!(held < Duration::from_secs(3), "acknowledged after {held:?}");
    assert!(
        unlocked < Duration::from_secs(3),
        "acknowledged after {unlocked:?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bot_token_stops_the_server_with_its_error() {
    let fake = FakeDiscord::start().await;
    let host = TestHost::builder()
        .discord(fake.api_base())
        .discord_token("bm90LXRoZQ.bot.token")
        .start()
        .await;
    let serving = host.serve().await;
    let deadline = tokio::time::Instant::now() + DEFAULT_WAIT;
    while !serving.has_stopped() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "serve kept running with a refused token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let error = serving
        .stop()
        .await
        .expect_err("a refused token is an error");
    let chain = format!("{error:#}");
    assert!(chain.contains("the Discord connection ended"), "{chain}");
    assert!(chain.to_lowercase().contains("authentication"), "{chain}");
    assert_eq!(fake.ready_sessions(), 0);
}

/// Regression: an export that expired without its DM ever arriving (DMs closed) counted as the
/// user's free one, and a request in another format re-sent the old export instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_that_never_arrived_is_not_the_free_one_and_formats_are_not_mixed_up() {
    let bot = Bot::start().await;
    bot.host
        .session(
            bot.host.member(BOB, WORK),
            "2025-01-14T08:00:00Z",
            "2025-01-14T16:00:00Z",
        )
        .await;
    bot.fake.close_dms(BOB);
    let (first, _) = bot.command(&bob(), "data-export", vec![]).await;
    bot.reply_edit(&first, |content| content.contains("couldn't send you a DM"))
        .await;
    bot.wait_delivery(BOB, DeliveryState::Closed).await;

    // Another format is another export: not a re-delivery of the JSON one. The JSON export
    // is still ready, so this one is a further request and asks first.
    let format = vec![CommandOption::string("format", "sessions-csv")];
    let (other, _) = bot.command(&bob(), "data-export", format).await;
    bot.reply_edit(&other, |content| content.contains("administrative fee"))
        .await;
    assert_eq!(bot.jobs_of(BOB).await.len(), 1);

    // A day later the undelivered export has expired. Bob opens his DMs and asks again: it is
    // still his free export, queued at once.
    bot.host.clock.advance(25 * 3600);
    bot.host.app.exporter.sweep().await.expect("the sweep");
    bot.fake.open_dms(BOB);
    let (again, _) = bot.command(&bob(), "data-export", vec![]).await;
    bot.reply_edit(&again, |content| content == GENERATING)
        .await;
    bot.fake.wait_for_dms(BOB, 1).await;
    let jobs = bot.jobs_of(BOB).await;
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|job| !job.further_request));
    bot.stop().await;
}

/// Regression: a reply longer than Discord's 2000 characters was refused, and the user got
/// only the generic apology. The format option is now capped at 64 characters by Discord, and
/// every reply is cut to fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_never_exceeds_discords_length_limit() {
    let bot = Bot::start().await;
    let format = vec![CommandOption::string("format", &"x".repeat(60))];
    let (export, _) = bot.command(&alice(), "data-export", format).await;
    let reply = bot
        .reply_edit(&export, |content| content.contains("no export format"))
        .await;
    let content = text(&reply["content"]);
    assert!(content.chars().count() <= 2000, "{content}");
    assert!(content.contains("data-export"), "{content}");
    // The registered option tells Discord the limit.
    let registered = bot.fake.global_commands();
    let data_export = registered
        .iter()
        .find(|command| command["name"] == "data-export")
        .expect("registered");
    assert_eq!(data_export["options"][0]["max_length"], 64);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_export_is_for_managers_where_the_operator_enabled_it_and_arrives_by_dm() {
    let bot = Bot::start().await;

    // Registered for servers only, hidden by default from members without Manage Server (32).
    let registered = bot.fake.global_commands();
    let command = registered
        .iter()
        .find(|command| command["name"] == "server-export")
        .expect("/server-export is registered");
    assert_eq!(command["default_member_permissions"], "32", "{command}");

    // Bob's session in this server, and one of Alice's elsewhere, which must stay out.
    bot.host
        .session(
            bot.host.member(BOB, WORK),
            "2025-01-15T09:00:00Z",
            "2025-01-15T11:00:00Z",
        )
        .await;
    bot.host
        .session(
            bot.host.member(ALICE, 42),
            "2025-01-15T09:00:00Z",
            "2025-01-15T10:00:00Z",
        )
        .await;
    bot.host.set_now("2025-01-15T12:00:00Z");

    // A member without Manage Server is refused, even though the server could show them the
    // command, and nothing is queued.
    let (plain, callback) = bot.command(&alice(), "server-export", vec![]).await;
    assert_eq!(callback["type"], DEFERRED_CHANNEL_MESSAGE, "{callback}");
    assert_eq!(callback["data"]["flags"], EPHEMERAL, "{callback}");
    bot.reply_edit(&plain, |content| content.contains("Manage Server"))
        .await;

    // Manage Server granted by one channel's overrides (the interaction's permissions carry the
    // bit) is not Manage Server of the server: still refused.
    let mut channel_manager = alice();
    channel_manager.permissions |= MANAGE_GUILD;
    let (overridden, _) = bot.command(&channel_manager, "server-export", vec![]).await;
    bot.reply_edit(&overridden, |content| content.contains("Manage Server"))
        .await;

    // A manager by role, before the operator enabled it: told so, nothing queued.
    let mut manager = alice();
    manager.roles = vec![MANAGER_ROLE];
    manager.permissions |= MANAGE_GUILD;
    let (early, _) = bot.command(&manager, "server-export", vec![]).await;
    bot.reply_edit(&early, |content| {
        content.contains("not enabled for this server")
    })
    .await;
    assert!(bot.jobs_of(ALICE).await.is_empty());

    // Enabled: queued, delivered by DM to the manager, and the link serves the server's CSV.
    assert!(
        bot.host
            .app
            .exporter
            .set_server_export(clocky_tests::server(WORK), true)
            .await
            .unwrap()
    );
    let (export, _) = bot.command(&manager, "server-export", vec![]).await;
    bot.reply_edit(&export, |content| {
        content.starts_with("🔄 Generating the server export")
    })
    .await;
    let dms = bot.fake.wait_for_dms(ALICE, 1).await;
    let (embed, button) = export_dm(&dms[0]);
    assert_eq!(embed["title"], "📥 Your Server Export is Ready");
    assert_eq!(field(embed, "Sessions included"), "1");
    bot.reply_edit(&export, |content| content.contains("I've sent you a DM"))
        .await;
    let fetched = bot
        .host
        .get(&format!("{}/file", link_path(&text(&button["url"]))))
        .await;
    assert_eq!(fetched.status, 200);
    let rows = clocky_plugin_sdk::csv::read_rows(&fetched.body);
    // The header and Bob's one session here; Alice's session in the other server is not in it.
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][0], BOB.to_string());
    assert_eq!(rows[1][7], "2025-01-15T09:00:00Z");

    // The manager's own /data-export is still their own: a server export neither blocks it nor
    // counts as their free one.
    let jobs = bot.jobs_of(ALICE).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].server_id, Some(clocky_tests::server(WORK)));
    let (personal, _) = bot.command(&manager, "data-export", vec![]).await;
    bot.reply_edit(&personal, |content| content == GENERATING)
        .await;
    let dms = bot.fake.wait_for_dms(ALICE, 2).await;
    let (embed, _) = export_dm(&dms[1]);
    assert_eq!(embed["title"], "📥 Your Data Export is Ready");
    bot.stop().await;
}
