//! [`Suppressed`] and [`BufferConfig`]: the options of `KTable::suppress`
//! (Kafka Streams' `Suppressed` and `Suppressed.BufferConfig`).
//!
//! `suppress` holds a table's updates back and forwards, per key, only the
//! latest one once it is old enough:
//!
//! * [`Suppressed::until_window_closes`] waits until a window has closed
//!   (stream time has passed its end plus the upstream grace period, plus
//!   the inactivity gap for sessions) and forwards each window's final
//!   result once, dropping deletes. It works on the result of any windowed
//!   aggregation (time, sliding, session) and needs a strict buffer
//!   (unbounded, or failing when full), since emitting early would break the
//!   "final result" promise.
//! * [`Suppressed::until_time_limit`] forwards a key's latest update once
//!   `time_to_wait` of stream time has passed since the key's first
//!   buffered update (a key keeps its first buffer time while it is
//!   updated), deletes included.
//!
//! The processor is named `KTABLE-SUPPRESS-<n>` and its buffer store
//! `KTABLE-SUPPRESS-STATE-STORE-<m>` (`<name>-store` for a named
//! suppression); the buffer is in memory and logged unless disabled.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::ktable::KTable;
use super::windowed::find_window_grace;
use crate::processor::suppress::{
    BufferFull, BufferTime, SuppressBufferBuilder, SuppressProcessor,
};
use crate::topology::{TopologyError, processor_factory};
use crate::window::Windowed;

/// Kafka's "no limit": `Long.MAX_VALUE`.
const UNBOUNDED: u64 = i64::MAX as u64;

/// How much a suppression buffer may hold, and what happens when it is full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferConfig {
    max_records: u64,
    max_bytes: u64,
    when_full: BufferFull,
    logging: bool,
    log_config: BTreeMap<String, String>,
}

impl BufferConfig {
    /// No limit (Kafka's `unbounded()`: a strict buffer that would fail
    /// rather than emit early, which it never has to).
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// let unbounded = BufferConfig::unbounded();
    /// assert!(unbounded.is_strict());
    /// ```
    pub fn unbounded() -> Self {
        BufferConfig {
            max_records: UNBOUNDED,
            max_bytes: UNBOUNDED,
            when_full: BufferFull::ShutDown,
            logging: true,
            log_config: BTreeMap::new(),
        }
    }

    /// At most `records` keys, emitting the oldest early when over (Kafka's
    /// `maxRecords`).
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// assert!(!BufferConfig::max_records(100).is_strict());
    /// ```
    pub fn max_records(records: u64) -> Self {
        BufferConfig {
            max_records: records,
            max_bytes: UNBOUNDED,
            when_full: BufferFull::EmitEarly,
            logging: true,
            log_config: BTreeMap::new(),
        }
    }

    /// At most `bytes` (Kafka's size estimate), emitting the oldest early
    /// when over (Kafka's `maxBytes`).
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// let config = BufferConfig::max_bytes(1 << 20).with_max_records(1000);
    /// assert!(!config.is_strict());
    /// ```
    pub fn max_bytes(bytes: u64) -> Self {
        BufferConfig {
            max_records: UNBOUNDED,
            max_bytes: bytes,
            when_full: BufferFull::EmitEarly,
            logging: true,
            log_config: BTreeMap::new(),
        }
    }

    /// Also limits the number of keys.
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// let config = BufferConfig::unbounded().with_max_records(10).shut_down_when_full();
    /// assert!(config.is_strict());
    /// ```
    pub fn with_max_records(mut self, records: u64) -> Self {
        self.max_records = records;
        self
    }

    /// Also limits the buffered bytes.
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// let config = BufferConfig::max_records(10).with_max_bytes(4096);
    /// # let _ = config;
    /// ```
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// When full, forward the oldest entries early.
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// assert!(!BufferConfig::unbounded().with_max_records(5).emit_early_when_full().is_strict());
    /// ```
    pub fn emit_early_when_full(mut self) -> Self {
        self.when_full = BufferFull::EmitEarly;
        self
    }

    /// When full, fail the task (the processor returns an error naming the
    /// limits).
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// assert!(BufferConfig::max_records(5).shut_down_when_full().is_strict());
    /// ```
    pub fn shut_down_when_full(mut self) -> Self {
        self.when_full = BufferFull::ShutDown;
        self
    }

    /// No changelog for the buffer.
    ///
    /// ```rust
    /// use streams_core::dsl::BufferConfig;
    /// let config = BufferConfig::unbounded().with_logging_disabled();
    /// # let _ = config;
    /// ```
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// A changelog for the buffer (the default), created with `config`.
    ///
    /// ```rust
    /// use std::collections::BTreeMap;
    /// use streams_core::dsl::BufferConfig;
    /// let config = BufferConfig::unbounded().with_logging_enabled(BTreeMap::new());
    /// # let _ = config;
    /// ```
    pub fn with_logging_enabled(mut self, config: BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.log_config = config;
        self
    }

    /// Whether the buffer fails rather than emitting early (Kafka's
    /// `StrictBufferConfig`).
    pub fn is_strict(&self) -> bool {
        self.when_full == BufferFull::ShutDown
    }
}

enum Kind<K> {
    UntilWindowCloses {
        window_end: Arc<dyn Fn(&K) -> i64 + Send + Sync>,
    },
    UntilTimeLimit {
        wait_ms: i64,
    },
}

/// How `KTable::suppress` holds updates back (see the module docs).
pub struct Suppressed<K> {
    name: Option<String>,
    kind: Kind<K>,
    buffer: BufferConfig,
}

