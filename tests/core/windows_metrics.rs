//! Task metrics around late records in windowed aggregations, against the
//! values Kafka Streams 4.3.1's `TopologyTestDriver` reports
//! (`stream-task-metrics`: `dropped-records-total`, `record-lateness-max`,
//! `record-lateness-avg`, the latter with `metrics.recording.level=DEBUG`).

use streams::dsl::{Materialized, StreamsBuilder};
use streams::serde::Serdes;

use super::windows::{
    In, SESSION, STORE_TYPES, WINDOWED, driver, grouped_input, hopping, run, session,
    session_key_serde, sliding, time_key_serde, to_output, tumbling,
};

/// Dropped records per windowing for the java-ref samples: late records
/// (per window for hopping, whole records for sliding and sessions) and the
/// null key.
#[test]
fn late_records_are_counted_as_dropped_like_java() {
    for store in STORE_TYPES {
        let cases: [(&str, &[In], u64); 4] = [
            ("tumbling", WINDOWED, 3),
            ("hopping", WINDOWED, 3),
            ("sliding", WINDOWED, 3),
            ("session", SESSION, 1),
        ];
        for (name, input, dropped) in cases {
            let b = StreamsBuilder::new();
            let g = grouped_input(&b);
            let m = Materialized::none().with_store_type(store);
            let key_serde = match name {
                "tumbling" => {
                    to_output(
                        g.windowed_by_time(tumbling()).count(m),
                        time_key_serde(100),
                        Serdes::i64(),
                    );
                    time_key_serde(100)
                }
                "hopping" => {
                    to_output(
                        g.windowed_by_time(hopping()).count(m),
                        time_key_serde(100),
                        Serdes::i64(),
                    );
                    time_key_serde(100)
                }
                "sliding" => {
                    to_output(
                        g.windowed_by_sliding(sliding()).count(m),
                        time_key_serde(50),
                        Serdes::i64(),
                    );
                    time_key_serde(50)
                }
                _ => {
                    to_output(
                        g.windowed_by_session(session()).count(m),
                        session_key_serde(),
                        Serdes::i64(),
                    );
                    session_key_serde()
                }
            };
            let d = driver(&b);
            run(&d, input, key_serde, Serdes::i64());
            assert_eq!(d.metrics().dropped_records, dropped, "{name} {store:?}");
        }
    }
}

/// Kafka Streams records the lateness of **every** record the task takes
/// from its queues (`PartitionGroup.nextRecord`: `stream time - record
/// timestamp` when the record is not newer than the task's stream time,
/// else 0), whatever the processors do with it. For the windowed sample
/// (timestamps 0, 20, 99, 100, 160, 10, 60, 161, 400) that is 150 for A@10
/// and 100 for A@60: max 150, average 250 / 9. For the session sample (0,
/// 20, 100, 105, 60, 10, 80, 300): 45, 95 and 25, max 95, average 165 / 8.
#[test]
fn record_lateness_is_recorded_for_every_record_like_java() {
    for store in STORE_TYPES {
        let cases: [(&[In], i64, f64); 2] =
            [(WINDOWED, 150, 250.0 / 9.0), (SESSION, 95, 165.0 / 8.0)];
        for (input, max, avg) in cases {
            let b = StreamsBuilder::new();
            let g = grouped_input(&b);
            let m = Materialized::none().with_store_type(store);
            let key_serde = if std::ptr::eq(input, SESSION) {
                to_output(
                    g.windowed_by_session(session()).count(m),
                    session_key_serde(),
                    Serdes::i64(),
                );
                session_key_serde()
            } else {
                to_output(
                    g.windowed_by_time(tumbling()).count(m),
                    time_key_serde(100),
                    Serdes::i64(),
                );
                time_key_serde(100)
            };
            let d = driver(&b);
            run(&d, input, key_serde, Serdes::i64());
            let metrics = d.metrics();
            assert_eq!(metrics.record_lateness_max, Some(max), "{store:?}");
            let got = metrics.record_lateness_avg().unwrap_or(f64::NAN);
            assert!((got - avg).abs() < 1e-9, "{store:?}: avg {got}, Java {avg}");
        }
    }
}
