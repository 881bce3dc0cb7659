//! What the fake Discord remembers: every REST request and gateway frame, the gateway sessions,
//! the messages it created, and what the test scripted (closed DMs, temporary failures).
//!
//! One [`State`] behind one mutex serves the REST handler, every gateway session and the test.
//! The lock is never held across an `.await`, so a plain `std::sync::Mutex` suffices; after
//! every change the [`Shared::changes`] counter moves, which is what the waiters sleep on.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::Method;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::FakeDiscordConfig;

/// One REST request as it arrived, and how the fake answered it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// When the request arrived (before its body was read).
    pub at: Instant,
    /// The method.
    pub method: Method,
    /// The path, such as `/api/v10/channels/1/messages`, without the query.
    pub path: String,
    /// The query string without `?`, when there was one.
    pub query: Option<String>,
    /// The body parsed as JSON; for a multipart body, its `payload_json` part; `Null` when the
    /// body was empty or not JSON.
    pub body: Value,
    /// The body byte for byte.
    pub raw_body: Vec<u8>,
    /// The file names of a multipart body's file parts.
    pub files: Vec<String>,
    /// The status the fake answered with.
    pub status: u16,
    /// The JSON the fake answered with (`Null` for an empty answer).
    pub response: Value,
}

impl RecordedRequest {
    /// Whether this is `method` on exactly `path`.
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method.as_str() == method && self.path == path
    }
}

/// A temporary failure the test scripted for a user's DM channel with
/// [`FakeDiscord::fail_dms`](super::FakeDiscord::fail_dms). Each is served once, in order, to
/// the next message sent to that channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 429 with Discord's rate-limit body and headers, asking to wait `retry_after` seconds.
    RateLimited {
        /// Seconds to wait, as Discord writes them (with a fraction).
        retry_after: f64,
    },
    /// A 5xx answer such as 502, as when Discord's edge or a backend is down.
    ServerError(u16),
}

/// Which way a gateway frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the fake to the client.
    Sent,
    /// From the client to the fake.
    Received,
}

/// One gateway frame, either way.
#[derive(Debug, Clone)]
pub struct GatewayFrame {
    /// When it was sent or received.
    pub at: Instant,
    /// Which gateway connection it belongs to (numbered from 1 in order of connection).
    pub session: u64,
    /// Which way it went.
    pub direction: Direction,
    /// The frame; a frame that was not JSON is kept as a string.
    pub payload: Value,
}

/// What a gateway session task is told to send.
#[derive(Debug)]
pub(super) enum Outgoing {
    /// A JSON frame, already serialized.
    Text(String),
    /// Close the connection with this code and reason.
    Close(u16, &'static str),
}

/// One open gateway connection.
#[derive(Debug)]
pub(super) struct Session {
    /// The connection's number, for the frame log.
    pub(super) number: u64,
    /// Frames for the session's task to send. The task stops when this is dropped, which is
    /// how dropping the fake hangs up every connection.
    pub(super) outgoing: mpsc::UnboundedSender<Outgoing>,
    /// The last sequence number used on this connection; Discord numbers dispatches per
    /// session, starting from READY at 1.
    pub(super) sequence: u64,
    /// Whether the client identified and was sent READY.
    pub(super) ready: bool,
}

/// An interaction the test injected, and what the bot has done with it.
#[derive(Debug, Clone)]
pub(super) struct InteractionRecord {
    pub(super) id: u64,
    pub(super) channel_id: u64,
    /// Whether a callback was accepted; Discord accepts exactly one.
    pub(super) acknowledged: bool,
    /// The message behind `@original`: the response, or for a component interaction the
    /// message the component is on.
    pub(super) original: Option<Value>,
    /// Follow-up messages, in order.
    pub(super) followups: Vec<Value>,
}

/// Everything the fake remembers.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) frames: Vec<GatewayFrame>,
    pub(super) sessions: Vec<Session>,
    pub(super) connections: u64,
    /// Injected interactions by token.
    pub(super) interactions: HashMap<String, InteractionRecord>,
    /// Names of users the fake has seen in interactions, for the DM channel objects.
    pub(super) usernames: HashMap<u64, String>,
    /// DM channels the bot opened, channel id to user id.
    pub(super) dm_channels: HashMap<u64, u64>,
    /// Messages created with `POST /channels/{id}/messages`, in order.
    pub(super) messages: Vec<Value>,
    pub(super) closed_dms: HashSet<u64>,
    pub(super) dm_failures: HashMap<u64, VecDeque<Failure>>,
    pub(super) global_commands: Vec<Value>,
    pub(super) guild_commands: HashMap<u64, Vec<Value>>,
}

impl State {
    /// Sends `frame` on session `number` (if it is still open) and logs it.
    pub(super) fn send(&mut self, number: u64, frame: Value) {
        if let Some(session) = self
            .sessions
            .iter()
            .find(|session| session.number == number)
        {
            // A send fails only when the session's task has already ended; the frame is logged
            // all the same, since the fake did try.
            let _ = session.outgoing.send(Outgoing::Text(frame.to_string()));
        }
        self.log_frame(number, Direction::Sent, frame);
    }

    pub(super) fn log_frame(&mut self, session: u64, direction: Direction, payload: Value) {
        self.frames.push(GatewayFrame {
            at: Instant::now(),
            session,
            direction,
            payload,
        });
    }

    /// A readable account of everything recorded, for the message of a waiter that gave up.
    pub(super) fn dump(&self, started: Instant) -> String {
        let mut text = String::new();
        let ready = self.sessions.iter().filter(|session| session.ready).count();
        let _ = writeln!(
            text,
            "gateway: {} connection(s) so far, {} open, {ready} ready",
            self.connections,
            self.sessions.len(),
        );
        for frame in &self.frames {
            let arrow = match frame.direction {
                Direction::Sent => "->",
                Direction::Received => "<-",
            };
            let _ = writeln!(
                text,
                "  {:>8.1?} session {} {arrow} {}",
                frame.at - started,
                frame.session,
                shorten(&frame.payload.to_string()),
            );
        }
        let _ = writeln!(text, "REST: {} request(s)", self.requests.len());
        for request in &self.requests {
            let query = request
                .query
                .as_deref()
                .map(|query| format!("?{query}"))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "  {:>8.1?} {} {}{query} -> {} {}",
                request.at - started,
                request.method,
                request.path,
                request.status,
                shorten(&request.body.to_string()),
            );
        }
        text
    }
}

/// Cuts long JSON so a dump stays readable.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 300;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// What the server tasks and the [`FakeDiscord`](super::FakeDiscord) handle share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) config: FakeDiscordConfig,
    /// `http://127.0.0.1:PORT`.
    pub(super) api_base: String,
    /// `ws://127.0.0.1:PORT/gateway`, without a query: serenity appends `?v=10` itself.
    pub(super) gateway_url: String,
    pub(super) started: Instant,
    pub(super) state: Mutex<State>,
    /// Moves after every change to the state, so waiters can sleep until something happened.
    pub(super) changes: watch::Sender<u64>,
}

impl Shared {
    /// The state, even if a thread panicked while holding it: a test that already failed
    /// should still be able to print what was recorded.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the waiters the state changed.
    pub(super) fn touch(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }
}