impl<K: 'static> Suppressed<Windowed<K>> {
    /// Forwards each window's final result once, after the window closes.
    ///
    /// ```rust
    /// use streams_core::dsl::{BufferConfig, Suppressed};
    /// let finals = Suppressed::<streams_core::window::Windowed<String>>::until_window_closes(BufferConfig::unbounded());
    /// # let _ = finals;
    /// ```
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Suppressed {
            name: None,
            kind: Kind::UntilWindowCloses {
                window_end: Arc::new(|k: &Windowed<K>| k.window.end()),
            },
            buffer,
        }
    }
}

impl<K> Suppressed<K> {
    /// Forwards a key's latest update once `time_to_wait` of stream time has
    /// passed since its first buffered update.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::dsl::{BufferConfig, Suppressed};
    /// let rate_limited = Suppressed::<String>::until_time_limit(
    ///     Duration::from_secs(60),
    ///     BufferConfig::max_records(1000).emit_early_when_full(),
    /// );
    /// # let _ = rate_limited;
    /// ```
    pub fn until_time_limit(time_to_wait: Duration, buffer: BufferConfig) -> Self {
        Suppressed {
            name: None,
            kind: Kind::UntilTimeLimit {
                wait_ms: i64::try_from(time_to_wait.as_millis()).unwrap_or(i64::MAX),
            },
            buffer,
        }
    }

    /// Names the suppression node (its store becomes `<name>-store`).
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::dsl::{BufferConfig, Suppressed};
    /// let named = Suppressed::<String>::until_time_limit(Duration::from_secs(1), BufferConfig::unbounded())
    ///     .with_name("rate-limit");
    /// # let _ = named;
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KTable<K, V> {
    /// Holds updates back as `suppressed` says (see [`Suppressed`]); the
    /// result is a table of the updates that got through.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{BufferConfig, Consumed, Grouped, Materialized, Produced, StreamsBuilder, Suppressed};
    /// # use streams_core::serde::{Serdes, TimeWindowedSerde};
    /// # use streams_core::window::TimeWindows;
    /// # use std::sync::Arc;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = TimeWindows::of_size_and_grace(Duration::from_millis(100), Duration::from_millis(50)).unwrap();
    /// stream
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_time(windows)
    ///     .count(Materialized::none())
    ///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    ///     .to_stream()
    ///     .to("out", Produced::with(Arc::new(TimeWindowedSerde::new(Serdes::string(), 100)), Serdes::i64()));
    /// assert!(builder.build().is_ok());
    /// ```
    pub fn suppress(&self, suppressed: Suppressed<K>) -> KTable<K, V> {
        let mut b = self.builder.borrow_mut();
        let name = match &suppressed.name {
            Some(n) => n.clone(),
            None => b.new_processor_name("KTABLE-SUPPRESS-"),
        };
        drop(b);
        let (wait_ms, buffer_time, safe_to_drop): (i64, BufferTime<K>, bool) = match suppressed.kind
        {
            Kind::UntilWindowCloses { window_end } => {
                let grace = match find_window_grace(&self.builder, self.node) {
                    Ok(g) => g,
                    Err(e) => {
                        self.builder.borrow_mut().errors.push(e);
                        0
                    }
                };
                if !suppressed.buffer.is_strict() {
                    self.builder.borrow_mut().errors.push(TopologyError::InvalidArgument(format!(
                        "suppress '{name}': until_window_closes needs a strict buffer (BufferConfig::unbounded() \
                         or .shut_down_when_full()): emitting early would not be a final result"
                    )));
                }
                (grace, Arc::new(move |k: &K, _ts: i64| window_end(k)), true)
            }
            Kind::UntilTimeLimit { wait_ms } => (wait_ms, Arc::new(|_k: &K, ts: i64| ts), false),
        };
        let mut b = self.builder.borrow_mut();
        let store_name = match &suppressed.name {
            Some(n) => format!("{n}-store"),
            None => b.new_store_name("KTABLE-SUPPRESS-"),
        };
        let fix =
            "give the table serdes (Materialized::with / Grouped::with / Consumed::with upstream)";
        let ks = b.serde_or_error(self.key_serde.clone(), &name, "key serde", fix);
        let vs = b.serde_or_error(self.value_serde.clone(), &name, "value serde", fix);
        b.add_store(
            Arc::new(SuppressBufferBuilder {
                name: store_name.clone(),
                key_serde: ks,
                value_serde: vs,
                logging: suppressed.buffer.logging,
                log_config: suppressed.buffer.log_config.clone(),
            }),
            false,
        );
        let config = suppressed.buffer;
        let factory = {
            let store_name = store_name.clone();
            processor_factory(move || SuppressProcessor::<K, V> {
                store_name: store_name.clone(),
                max_records: config.max_records,
                max_bytes: config.max_bytes,
                wait_ms,
                buffer_time: buffer_time.clone(),
                when_full: config.when_full,
                safe_to_drop_tombstones: safe_to_drop,
                buffer: None,
                observed_stream_time: -1,
            })
        };
        let node = b.add_processor(name, &[self.node], factory);
        b.connect_store(node, &store_name);
        drop(b);
        // The buffer forwards whole changes, so the parent must send old
        // values (Kafka's supplier asks for them too).
        self.enable_sending_old_values();
        let me = self.clone();
        KTable {
            builder: self.builder.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            send_old_values: Arc::new(AtomicBool::new(false)),
            store_name: None,
            source_materialize: None,
            parent: Some(Rc::new(move || me.enable_sending_old_values())),
        }
    }
}
