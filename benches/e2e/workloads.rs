//! The streams workloads, as Kafka Streams' SimpleBenchmark and
//! YahooBenchmark define them, and the restore benchmark, run by
//! `KafkaStreams` with one stream thread.
//!
//! Each counts the records of its (first) input as they are processed:
//! with a `peek` right after the source, as SimpleBenchmark does, or, for a
//! table source (`tabletablejoin`), in the value deserializer of that
//! source. The clock runs from just before `KafkaStreams::start` to the
//! N-th record, as in SimpleBenchmark (so it includes joining the group);
//! the time to the first record is reported too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use streams::config::StreamsConfig;
use streams::dsl::{
    Consumed, Grouped, Joined, Materialized, Produced, StoreType, StreamJoined, StreamsBuilder,
};
use streams::error::StreamsError;
use streams::processor::{Processor, ProcessorContext, Record};
use streams::runtime::{KafkaStreams, State, StateRestoreListener};
use streams::serde::{Serde, SerdeError, SerdeRef, Serdes};
use streams::state::window::WindowStore;
use streams::state::{KeyValueStore, Stores};
use streams::topology::Topology;
use streams::window::{JoinWindows, TimeWindows};

use crate::load::{ProjectedEvent, Topics};
use crate::{Args, peak_rss_bytes};

/// What one run measured.
pub struct Measurement {
    pub records: u64,
    pub seconds: Duration,
    pub first_record: Duration,
    /// Restore only: seconds from `start` to RUNNING.
    pub restored: Option<Duration>,
}

/// Counts processed records and notes when the first and the N-th went by.
pub struct Progress {
    count: AtomicU64,
    target: u64,
    start: Instant,
    first_ns: AtomicU64,
    done_ns: AtomicU64,
}

impl Progress {
    pub fn new(target: u64) -> Arc<Progress> {
        Arc::new(Progress {
            count: AtomicU64::new(0),
            target,
            start: Instant::now(),
            first_ns: AtomicU64::new(0),
            done_ns: AtomicU64::new(0),
        })
    }

    #[inline]
    fn hit(&self) {
        let c = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if c == 1 {
            self.first_ns.store(self.since_start(), Ordering::Relaxed);
        }
        if c == self.target {
            self.done_ns.store(self.since_start(), Ordering::Release);
        }
    }

    /// Records counted so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn since_start(&self) -> u64 {
        self.start.elapsed().as_nanos().max(1) as u64
    }

    fn done(&self) -> Option<Duration> {
        match self.done_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
}

/// `Serdes::bytes()` whose deserializer counts: how a table source's
/// records are counted (a table has no `peek`). The stores of that table
/// get the plain serde through `Materialized`, so only the source counts.
struct CountingBytes(Arc<Progress>);

impl Serde<Vec<u8>> for CountingBytes {
    fn serialize_into(
        &self,
        _: &str,
        value: &Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }
    fn deserialize(&self, _: &str, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        self.0.hit();
        Ok(bytes.to_vec())
    }
}

/// SimpleBenchmark's joiner: the left value, else the right one, else 100
/// zero bytes. (Java returns the same array; the DSL's joiners return an
/// owned value, hence the copy.) `&Vec` because the DSL hands joiners `&V`.
#[allow(clippy::ptr_arg)]
fn value_joiner(left: &Vec<u8>, right: Option<&Vec<u8>>) -> Vec<u8> {
    let _ = right;
    left.clone()
}

/// `streamprocesswithstatestore`: a get, then a put, per record.
#[derive(Default)]
struct GetPut {
    store: Option<KeyValueStore<i32, Vec<u8>>>,
}

impl Processor<i32, Vec<u8>, (), ()> for GetPut {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, (), ()>) -> Result<(), StreamsError> {
        self.store = Some(ctx.get_state_store("store")?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<i32, Vec<u8>>,
        _ctx: &mut ProcessorContext<'_, (), ()>,
    ) -> Result<(), StreamsError> {
        if let (Some(store), Some(key)) = (&self.store, &record.key) {
            store.get(key)?;
            store.put(key, record.value.as_ref())?;
        }
        Ok(())
    }

