//! [`TopologyTestDriver`]: runs a topology in memory, record by record,
//! with the same processors and stores the Kafka runtime uses, for fast
//! deterministic tests with no broker.
//!
//! As Kafka's own driver, after each input record it processes the record,
//! fires due stream-time punctuations, commits (flushing caches, so cached
//! operators emit per record) and feeds records written to repartition
//! topics back in, until nothing is left.

mod driver;
mod topics;

pub use driver::{KeyValueStoreView, TopologyTestDriver};
pub use topics::{KeyValue, TestInputTopic, TestOutputTopic, TestRecord};

mod bench;
pub use bench::RawTaskRunner;
