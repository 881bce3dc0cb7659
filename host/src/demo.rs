//! `clocky demo`: a realistic history for one demo user, exported through the real pipeline.
//!
//! The history covers the 400 days before today in the `America/New_York` zone, in two servers:
//! weekday sessions in "Work Server" with lunch and coffee breaks, evening sessions in
//! "Side Project 🚀" (Saturday ones run past midnight), a night session across each daylight
//! saving change, one forgotten check-out that Clocky auto-closes, and a session still active
//! now. It is replayed event by event through the tracker, with a clock set to each event's
//! instant, so every row is made by the same rules as a real user's.

use std::sync::Arc;

use anyhow::Context;
use chrono::{Datelike, Days, NaiveDate, NaiveTime, Offset, TimeZone, Weekday};
use chrono_tz::Tz;
use clocky_rules::Timestamp;
use clocky_rules::zone::local_to_utc;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::app::App;
use crate::clock::ManualClock;
use crate::export::DeliveryMessage;
use crate::ids::{ServerId, UserId};
use crate::tracking::{Member, Tracker};

/// The demo user's Discord id (the guide's example id).
pub const DEMO_USER: u64 = 123_456_789_012_345_678;
/// The demo user's name and discriminator.
pub const DEMO_USERNAME: (&str, u16) = ("alice", 1234);
/// The demo user's time zone.
pub const DEMO_ZONE: Tz = chrono_tz::America::New_York;
/// The work server.
pub const WORK_SERVER: (u64, &str) = (987_654_321_098_765_432, "Work Server");
/// The side-project server, with an emoji in its name.
pub const SIDE_SERVER: (u64, &str) = (876_543_210_987_654_321, "Side Project 🚀");
/// How far back the history goes.
const DAYS: u64 = 400;

/// One thing the demo user does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CheckIn,
    CheckOut,
    BreakStart,
    BreakEnd,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    at: Timestamp,
    server: (u64, &'static str),
    action: Action,
}