    /// Never reads a header, and says so, as an application's processor
    /// can: the runtime then leaves the fetched headers unparsed.
    fn uses_headers(&self) -> bool {
        false
    }
}

/// `streamprocesswithwindowstore`: fetch keys key-10..key+10 over the last
/// second, then put the record in its window.
#[derive(Default)]
struct WindowFetchPut {
    store: Option<WindowStore<i32, Vec<u8>>>,
}

impl Processor<i32, Vec<u8>, (), ()> for WindowFetchPut {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, (), ()>) -> Result<(), StreamsError> {
        self.store = Some(ctx.get_state_store("store")?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<i32, Vec<u8>>,
        _ctx: &mut ProcessorContext<'_, (), ()>,
    ) -> Result<(), StreamsError> {
        if let (Some(store), Some(key)) = (&self.store, record.key) {
            let ts = record.timestamp;
            let found = store.fetch_key_range(
                Some(&key.wrapping_sub(10)),
                Some(&key.wrapping_add(10)),
                ts - 1000,
                ts,
            )?;
            std::hint::black_box(found);
            store.put(&key, record.value.as_ref(), ts)?;
        }
        Ok(())
    }

    /// As `GetPut::uses_headers`.
    fn uses_headers(&self) -> bool {
        false
    }
}

/// A Yahoo campaign row: `"adId:campaignId"` split.
#[derive(Clone)]
struct CampaignAd {
    _ad_id: String,
    campaign_id: String,
}

fn int_bytes() -> (SerdeRef<i32>, SerdeRef<Vec<u8>>) {
    (Serdes::i32(), Serdes::bytes())
}

