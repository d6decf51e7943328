//! The DSL: [`StreamsBuilder`], [`KStream`], [`KTable`], [`GlobalKTable`],
//! the grouped forms and the option types, named as in Kafka Streams.

mod branched;
mod builder;
mod cogrouped;
mod global_table;
mod grouped_stream;
mod grouped_table;
mod joined;
mod joins;
mod kstream;
mod ktable;
mod options;
mod store;
mod suppressed;
mod windowed;

pub use branched::BranchedKStream;
pub use builder::StreamsBuilder;
pub use cogrouped::CogroupedKStream;
pub use global_table::GlobalKTable;
pub use grouped_stream::KGroupedStream;
pub use grouped_table::KGroupedTable;
pub use joined::{Joined, StreamJoined, TableJoined};
pub use kstream::KStream;
pub use ktable::KTable;
pub use options::{
    AutoOffsetReset, Branched, Consumed, Extractor, Grouped, Materialized, Named, Produced,
    Repartitioned, StoreType,
};
pub use suppressed::{BufferConfig, Suppressed};
pub use windowed::{
    EmitStrategy, SessionWindowedKStream, SlidingWindowedKStream, TimeWindowedKStream,
};
