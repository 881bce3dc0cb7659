//! The fake gateway: one WebSocket connection per shard, speaking just enough of Discord's
//! gateway protocol for serenity to connect, identify, stay connected and receive dispatches.
//!
//! A connection gets HELLO at once. IDENTIFY with the bot token (serenity sends it with the
//! `Bot ` prefix, which Discord accepts too) is answered with READY as dispatch 1; a wrong token
//! closes the connection with 4004, a second IDENTIFY with 4005. Heartbeats are acknowledged.
//! RESUME is refused with a non-resumable INVALID_SESSION, which makes serenity identify again:
//! the fake keeps no replay buffer. Everything else a client sends (presence updates, member
//! requests) is logged and ignored.
//!
//! Frames go out as plain text. serenity asks for payload compression (`compress: true` in
//! IDENTIFY, no `compress` query parameter), but that only allows the server to send zlib
//! frames; text frames are always understood.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::payloads::{
    self, BOT_TOKEN, dispatch_frame, heartbeat_ack_frame, hello_frame, invalid_session_frame,
};
use super::state::{Direction, Outgoing, Session, Shared, State as FakeState};

/// `GET /gateway`, upgraded to a WebSocket.
pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| run_session(shared, socket, query))
}

/// Serves one connection until either side hangs up or the fake is dropped.
async fn run_session(shared: Arc<Shared>, mut socket: WebSocket, query: Option<String>) {
    // Register the session and say HELLO. Only the state holds the sender, so when the fake is
    // dropped and clears its sessions, `outgoing.recv()` below returns `None`.
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    let number = {
        let mut state = shared.lock();
        state.connections += 1;
        let number = state.connections;
        state.sessions.push(Session {
            number,
            outgoing: sender,
            sequence: 0,
            ready: false,
        });
        state.log_frame(
            number,
            Direction::Received,
            json!({ "connect_query": query }),
        );
        let interval = shared.config.heartbeat_interval.as_millis();
        let interval = u64::try_from(interval).expect("a heartbeat interval fits in u64");
        state.send(number, hello_frame(interval));
        number
    };
    shared.touch();

    loop {
        tokio::select! {
            received = socket.recv() => match received {
                Some(Ok(Message::Text(text))) => receive(&shared, number, text.as_str()),
                // Pings are answered by the WebSocket layer; serenity sends no binary frames.
                Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            next = outgoing.recv() => match next {
                Some(Outgoing::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    // The client may already be gone; the session ends either way.
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
        }
    }

    shared
        .lock()
        .sessions
        .retain(|session| session.number != number);
    shared.touch();
}

/// Handles one frame from the client.
fn receive(shared: &Shared, number: u64, text: &str) {
    let mut state = shared.lock();
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        state.log_frame(number, Direction::Received, json!(text));
        close(&mut state, number, 4002, "Error while decoding payload.");
        drop(state);
        shared.touch();
        return;
    };
    state.log_frame(number, Direction::Received, frame.clone());

    match frame["op"].as_u64() {
        // HEARTBEAT.
        Some(1) => state.send(number, heartbeat_ack_frame()),

        // IDENTIFY.
        Some(2) => {
            let token = frame["d"]["token"].as_str().unwrap_or_default();
            let token = token.strip_prefix("Bot ").unwrap_or(token);
            let Some(session) = state.sessions.iter_mut().find(|s| s.number == number) else {
                return;
            };
            if token != BOT_TOKEN {
                close(&mut state, number, 4004, "Authentication failed.");
            } else if session.ready {
                close(&mut state, number, 4005, "Already authenticated.");
            } else {
                session.ready = true;
                session.sequence = 1;
                let shard = match &frame["d"]["shard"] {
                    Value::Null => json!([0, 1]),
                    shard => shard.clone(),
                };
                let data = payloads::ready_data(
                    &payloads::token(),
                    &shared.gateway_url,
                    shard,
                    &shared.config.guilds,
                );
                state.send(number, dispatch_frame("READY", 1, data));
            }
        }

        // RESUME: there is nothing to replay, so the client must start over.
        Some(6) => state.send(number, invalid_session_frame()),

        _ => {}
    }
    drop(state);
    shared.touch();
}

/// Tells session `number` to close with `code`, and logs the close as a sent frame.
fn close(state: &mut FakeState, number: u64, code: u16, reason: &'static str) {
    let sessions = &state.sessions;
    if let Some(session) = sessions.iter().find(|session| session.number == number) {
        // The session's task may have ended already, in which case there is nothing to close.
        let _ = session.outgoing.send(Outgoing::Close(code, reason));
    }
    let frame = json!({ "close_code": code, "reason": reason });
    state.log_frame(number, Direction::Sent, frame);
}

/// Sends event `name` with `data` to every ready session, each with its next sequence number.
/// Returns how many sessions it went to.
pub(super) fn dispatch(shared: &Shared, name: &str, data: &Value) -> usize {
    let mut state = shared.lock();
    let mut targets = Vec::new();
    for session in state.sessions.iter_mut().filter(|session| session.ready) {
        session.sequence += 1;
        targets.push((session.number, session.sequence));
    }
    for &(number, sequence) in &targets {
        state.send(number, dispatch_frame(name, sequence, data.clone()));
    }
    drop(state);
    shared.touch();
    targets.len()
}