pub fn topology(workload: &str, t: &Topics, progress: &Arc<Progress>) -> Result<Topology, String> {
    let b = StreamsBuilder::new();
    let (ks, vs) = int_bytes();
    let p = progress.clone();
    let count = move |_: Option<&i32>, _: Option<&Vec<u8>>| p.hit();
    let source = |b: &StreamsBuilder| b.stream(&t.input1, Consumed::with(ks.clone(), vs.clone()));
    match workload {
        "streamprocess" => {
            source(&b).peek(count);
        }
        "streamprocesswithsink" => {
            source(&b)
                .peek(count)
                .to(&t.sink, Produced::with(ks.clone(), vs.clone()));
        }
        "streamprocesswithstatestore" => {
            b.add_state_store(
                Stores::key_value_store_builder(
                    Stores::persistent_key_value_store("store"),
                    ks.clone(),
                    vs.clone(),
                )
                .with_caching_enabled(),
            );
            source(&b)
                .peek(count)
                .process::<(), (), _>(GetPut::default, &["store"]);
        }
        "streamprocesswithwindowstore" => {
            let supplier = Stores::persistent_window_store("store", 3_000, 1_000, false)
                .map_err(|e| e.to_string())?;
            b.add_state_store(
                Stores::window_store_builder(supplier, ks.clone(), vs.clone())
                    .with_caching_enabled(),
            );
            source(&b)
                .peek(count)
                .process::<(), (), _>(WindowFetchPut::default, &["store"]);
        }
        "streamcount" => {
            source(&b)
                .peek(count)
                .group_by_key(Grouped::with(ks.clone(), vs.clone()))
                .count(Materialized::none().with_store_type(StoreType::RocksDb));
        }
        "streamcountwindowed" => {
            let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(1000))
                .and_then(|w| w.advance_by(Duration::from_millis(500)))
                .map_err(|e| e.to_string())?;
            source(&b)
                .peek(count)
                .group_by_key(Grouped::with(ks.clone(), vs.clone()))
                .windowed_by_time(windows)
                .count(Materialized::none().with_store_type(StoreType::RocksDb));
        }
        "streamtablejoin" => {
            let table = b.table(
                &t.input2,
                Consumed::with(ks.clone(), vs.clone()),
                Materialized::none(),
            );
            source(&b)
                .peek(count)
                .left_join_table(&table, value_joiner, Joined::none())
                .foreach(|_, _| {});
        }
        "streamstreamjoin" => {
            let other = b.stream(&t.input2, Consumed::with(ks.clone(), vs.clone()));
            let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            source(&b)
                .peek(count)
                .left_join(
                    &other,
                    value_joiner,
                    windows,
                    StreamJoined::with(ks.clone(), vs.clone(), vs.clone()),
                )
                .foreach(|_, _| {});
        }
        "tabletablejoin" => {
            let counting: SerdeRef<Vec<u8>> = Arc::new(CountingBytes(progress.clone()));
            let left = b.table(
                &t.input1,
                Consumed::with(ks.clone(), counting),
                Materialized::with(ks.clone(), vs.clone()),
            );
            let right = b.table(
                &t.input2,
                Consumed::with(ks.clone(), vs.clone()),
                Materialized::none(),
            );
            left.left_join(&right, value_joiner)
                .to_stream()
                .foreach(|_, _| {});
        }
        "yahoo" => {
            let p = progress.clone();
            let events = b
                .stream(
                    &t.events,
                    Consumed::with(Serdes::string(), Serdes::json::<ProjectedEvent>()),
                )
                .peek(move |_, _| p.hit())
                .filter(|_, e| e.is_some_and(|e| e.event_type == "view"))
                // Only a few columns go on.
                .map_values(|e| {
                    e.map(|e| ProjectedEvent {
                        event_type: e.event_type.clone(),
                        ad_id: e.ad_id.clone(),
                        event_time: e.event_time,
                        ..ProjectedEvent::default()
                    })
                });
            let campaigns = b
                .table(
                    &t.campaigns,
                    Consumed::with(Serdes::string(), Serdes::string()),
                    Materialized::as_("campaign-state"),
                )
                .map_values(|_, v| {
                    let (ad, campaign) = v.split_once(':').unwrap_or((v.as_str(), ""));
                    CampaignAd {
                        _ad_id: ad.to_string(),
                        campaign_id: campaign.to_string(),
                    }
                });
            let windows = TimeWindows::of_size_with_no_grace(Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            events
                .join_table(
                    &campaigns,
                    |_e: &ProjectedEvent, c: &CampaignAd| c.campaign_id.clone(),
                    Joined::none(),
                )
                .select_key(|_, campaign| campaign.cloned())
                .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
                .windowed_by_time(windows)
                .count(Materialized::none().with_store_type(StoreType::RocksDb));
        }
        "restore" => {
            b.add_state_store(
                Stores::key_value_store_builder(
                    Stores::persistent_key_value_store("store"),
                    ks.clone(),
                    vs.clone(),
                )
                .with_caching_enabled(),
            );
            b.stream(&t.restore_input, Consumed::with(ks.clone(), vs.clone()))
                .process::<(), (), _>(GetPut::default, &["store"]);
        }
        other => return Err(format!("unknown workload {other}")),
    }
    b.build().map_err(|e| format!("building the topology: {e}"))
}

/// Times restoration: from the first partition's start to the last one's
/// end.
struct RestoreClock {
    start: Instant,
    inner: Mutex<RestoreTimes>,
}

#[derive(Default)]
struct RestoreTimes {
    first_start: Option<Duration>,
    last_end: Option<Duration>,
    restored: u64,
    active: i64,
}

/// The listener handed to the instance: shares the clock with `run_streams`.
struct ClockListener(Arc<RestoreClock>);

impl StateRestoreListener for ClockListener {
    fn on_restore_start(&self, _: &str, _: i32, _: &str, _: i64, _: i64) {
        let now = self.0.start.elapsed();
        let mut t = self.0.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.first_start.get_or_insert(now);
        t.active += 1;
    }
    fn on_restore_end(&self, _: &str, _: i32, _: &str, total: u64) {
        let now = self.0.start.elapsed();
        let mut t = self.0.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.last_end = Some(now);
        t.restored += total;
        t.active -= 1;
    }
}

