//! The record that flows between processors.

/// One header of a record: a name and optional bytes, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name.
    pub key: String,
    /// The header's value; `None` is a null header value.
    pub value: Option<Vec<u8>>,
}

/// A record's headers, in order. Empty headers do not allocate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }
    /// Appends a header (Kafka allows repeated names).
    pub fn add(&mut self, key: impl Into<String>, value: Option<Vec<u8>>) -> &mut Self {
        self.0.push(Header {
            key: key.into(),
            value,
        });
        self
    }
    /// The last header with this name, as Kafka's `lastHeader`.
    pub fn last_header(&self, key: &str) -> Option<&Header> {
        self.0.iter().rev().find(|h| h.key == key)
    }
    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }
    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// The bytes of the names and values, what the record cache charges an
    /// entry for the headers it keeps (as Kafka Streams' estimate of a
    /// record context's size).
    pub(crate) fn estimated_bytes(&self) -> usize {
        self.0
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len))
            .sum()
    }
}

/// A record as processors see it: an optional key, an optional value, a
/// timestamp in milliseconds and headers.
///
/// `None` is Kafka's null. A null value is a tombstone for tables; a null key
/// is common on input topics and is dropped by the operators that need a key
/// (grouping, joins, table sources), exactly where Kafka Streams drops it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// The key; `None` is a null key.
    pub key: Option<K>,
    /// The value; `None` is a null value (a tombstone for tables).
    pub value: Option<V>,
    /// The timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// The headers.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record with no headers.
    ///
    /// ```
    /// use streams_core::processor::Record;
    /// let r = Record::new(Some("k".to_string()), Some(1i64), 42);
    /// assert_eq!(r.timestamp, 42);
    /// ```
    pub fn new(key: Option<K>, value: Option<V>, timestamp: i64) -> Self {
        Record {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }

    /// The same record with another key (and so maybe another key type).
    pub fn with_key<K2>(self, key: Option<K2>) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another value (and so maybe another value type).
    pub fn with_value<V2>(self, value: Option<V2>) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another key and value.
    pub fn with_key_value<K2, V2>(self, key: Option<K2>, value: Option<V2>) -> Record<K2, V2> {
        Record {
            key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The same record with other headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// Where the record being processed came from: its topic, partition and
/// offset. Absent inside a punctuation, as in Kafka Streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The source topic.
    pub topic: std::sync::Arc<str>,
    /// The source partition.
    pub partition: i32,
    /// The source offset.
    pub offset: i64,
}
