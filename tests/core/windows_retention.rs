//! `Materialized::with_retention` on windowed aggregations: a retention
//! shorter than what the windows need fails the build with Kafka Streams'
//! message (an `IllegalArgumentException` there), exactly that minimum is
//! accepted, and a longer one keeps windows longer without changing which
//! records are late.

use streams::dsl::{Materialized, StreamsBuilder};
use streams::serde::Serdes;
use streams::topology::TopologyError;

use super::s;
use super::windows::{
    STORE_TYPES, WINDOWED, driver, grouped_input, ms, run, session, sliding, time_key_serde,
    to_output, tumbling,
};

/// Builds a count over `windowing` (`time`, `sliding` or `session`, the
/// windows of `windows.rs`: tumbling 100 + 50, sliding 50 + 30, session 30
/// + 20) materialized as `materialized`.
fn build(windowing: &str, materialized: Materialized<String, i64>) -> Result<(), TopologyError> {
    let b = StreamsBuilder::new();
    let g = grouped_input(&b);
    let _table = match windowing {
        "time" => g.windowed_by_time(tumbling()).count(materialized),
        "sliding" => g.windowed_by_sliding(sliding()).count(materialized),
        _ => g.windowed_by_session(session()).count(materialized),
    };
    b.build().map(|_| ())
}

fn error(windowing: &str, materialized: Materialized<String, i64>) -> String {
    match build(windowing, materialized) {
        Err(TopologyError::InvalidArgument(msg)) => msg,
        other => panic!("{windowing}: expected a retention error, got {other:?}"),
    }
}

#[test]
fn a_retention_below_the_minimum_fails_the_build_with_kafkas_message() {
    // Java's messages, up to the end of its text.
    let cases = [
        (
            "time",
            149,
            "The retention period of the window store counts must be no smaller than its window size \
             plus the grace period. Got size=[100], grace=[50], retention=[149]",
        ),
        (
            "sliding",
            129,
            "The retention period of the window store counts must be no smaller than 2 * time \
             difference plus the grace period. Got time difference=[50], grace=[30], retention=[129]",
        ),
        (
            "session",
            49,
            "The retention period of the session store counts must be no smaller than the session \
             inactivity gap plus the grace period. Got gap=[30], grace=[20], retention=[49]",
        ),
    ];
    for (windowing, retention, java) in cases {
        for store in STORE_TYPES {
            let m = Materialized::as_("counts")
                .with_store_type(store)
                .with_retention(ms(retention));
            let msg = error(windowing, m);
            assert!(msg.starts_with(java), "{windowing} {store:?}: {msg}");
            // Exactly the minimum is fine.
            let m = Materialized::as_("counts")
                .with_store_type(store)
                .with_retention(ms(retention + 1));
            assert!(build(windowing, m).is_ok(), "{windowing} {store:?}");
        }
    }
}

#[test]
fn an_unnamed_store_is_named_in_the_error_by_its_generated_name() {
    let msg = error("time", Materialized::none().with_retention(ms(10)));
    assert!(
        msg.starts_with(
            "The retention period of the window store KSTREAM-AGGREGATE-STATE-STORE-0000000001 \
             must be no smaller than"
        ),
        "{msg}"
    );
}

#[test]
fn a_longer_retention_keeps_windows_longer_but_late_records_stay_late() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b).windowed_by_time(tumbling()).count(
                Materialized::as_("counts")
                    .with_store_type(store)
                    .with_caching_disabled()
                    .with_retention(ms(1_000)),
            ),
            time_key_serde(100),
            Serdes::i64(),
        );
        let d = driver(&b);
        let out = run(&d, WINDOWED, time_key_serde(100), Serdes::i64());
        // Grace, not retention, decides what is late: the same 6 updates and
        // 3 drops as with the default retention.
        assert_eq!(out.len(), 6, "{store:?}");
        assert_eq!(d.metrics().dropped_records, 3, "{store:?}");
        // With the default retention (150) only [400,500) would be left at
        // stream time 400; with 1000 every window is.
        let all: Vec<String> = d
            .get_window_store::<String, i64>("counts")
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .map(|(k, v)| format!("{}@{}={v}", k.key, k.window.start()))
            .collect();
        assert_eq!(
            all,
            ["A@0=3", "A@100=1", "B@100=1", "B@400=1"].map(s),
            "{store:?}"
        );
    }
}