fn config(args: &Args, application_id: &str, state_dir: &std::path::Path) -> StreamsConfig {
    // Kafka Streams' defaults otherwise (commit interval 30 s, or 100 ms
    // under exactly-once; 10 MiB record cache; RocksDB defaults), which
    // the Java side uses too.
    let mut c = StreamsConfig::new()
        .set("application.id", application_id)
        .set("bootstrap.servers", &args.bootstrap)
        .set("state.dir", state_dir.display().to_string())
        .set("num.stream.threads", "1")
        .set("processing.guarantee", &args.guarantee);
    for (k, v) in &args.extra {
        c = c.set(k, v);
    }
    c
}

fn wait(
    streams: &KafkaStreams,
    deadline: Instant,
    mut done: impl FnMut() -> bool,
) -> Result<(), String> {
    loop {
        if done() {
            return Ok(());
        }
        match streams.state() {
            State::Error | State::NotRunning | State::PendingShutdown => {
                return Err(format!("the instance stopped ({:?})", streams.state()));
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn run_streams(args: &Args) -> Result<Measurement, String> {
    let topics = Topics::new(&args.prefix);
    let restore = args.workload == "restore";
    let target = if restore {
        args.restore_keys
    } else {
        args.records
    };
    let progress = Progress::new(target);
    let topology = topology(&args.workload, &topics, &progress)?;
    let application_id = if restore {
        // The changelog `load` filled: `<application id>-store-changelog`.
        topics.restore_apps[0].clone()
    } else {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!(
            "{}-{}-{}-rust-{millis}",
            args.prefix, args.workload, args.guarantee
        )
    };
    let state_dir = args.state_dir.join(format!("rust-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;

    let mut streams = KafkaStreams::new(topology, config(args, &application_id, &state_dir));
    let clock = Arc::new(RestoreClock {
        start: Instant::now(),
        inner: Mutex::default(),
    });
    if restore {
        streams.set_global_state_restore_listener(ClockListener(clock.clone()));
    }
    let started = Instant::now();
    streams.start().map_err(|e| format!("start: {e}"))?;
    let deadline = started + args.timeout;
    let outcome = if restore {
        wait(&streams, deadline, || {
            let t = clock.inner.lock().unwrap_or_else(|e| e.into_inner());
            t.active == 0 && t.restored >= target && t.last_end.is_some()
        })
        .and_then(|()| {
            wait(&streams, deadline, || streams.state() == State::Running)?;
            let running = started.elapsed();
            let t = clock.inner.lock().unwrap_or_else(|e| e.into_inner());
            let (Some(first), Some(last)) = (t.first_start, t.last_end) else {
                return Err("no restoration was reported".into());
            };
            Ok(Measurement {
                records: t.restored,
                seconds: last.saturating_sub(first),
                first_record: first,
                restored: Some(running),
            })
        })
    } else {
        wait(&streams, deadline, || progress.done().is_some()).map(|()| Measurement {
            records: target,
            seconds: progress.done().unwrap_or_default(),
            first_record: Duration::from_nanos(progress.first_ns.load(Ordering::Relaxed)),
            restored: None,
        })
    };
    let closed = streams.close(Duration::from_secs(120));
    let _ = std::fs::remove_dir_all(&state_dir);
    let m = outcome.map_err(|e| {
        format!(
            "{e} after {} of {target} records",
            progress.count.load(Ordering::Relaxed)
        )
    })?;
    if !closed {
        eprintln!("e2e run: close timed out");
    }
    Ok(m)
}

/// Runs `args.workload` and returns its JSON line.
pub fn run(args: &Args) -> Result<String, String> {
    let m = match args.workload.as_str() {
        "consume" => crate::raw::run(args, false)?,
        "consumeproduce" => crate::raw::run(args, true)?,
        _ => run_streams(args)?,
    };
    let seconds = m.seconds.as_secs_f64();
    let mut line = serde_json::json!({
        "workload": args.workload,
        "impl": "rust",
        "guarantee": args.guarantee,
        "records": m.records,
        "seconds": seconds,
        "records_per_s": m.records as f64 / seconds,
        "first_record_s": m.first_record.as_secs_f64(),
        "peak_rss_bytes": peak_rss_bytes(),
    });
    if let Some(r) = m.restored {
        line["start_to_running_s"] = r.as_secs_f64().into();
    }
    Ok(line.to_string())
}