/// Builds the history, exports it, and returns the delivery message.
pub async fn run(app: &App) -> anyhow::Result<DeliveryMessage> {
    let user = UserId::new(DEMO_USER)?;
    // Start from nothing, so the demo can be run again and again.
    app.exporter.forget_user(user).await?;

    let now = app.clock.now();
    let events = plan(now, &mut StdRng::seed_from_u64(2025));
    let clock = ManualClock::new(events.first().map_or(now, |event| event.at));
    let tracker = Tracker::new(
        app.db.clone(),
        Arc::new(clock.clone()),
        app.config.tracking.max_session_hours,
    );
    tracker.set_timezone(user, None, DEMO_ZONE.name()).await?;

    let progress = ProgressBar::new(u64::try_from(events.len()).unwrap_or(0)).with_style(
        ProgressStyle::with_template("Recording demo history {bar:30} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for event in &events {
        clock.set(event.at);
        let member = Member {
            user,
            username: Some(DEMO_USERNAME),
            server: ServerId::new(event.server.0)?,
            server_name: Some(event.server.1),
        };
        let done = match event.action {
            Action::CheckIn => tracker.check_in(member, None).await.map(drop),
            Action::CheckOut => tracker.check_out(member, None).await.map(drop),
            Action::BreakStart => tracker.start_break(member, None).await,
            Action::BreakEnd => tracker.end_break(member, None).await.map(drop),
        };
        done.with_context(|| format!("the demo history could not record {event:?}"))?;
        progress.inc(1);
    }
    progress.finish_and_clear();

    crate::cli::export(app, user, None, None).await
}

/// Plans the demo user's events, in time order, ending with a check-in two hours before `now`.
fn plan(now: Timestamp, rng: &mut StdRng) -> Vec<Event> {
    let today = DEMO_ZONE
        .timestamp_opt(now, 0)
        .single()
        .map_or_else(|| chrono::Utc::now().date_naive(), |time| time.date_naive());
    let first = today.checked_sub_days(Days::new(DAYS)).unwrap_or(today);
    let at = |date: NaiveDate, hour: u32, minute: u32| -> Option<Timestamp> {
        let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
        let instant = local_to_utc(DEMO_ZONE, date.and_time(time)).ok()?;
        Some(instant + i64::from(minute) * 60)
    };

    let mut events = Vec::new();
    let push = |events: &mut Vec<Event>, server, spans: &[(Action, Option<Timestamp>)]| {
        // A session is only planned whole: if any instant is unusable the day is skipped.
        if spans.iter().all(|(_, at)| at.is_some()) {
            for (action, at) in spans {
                events.push(Event {
                    at: at.unwrap_or_default(),
                    server,
                    action: *action,
                });
            }
        }
    };

    let mut workdays = 0;
    let mut date = first;
    while date < today {
        let weekday = date.weekday();
        let workday = !matches!(weekday, Weekday::Sat | Weekday::Sun);
        if workday && rng.random_range(0..20) != 0 {
            workdays += 1;
            let check_in = at(date, 8, rng.random_range(30..90));
            let lunch = at(date, 12, rng.random_range(0..30));
            let lunch_end = lunch.map(|start| start + 60 * rng.random_range(30..60));
            if workdays == 60 {
                // The day the user forgot to check out: Clocky closes it 12 hours after check-in.
                push(
                    &mut events,
                    WORK_SERVER,
                    &[
                        (Action::CheckIn, check_in),
                        (Action::BreakStart, lunch),
                        (Action::BreakEnd, lunch_end),
                    ],
                );
            } else {
                let mut day = vec![
                    (Action::CheckIn, check_in),
                    (Action::BreakStart, lunch),
                    (Action::BreakEnd, lunch_end),
                ];
                if rng.random_range(0..10) < 3 {
                    let coffee = at(date, 15, rng.random_range(0..20));
                    day.push((Action::BreakStart, coffee));
                    day.push((
                        Action::BreakEnd,
                        coffee.map(|start| start + 60 * rng.random_range(10..20)),
                    ));
                }
                day.push((Action::CheckOut, at(date, 16, rng.random_range(30..120))));
                push(&mut events, WORK_SERVER, &day);
            }
        }

        match weekday {
            Weekday::Tue | Weekday::Thu if rng.random_range(0..10) < 7 => {
                let start = at(date, 20, rng.random_range(0..45));
                let end = start.map(|start| start + 60 * rng.random_range(60..150));
                push(
                    &mut events,
                    SIDE_SERVER,
                    &[(Action::CheckIn, start), (Action::CheckOut, end)],
                );
            }
            Weekday::Sat => {
                // Saturday nights run past midnight.
                let start = at(date, 22, rng.random_range(0..40));
                let end = start.map(|start| start + 60 * rng.random_range(150..200));
                push(
                    &mut events,
                    SIDE_SERVER,
                    &[(Action::CheckIn, start), (Action::CheckOut, end)],
                );
            }
            _ => {}
        }

        if let Some(next) = date.succ_opt()
            && offset_at_noon(date) != offset_at_noon(next)
        {
            // The night the clocks change: on call from 00:30 to 03:30 local time, which is
            // two real hours in spring and four in autumn.
            push(
                &mut events,
                WORK_SERVER,
                &[
                    (Action::CheckIn, at(next, 0, 30)),
                    (Action::CheckOut, at(next, 3, 30)),
                ],
            );
        }
        date = date.succ_opt().unwrap_or(today);
    }

    push(
        &mut events,
        WORK_SERVER,
        &[(Action::CheckIn, Some(now - 2 * 3600))],
    );
    events.sort_by_key(|event| event.at);
    events
}

/// The zone's UTC offset in seconds at noon on `date`.
fn offset_at_noon(date: NaiveDate) -> i32 {
    let noon = date.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    DEMO_ZONE
        .from_local_datetime(&noon)
        .earliest()
        .map_or(0, |time| time.offset().fix().local_minus_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_has_hundreds_of_sessions_both_dst_nights_and_one_active_session() {
        // 2026-12-03T12:00:00Z.
        let now = 1_796_299_200;
        let events = plan(now, &mut StdRng::seed_from_u64(2025));
        let check_ins = events
            .iter()
            .filter(|e| e.action == Action::CheckIn)
            .count();
        let check_outs = events
            .iter()
            .filter(|e| e.action == Action::CheckOut)
            .count();
        assert!(check_ins >= 300, "{check_ins} sessions");
        // Every session is closed but the forgotten one and the active one.
        assert_eq!(check_ins - check_outs, 2);
        assert!(events.windows(2).all(|pair| pair[0].at <= pair[1].at));
        assert_eq!(events.last().map(|e| e.at), Some(now - 7200));
    }
}
