//! In-process task path: pre-serialized records in, serialized records out,
//! no broker and no test-driver bookkeeping. Run with
//! `cargo bench --bench task_path`; figures go to benches/README.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use streams::config::StreamsConfig;
use streams::dsl::{Consumed, Grouped, Materialized, Produced, StoreType, StreamsBuilder};
use streams::serde::Serdes;
use streams::testing::RawTaskRunner;

const BATCH: u64 = 100_000;
const KEYS: u64 = 10_000;

fn records() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..BATCH)
        .map(|i| {
            let key = format!("key-{}", i % KEYS).into_bytes();
            let value = format!("value-{i:08}-{}", "x".repeat(80)).into_bytes();
            (key, value)
        })
        .collect()
}

fn stateless(c: &mut Criterion) {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .filter(|_k, v| v.is_some_and(|v| !v.ends_with('y')))
        .map_values(|v| v.map(|v| v.len() as i64))
        .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let topology = b.build().unwrap();
    let input = records();
    let mut group = c.benchmark_group("task_path");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("stateless_filter_map_values", |bench| {
        let mut runner = RawTaskRunner::new(&topology, StreamsConfig::new()).unwrap();
        bench.iter(|| {
            for (i, (k, v)) in input.iter().enumerate() {
                runner.process("in", Some(k), Some(v), i as i64).unwrap();
            }
            black_box(runner.records_out())
        })
    });
    group.finish();
}

fn count(c: &mut Criterion) {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::none())
        .count(Materialized::as_("counts").with_store_type(StoreType::RocksDb))
        .to_stream()
        .to("out", Produced::none());
    let topology = b.build().unwrap();
    let input = records();
    let mut group = c.benchmark_group("task_path");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.bench_function("rocksdb_count_commit_per_batch", |bench| {
        bench.iter_batched_ref(
            || RawTaskRunner::new(&topology, StreamsConfig::new()).unwrap(),
            |runner| {
                for (i, (k, v)) in input.iter().enumerate() {
                    runner.process("in", Some(k), Some(v), i as i64).unwrap();
                }
                runner.commit().unwrap();
                black_box(runner.records_out())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, stateless, count);
criterion_main!(benches);
