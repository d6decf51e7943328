//! Exact-output tests of the DSL in the TopologyTestDriver: one binary, so
//! RocksDB and librdkafka are linked once.

mod describe;
mod joins;
mod processor_api;
mod stateless;
mod suppress;
mod tables;
mod windows;
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
