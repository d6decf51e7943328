//! The DSL: [`StreamsBuilder`], [`KStream`], [`KTable`], [`GlobalKTable`],
//! the grouped forms and the option types, named as in Kafka Streams.

mod branched;
mod builder;
mod global_table;
mod grouped_stream;
mod grouped_table;
mod kstream;
mod ktable;
mod options;
mod store;

pub use branched::BranchedKStream;
pub use builder::StreamsBuilder;
pub use global_table::GlobalKTable;
pub use grouped_stream::KGroupedStream;
pub use grouped_table::KGroupedTable;
pub use kstream::KStream;
pub use ktable::KTable;
pub use options::{Branched, Consumed, Extractor, Grouped, Materialized, Named, Produced, Repartitioned, StoreType};
