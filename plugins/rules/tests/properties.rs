//! Properties of the figures that must hold for any stored rows, not just the examples in the
//! unit tests: the rows of an export always add up to its statistics, net time never exceeds the
//! session, a break never counts time outside its session, and every instant is written in UTC.

use clocky_rules::StatisticsBuilder;
use clocky_rules::figures::{BreakSpan, SessionSpan, break_figures, session_figures};
use clocky_rules::time::{format_utc, whole_minutes};
use proptest::prelude::*;

/// Instants between 2000 and 2100, where every real check-in lies.
fn instant() -> impl Strategy<Value = i64> {
    946_684_800_i64..4_102_444_800
}

fn session() -> impl Strategy<Value = (SessionSpan, Vec<BreakSpan>)> {
    (instant(), proptest::option::of(0_i64..200_000)).prop_flat_map(|(start, length)| {
        let span = SessionSpan {
            checked_in_at: start,
            checked_out_at: length.map(|l| start + l),
        };
        // Breaks may lie anywhere near the session, as imported data might.
        let a_break = (
            start - 50_000..start + 250_000,
            proptest::option::of(0_i64..100_000),
        )
            .prop_map(|(from, length)| BreakSpan {
                started_at: from,
                ended_at: length.map(|l| from + l),
            });
        (Just(span), proptest::collection::vec(a_break, 0..6))
    })
}

proptest! {
    #[test]
    fn net_never_exceeds_duration_and_breaks_stay_inside(
        (span, breaks) in session()
    ) {
        let figures = session_figures(span, breaks.iter().copied());
        if let (Some(duration), Some(net)) = (figures.duration_minutes, figures.net_worked_minutes) {
            prop_assert!(net <= duration);
            prop_assert_eq!(net, duration.saturating_sub(figures.break_duration_minutes));
        } else {
            prop_assert!(figures.duration_minutes.is_none() && figures.net_worked_minutes.is_none());
            prop_assert!(span.checked_out_at.is_none());
        }
        for one in &breaks {
            let counted = break_figures(span, *one);
            if let (Some(minutes), Some(out)) = (counted.duration_minutes, span.checked_out_at) {
                // A break counts at most the session it belongs to.
                prop_assert!(minutes <= whole_minutes(span.checked_in_at, out));
            }
        }
    }

    #[test]
    fn statistics_are_the_sums_of_the_rows(
        sessions in proptest::collection::vec(session(), 0..40)
    ) {
        let mut builder = StatisticsBuilder::new();
        let mut net_sum = 0_u64;
        let mut break_sum = 0_u64;
        let mut closed = 0_u64;
        let mut longest = 0_u64;
        for (span, breaks) in &sessions {
            let figures = session_figures(*span, breaks.iter().copied());
            builder.add(&figures);
            break_sum += figures.break_duration_minutes;
            if let Some(net) = figures.net_worked_minutes {
                net_sum += net;
                closed += 1;
                longest = longest.max(net);
            }
        }
        let stats = builder.finish(3);
        prop_assert_eq!(stats.total_sessions, u64::try_from(sessions.len()).unwrap());
        prop_assert_eq!(stats.total_worked_minutes, net_sum);
        prop_assert_eq!(stats.total_break_minutes, break_sum);
        prop_assert_eq!(stats.longest_session_minutes, longest);
        prop_assert_eq!(stats.servers_count, 3);
        // Rounded to two decimals: within half a hundredth of the exact value.
        let exact_hours = u32::try_from(net_sum).map(f64::from).unwrap() / 60.0;
        prop_assert!((stats.total_worked_hours - exact_hours).abs() <= 0.005 + 1e-9);
        if closed == 0 {
            prop_assert_eq!(stats.average_session_minutes, 0.0);
        } else {
            let exact = u32::try_from(net_sum).map(f64::from).unwrap()
                / u32::try_from(closed).map(f64::from).unwrap();
            prop_assert!((stats.average_session_minutes - exact).abs() <= 0.005 + 1e-9);
        }
    }

    #[test]
    fn every_instant_is_written_in_utc_with_z(at in any::<i64>()) {
        let text = format_utc(at);
        let bytes = text.as_bytes();
        prop_assert_eq!(bytes.len(), 20);
        prop_assert_eq!(bytes[10], b'T');
        prop_assert_eq!(bytes[19], b'Z');
    }
}
