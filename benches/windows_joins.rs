//! In-process task path of the windowed operators, over RocksDB: a hopping
//! windowed count and a stream-stream left join. Pre-serialized records in,
//! serialized records out, through one task (`RawTaskRunner`), one commit per
//! batch. Run with `cargo bench --workspace --bench windows_joins`; figures go
//! to benches/README.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use streams::config::StreamsConfig;
use streams::dsl::{
    Consumed, Grouped, Materialized, Produced, StoreType, StreamJoined, StreamsBuilder,
};
use streams::serde::Serdes;
use streams::testing::RawTaskRunner;
use streams::window::{JoinWindows, TimeWindows};

const BATCH: u64 = 100_000;
const KEYS: u64 = 10_000;

/// 4-byte big-endian integer keys uniform over `KEYS`, 100-byte values, and
/// a timestamp advancing 1 ms per record (so windows close as the batch
/// goes, as they would on a live topic).
fn records(seed: u64) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..BATCH)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = ((x >> 33) % KEYS) as i32;
            let value = vec![b'v'; 100];
            (key.to_be_bytes().to_vec(), value, i as i64)
        })
        .collect()
}

fn hopping_count(c: &mut Criterion) {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::i32(), Serdes::bytes()))
        .group_by_key(Grouped::none())
        .windowed_by_time(
            TimeWindows::of_size_with_no_grace(Duration::from_millis(1000))
                .and_then(|w| w.advance_by(Duration::from_millis(500)))
                .unwrap(),
        )
        .count(Materialized::as_("counts").with_store_type(StoreType::RocksDb))
        .to_stream()
        .to("out", Produced::none());
    let topology = b.build().unwrap();
    let input = records(1);
    let mut group = c.benchmark_group("windows_joins");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.bench_function("rocksdb_hopping_count_1000ms_500ms", |bench| {
        bench.iter_batched_ref(
            || RawTaskRunner::new(&topology, StreamsConfig::new()).unwrap(),
            |runner| {
                for (k, v, ts) in &input {
                    runner.process("in", Some(k), Some(v), *ts).unwrap();
                }
                runner.commit().unwrap();
                black_box(runner.records_out())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn stream_stream_left_join(c: &mut Criterion) {
    let b = StreamsBuilder::new();
    let left = b.stream("left", Consumed::with(Serdes::i32(), Serdes::bytes()));
    let right = b.stream("right", Consumed::with(Serdes::i32(), Serdes::bytes()));
    left.left_join(
        &right,
        |l: &Vec<u8>, r: Option<&Vec<u8>>| l.len() as i64 + r.map_or(0, |r| r.len() as i64),
        JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(10)).unwrap(),
        StreamJoined::with(Serdes::i32(), Serdes::bytes(), Serdes::bytes())
            .with_store_type(StoreType::RocksDb),
    )
    .to("out", Produced::with(Serdes::i32(), Serdes::i64()));
    let topology = b.build().unwrap();
    let lefts = records(2);
    let rights = records(3);
    let mut group = c.benchmark_group("windows_joins");
    // Both sides count: 2 x BATCH records in per iteration.
    group.throughput(Throughput::Elements(2 * BATCH));
    group.sample_size(10);
    group.bench_function("rocksdb_stream_stream_left_join_10s", |bench| {
        bench.iter_batched_ref(
            || RawTaskRunner::new(&topology, StreamsConfig::new()).unwrap(),
            |runner| {
                for ((lk, lv, lts), (rk, rv, rts)) in lefts.iter().zip(&rights) {
                    runner.process("left", Some(lk), Some(lv), *lts).unwrap();
                    runner.process("right", Some(rk), Some(rv), *rts).unwrap();
                }
                runner.commit().unwrap();
                black_box(runner.records_out())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, hopping_count, stream_stream_left_join);
criterion_main!(benches);
