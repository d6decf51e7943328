use serde::{Deserialize, Serialize};
use streams::StreamsSerde;

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams(format = "avro")]
struct Order {
    id: u64,
}

fn main() {}
