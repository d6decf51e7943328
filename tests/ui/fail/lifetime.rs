use serde::{Deserialize, Serialize};
use streams::StreamsSerde;

#[derive(Serialize, Deserialize, StreamsSerde)]
struct Borrowed<'a> {
    name: &'a str,
}

fn main() {}
