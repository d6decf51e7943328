//! Input and output topics of the test driver.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;
use std::time::Duration;

use super::driver::DriverState;
use crate::error::StreamsError;
use crate::processor::Headers;
use crate::serde::SerdeRef;

/// A record as piped into or read from the test driver.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord<K, V> {
    /// The key (`None` is null).
    pub key: Option<K>,
    /// The value (`None` is null: a tombstone).
    pub value: Option<V>,
    /// The timestamp in ms.
    pub timestamp: i64,
    /// The headers.
    pub headers: Headers,
}

impl<K, V> TestRecord<K, V> {
    /// A record with no headers.
    ///
    /// ```
    /// use streams_core::testing::TestRecord;
    /// let r = TestRecord::new(Some("k".to_string()), None::<String>, 5);
    /// assert_eq!(r.timestamp, 5);
    /// ```
    pub fn new(key: Option<K>, value: Option<V>, timestamp: i64) -> Self {
        TestRecord {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }
}

/// A key and a value as read from an output topic (`None` is null).
pub type KeyValue<K, V> = (Option<K>, Option<V>);

/// Pipes records into one input topic of a [`TopologyTestDriver`](super::TopologyTestDriver).
///
/// Records piped without a timestamp get the topic's current time, which
/// then advances by the topic's auto-advance step.
pub struct TestInputTopic<K, V> {
    pub(crate) state: Rc<RefCell<DriverState>>,
    pub(crate) topic: String,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) current_time: i64,
    pub(crate) advance_ms: i64,
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    fn next_time(&mut self) -> i64 {
        let t = self.current_time;
        self.current_time = self.current_time.saturating_add(self.advance_ms);
        t
    }

    /// Pipes a full record (key, value, timestamp, headers; nulls allowed).
    pub fn pipe_record(&mut self, record: TestRecord<K, V>) -> Result<(), StreamsError> {
        let key = match &record.key {
            Some(k) => Some(self.key_serde.serialize(&self.topic, k)?),
            None => None,
        };
        let value = match &record.value {
            Some(v) => Some(self.value_serde.serialize(&self.topic, v)?),
            None => None,
        };
        self.state
            .borrow_mut()
            .pipe(&self.topic, key, value, record.timestamp, record.headers)
    }

    /// Pipes a value with a null key at the topic's current time.
    pub fn pipe_value(&mut self, value: V) -> Result<(), StreamsError> {
        let ts = self.next_time();
        self.pipe_record(TestRecord::new(None, Some(value), ts))
    }

    /// Pipes a key and a value at the topic's current time.
    pub fn pipe_input(&mut self, key: K, value: V) -> Result<(), StreamsError> {
        let ts = self.next_time();
        self.pipe_record(TestRecord::new(Some(key), Some(value), ts))
    }

    /// Pipes a key and a value with this timestamp.
    pub fn pipe_input_at(&mut self, key: K, value: V, timestamp: i64) -> Result<(), StreamsError> {
        self.pipe_record(TestRecord::new(Some(key), Some(value), timestamp))
    }

    /// Pipes a key with a null value (a tombstone) with this timestamp.
    pub fn pipe_tombstone_at(&mut self, key: K, timestamp: i64) -> Result<(), StreamsError> {
        self.pipe_record(TestRecord::new(Some(key), None, timestamp))
    }

    /// Pipes values with null keys, one after the other.
    pub fn pipe_value_list(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> Result<(), StreamsError> {
        values.into_iter().try_for_each(|v| self.pipe_value(v))
    }

    /// Pipes key-value pairs, one after the other.
    pub fn pipe_key_value_list(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), StreamsError> {
        pairs
            .into_iter()
            .try_for_each(|(k, v)| self.pipe_input(k, v))
    }

    /// Pipes records, one after the other.
    pub fn pipe_record_list(
        &mut self,
        records: impl IntoIterator<Item = TestRecord<K, V>>,
    ) -> Result<(), StreamsError> {
        records.into_iter().try_for_each(|r| self.pipe_record(r))
    }

    /// Moves the topic's current time forward.
    pub fn advance_time(&mut self, by: Duration) {
        self.current_time = self
            .current_time
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.topic
    }
}

/// Reads what the topology wrote to one topic, oldest first.
pub struct TestOutputTopic<K, V> {
    pub(crate) state: Rc<RefCell<DriverState>>,
    pub(crate) topic: String,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    /// Reads and removes the oldest record; an error if there is none.
    pub fn read_record(&self) -> Result<TestRecord<K, V>, StreamsError> {
        let raw = self
            .state
            .borrow_mut()
            .take_output(&self.topic)
            .ok_or_else(|| {
                StreamsError::TestDriver(format!("no more records in topic '{}'", self.topic))
            })?;
        let key = match &raw.key {
            Some(b) => Some(self.key_serde.deserialize(&self.topic, b)?),
            None => None,
        };
        let value = match &raw.value {
            Some(b) => Some(self.value_serde.deserialize(&self.topic, b)?),
            None => None,
        };
        Ok(TestRecord {
            key,
            value,
            timestamp: raw.timestamp,
            headers: raw.headers,
        })
    }

    /// Reads the oldest record's value.
    pub fn read_value(&self) -> Result<Option<V>, StreamsError> {
        self.read_record().map(|r| r.value)
    }

    /// Reads the oldest record's key and value.
    pub fn read_key_value(&self) -> Result<KeyValue<K, V>, StreamsError> {
        self.read_record().map(|r| (r.key, r.value))
    }

    /// Reads every record left.
    pub fn read_records_to_list(&self) -> Result<Vec<TestRecord<K, V>>, StreamsError> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.read_record()?);
        }
        Ok(out)
    }

    /// Reads every value left.
    pub fn read_values_to_list(&self) -> Result<Vec<Option<V>>, StreamsError> {
        Ok(self
            .read_records_to_list()?
            .into_iter()
            .map(|r| r.value)
            .collect())
    }

    /// Reads every key-value pair left.
    pub fn read_key_values_to_list(&self) -> Result<Vec<KeyValue<K, V>>, StreamsError> {
        Ok(self
            .read_records_to_list()?
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect())
    }

    /// Reads every record left into a map of the latest value per key (a
    /// null value removes the key); a null key is an error, as in Kafka's
    /// driver.
    pub fn read_key_values_to_map(&self) -> Result<HashMap<K, V>, StreamsError>
    where
        K: Hash + Eq,
    {
        let mut map = HashMap::new();
        for r in self.read_records_to_list()? {
            let key = r.key.ok_or_else(|| {
                StreamsError::TestDriver(format!(
                    "a record of topic '{}' has a null key",
                    self.topic
                ))
            })?;
            match r.value {
                Some(v) => {
                    map.insert(key, v);
                }
                None => {
                    map.remove(&key);
                }
            }
        }
        Ok(map)
    }

    /// Whether no record is left.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }

    /// How many records are left.
    pub fn queue_size(&self) -> usize {
        self.state.borrow().output_len(&self.topic)
    }
}
