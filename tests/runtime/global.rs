//! Global tables: bootstrapped in full before processing, then kept
//! current.

use std::time::Duration;

use streams::dsl::{Consumed, Materialized, Produced, StreamsBuilder};
use streams::runtime::{produce, read_topic};
use streams::serde::Serdes;

use super::*;

#[test]
fn embedded_global_table_join() {
    let cluster = Cluster::embedded();
    let orders = unique("gt-orders");
    let countries = unique("gt-countries");
    let output = unique("gt-out");
    let app = unique("gt-app");
    cluster.create(&[(&orders, 2), (&countries, 3), (&output, 2)]);
    // The whole table exists before the application starts: every order
    // finds its country from the first record on.
    produce(
        &cluster.bootstrap,
        &countries,
        &[
            kv("de", "Germany", 1),
            kv("fr", "France", 2),
            kv("nl", "Netherlands", 3),
        ],
    )
    .unwrap();

    let b = StreamsBuilder::new();
    let table = b.global_table(
        &countries,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("countries-store"),
    );
    b.stream(&orders, Consumed::with(Serdes::string(), Serdes::string()))
        .join_global(
            &table,
            |_k, order: &String| order.split(':').next().map(str::to_owned),
            |order: &String, country: &String| format!("{order} -> {country}"),
            None,
        )
        .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set("num.stream.threads", "2");
    let s = start(b.build().unwrap(), cfg);
    wait_running(&s);
    produce(
        &cluster.bootstrap,
        &orders,
        &[
            kv("o1", "de:10", 10),
            kv("o2", "fr:20", 20),
            kv("o3", "xx:30", 30),
            kv("o4", "nl:40", 40),
        ],
    )
    .unwrap();
    wait_processed(&cluster, &app, &[&orders]);
    let mut got: Vec<(String, String)> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.key_str().unwrap().to_string(),
                r.value_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("o1".to_string(), "de:10 -> Germany".to_string()),
            ("o2".to_string(), "fr:20 -> France".to_string()),
            ("o4".to_string(), "nl:40 -> Netherlands".to_string()),
        ]
    );

    // Updates of the table reach the running threads.
    produce(
        &cluster.bootstrap,
        &countries,
        &[kv("xx", "Atlantis", 50), kv("de", "Deutschland", 51)],
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    produce(
        &cluster.bootstrap,
        &orders,
        &[kv("o5", "xx:60", 60), kv("o6", "de:70", 70)],
    )
    .unwrap();
    wait_processed(&cluster, &app, &[&orders]);
    let mut got: Vec<String> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .iter()
        .filter(|r| matches!(r.key_str(), Some("o5" | "o6")))
        .map(|r| r.value_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "de:70 -> Deutschland".to_string(),
            "xx:60 -> Atlantis".to_string()
        ]
    );
    close(s);
}
