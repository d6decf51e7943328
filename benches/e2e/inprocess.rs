//! `e2e inprocess`: a workload's own work, with no broker and no client.
//!
//! The same topology `e2e run` starts (built by the same function) runs in
//! this process as one `RawTaskRunner` per input partition, fed with the
//! records `e2e load` would send (made by the same generator), each on the
//! partition Java's producer would pick. No consumer, no producer, no
//! network: sinks and changelogs are counted and dropped; what goes to a
//! repartition topic is read back by the task that sent it. What is left is
//! the tasks' cost: deserializing, processing, the stores, the caches,
//! serializing. Its rate is the ceiling of the end-to-end rate of the same
//! workload, which adds the client's work on top; set beside
//! `consumeproduce`, it shows what no tuning of the client path can reach.

use std::time::Instant;

use streams::config::{APPLICATION_ID, STATESTORE_CACHE_MAX_BYTES, StreamsConfig};
use streams::testing::RawTaskRunner;

use crate::load::{Topics, generate};
use crate::workloads::{Progress, topology};
use crate::{Args, peak_rss_bytes};

/// One record of a task's input, already on its partition.
struct Input {
    /// Index into the workload's input topics.
    topic: u8,
    key: Box<[u8]>,
    value: Box<[u8]>,
    timestamp: i64,
}

/// Java's producer's hash of a record key (`Utils.murmur2`), from which
/// its default partitioner picks `(hash & 0x7fffffff) % partitions`, as
/// librdkafka's `murmur2_random` partitioner that `load` uses does.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

fn partition_of(key: &[u8], partitions: u32) -> usize {
    ((murmur2(key) & 0x7fff_ffff) % partitions) as usize
}

/// Records fed to one task per turn before the next task's turn, about what
/// one fetch hands a stream thread for one partition.
const TURN: usize = 1024;

/// Runs `args.workload` in process and returns its JSON line.
pub fn run(args: &Args) -> Result<String, String> {
    let prefix = match args.prefix.as_str() {
        "" => "inprocess",
        p => p,
    };
    let t = Topics::new(prefix);
    let inputs: Vec<&str> = match args.workload.as_str() {
        "streamtablejoin" | "streamstreamjoin" | "tabletablejoin" => vec![&t.input1, &t.input2],
        "yahoo" => vec![&t.campaigns, &t.events],
        "consume" | "consumeproduce" | "restore" => {
            return Err(format!("{} has no in-process form", args.workload));
        }
        _ => vec![&t.input1],
    };
    let partitions = u32::try_from(args.partitions).map_err(|e| e.to_string())?;
    let mut queues: Vec<Vec<Input>> = (0..partitions).map(|_| Vec::new()).collect();
    let base = 1_700_000_000_000;
    generate(&t, args.records, base, |topic, key, value, timestamp| {
        if let Some(i) = inputs.iter().position(|t| *t == topic) {
            queues[partition_of(key, partitions)].push(Input {
                topic: i as u8,
                key: key.into(),
                value: value.into(),
                timestamp,
            });
        }
        Ok(())
    })?;
    // A task with two inputs takes the record with the smallest timestamp
    // first (stable: the table before the events stamped after it).
    for q in &mut queues {
        q.sort_by_key(|r| r.timestamp);
    }

    let progress = Progress::new(args.records);
    let topology = topology(&args.workload, &t, &progress)?;
    // The record cache is the thread's, shared by its tasks: split it.
    let cache = 10 * 1024 * 1024 / partitions as usize;
    let mut runners = (0..partitions)
        .map(|_| {
            let config = StreamsConfig::new()
                .set(APPLICATION_ID, prefix)
                .set(STATESTORE_CACHE_MAX_BYTES, cache.to_string());
            RawTaskRunner::new(&topology, config).map_err(|e| format!("opening a task: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let started = Instant::now();
    let mut next = vec![0usize; queues.len()];
    loop {
        let mut fed = false;
        for (p, runner) in runners.iter_mut().enumerate() {
            let q = &queues[p];
            let end = (next[p] + TURN).min(q.len());
            for r in &q[next[p]..end] {
                runner
                    .process(
                        inputs[r.topic as usize],
                        Some(&r.key),
                        Some(&r.value),
                        r.timestamp,
                    )
                    .map_err(|e| format!("processing: {e}"))?;
            }
            fed |= end > next[p];
            next[p] = end;
        }
        if !fed {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let commit_started = Instant::now();
    for runner in &mut runners {
        runner.commit().map_err(|e| format!("committing: {e}"))?;
    }
    let commit_seconds = commit_started.elapsed().as_secs_f64();
    let counted = progress.count();
    if counted != args.records {
        return Err(format!(
            "counted {counted} records of the first input, not {}",
            args.records
        ));
    }
    let records_out: u64 = runners.iter().map(RawTaskRunner::records_out).sum();
    Ok(serde_json::json!({
        "workload": args.workload,
        "impl": "rust-inprocess",
        "partitions": partitions,
        "records": args.records,
        "seconds": seconds,
        "records_per_s": args.records as f64 / seconds,
        "commit_seconds": commit_seconds,
        "records_out": records_out,
        "peak_rss_bytes": peak_rss_bytes(),
    })
    .to_string())
}
