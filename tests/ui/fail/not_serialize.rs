// The derive does not write serde's impls: without them the type has no JSON
// form, and the error says which trait is missing.
use streams::StreamsSerde;

#[derive(StreamsSerde)]
struct Plain {
    id: u64,
}

fn main() {}
