//! The same topology and input on Kafka and in the TopologyTestDriver give
//! the same results: per key, the same records in the same order (with
//! caching off; each key lives in one partition, processed in offset
//! order), and the same final values with caching on.

use std::collections::BTreeMap;

use streams::config::StreamsConfig;
use streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams::runtime::{KafkaRecord, produce, read_topic};
use streams::serde::Serdes;
use streams::testing::TopologyTestDriver;
use streams::topology::Topology;

use super::*;

fn topology(input: &str, out_map: &str, out_agg: &str, out_count: &str) -> Topology {
    let b = StreamsBuilder::new();
    let s = b.stream(input, Consumed::with(Serdes::string(), Serdes::string()));
    s.filter(|_k, v| v.is_some_and(|v| !v.ends_with('0')))
        .map_values(|v| v.map(|v| v.to_uppercase()))
        .to(out_map, Produced::with(Serdes::string(), Serdes::string()));
    s.group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .aggregate(
            || 0i64,
            |_k, v: &String, agg: &i64| agg + v.len() as i64,
            Materialized::as_("sum-store").with_value_serde(Serdes::i64()),
        )
        .to_stream()
        .to(out_agg, Produced::with(Serdes::string(), Serdes::i64()));
    // Re-keyed by the value's last digit: through a repartition topic.
    s.group_by(
        |_k, v: Option<&String>| v.and_then(|v| v.chars().last()).map(|c| c.to_string()),
        Grouped::with(Serdes::string(), Serdes::string()),
    )
    .count(Materialized::as_("digit-counts"))
    .to_stream()
    .to(out_count, Produced::with(Serdes::string(), Serdes::i64()));
    b.build().unwrap()
}

fn input() -> Vec<(String, String, i64)> {
    (0..400)
        .map(|i| {
            (
                format!("key-{}", i % 13),
                format!("v{}", (i * 7) % 100),
                1_000 + i as i64 * 10,
            )
        })
        .collect()
}

type PerKey<V> = BTreeMap<String, Vec<(V, i64)>>;

fn driver_results(
    app: &str,
    input_topic: &str,
    outs: [&str; 3],
) -> (PerKey<String>, PerKey<i64>, PerKey<i64>) {
    let driver = TopologyTestDriver::new(
        topology(input_topic, outs[0], outs[1], outs[2]),
        StreamsConfig::new().set("application.id", app),
    )
    .unwrap();
    let mut inp = driver.create_input_topic(input_topic, Serdes::string(), Serdes::string());
    for (k, v, ts) in input() {
        inp.pipe_input_at(k, v, ts).unwrap();
    }
    let mut map: PerKey<String> = BTreeMap::new();
    for r in driver
        .create_output_topic(outs[0], Serdes::string(), Serdes::string())
        .read_records_to_list()
        .unwrap()
    {
        map.entry(r.key.unwrap())
            .or_default()
            .push((r.value.unwrap(), r.timestamp));
    }
    let mut agg: PerKey<i64> = BTreeMap::new();
    for r in driver
        .create_output_topic(outs[1], Serdes::string(), Serdes::i64())
        .read_records_to_list()
        .unwrap()
    {
        agg.entry(r.key.unwrap())
            .or_default()
            .push((r.value.unwrap(), r.timestamp));
    }
    let mut count: PerKey<i64> = BTreeMap::new();
    for r in driver
        .create_output_topic(outs[2], Serdes::string(), Serdes::i64())
        .read_records_to_list()
        .unwrap()
    {
        count
            .entry(r.key.unwrap())
            .or_default()
            .push((r.value.unwrap(), r.timestamp));
    }
    (map, agg, count)
}

fn kafka_strings(cluster: &Cluster, topic: &str) -> PerKey<String> {
    let mut m: PerKey<String> = BTreeMap::new();
    for r in read_topic(&cluster.bootstrap, topic, false).unwrap() {
        m.entry(r.key_str().unwrap().to_string())
            .or_default()
            .push((r.value_str().unwrap().to_string(), r.timestamp));
    }
    m
}

fn run(cache_bytes: &str) {
    let cluster = Cluster::embedded();
    let input_topic = unique("diff-in");
    let outs = [unique("diff-map"), unique("diff-agg"), unique("diff-count")];
    let app = unique("diff-app");
    cluster.create(&[
        (&input_topic, 4),
        (&outs[0], 4),
        (&outs[1], 4),
        (&outs[2], 2),
    ]);
    let records: Vec<KafkaRecord> = input()
        .into_iter()
        .map(|(k, v, ts)| KafkaRecord::new(Some(k.into_bytes()), Some(v.into_bytes()), ts))
        .collect();
    produce(&cluster.bootstrap, &input_topic, &records).unwrap();
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set("statestore.cache.max.bytes", cache_bytes);
    let streams = start(topology(&input_topic, &outs[0], &outs[1], &outs[2]), cfg);
    wait_processed(&cluster, &app, &[&input_topic]);

    let (d_map, d_agg, d_count) =
        driver_results(&app, &input_topic, [&outs[0], &outs[1], &outs[2]]);
    let k_map = kafka_strings(&cluster, &outs[0]);
    let k_agg = count_updates(&cluster, &outs[1], false);
    let k_count = count_updates(&cluster, &outs[2], false);
    close(streams);

    // Stateless: identical per key, always.
    assert_eq!(k_map, d_map);
    let last = |m: &PerKey<i64>| -> BTreeMap<String, i64> {
        m.iter()
            .map(|(k, v)| (k.clone(), v.last().unwrap().0))
            .collect()
    };
    assert_eq!(last(&k_agg), last(&d_agg));
    assert_eq!(last(&k_count), last(&d_count));
    // The final record of a count carries the largest timestamp of its key.
    let last_ts = |m: &PerKey<i64>| -> BTreeMap<String, i64> {
        m.iter()
            .map(|(k, v)| (k.clone(), v.last().unwrap().1))
            .collect()
    };
    assert_eq!(last_ts(&k_count), last_ts(&d_count));
    if cache_bytes == "0" {
        // Without a cache every update is forwarded: the same records.
        assert_eq!(k_agg, d_agg);
        // After a repartition the interleaving of the input partitions
        // decides the order (and, as a count's timestamp is the largest
        // seen so far, the timestamps along the way): the counts per key are
        // 1..n either way.
        let sorted = |m: &PerKey<i64>| -> BTreeMap<String, Vec<i64>> {
            m.iter()
                .map(|(k, v)| {
                    let mut v: Vec<i64> = v.iter().map(|(c, _)| *c).collect();
                    v.sort();
                    (k.clone(), v)
                })
                .collect()
        };
        assert_eq!(sorted(&k_count), sorted(&d_count));
    }
}

#[test]
fn embedded_kafka_equals_test_driver_without_cache() {
    run("0");
}

#[test]
fn embedded_kafka_equals_test_driver_with_cache() {
    run("10485760");
}
