//! Exact-output tests of the DSL in the TopologyTestDriver: one binary, so
//! RocksDB and librdkafka are linked once.

mod cache_contexts;
mod childless;
mod describe;
mod joins;
mod processing_errors;
mod processor_api;
mod stateless;
mod stores_windowed;
mod stores_windowed_java;
mod suppress;
mod tables;
mod timestamp_extractor;
mod windows;
mod windows_metrics;
mod windows_retention;
mod word_count;

use streams::config::StreamsConfig;
use streams::testing::TestRecord;

pub fn config() -> StreamsConfig {
    StreamsConfig::new().set("application.id", "test-app")
}

pub fn rec<K, V>(key: Option<K>, value: Option<V>, ts: i64) -> TestRecord<K, V> {
    TestRecord::new(key, value, ts)
}

pub fn s(x: &str) -> String {
    x.to_string()
}
