// Type and const parameters are kept, and so is the type's own where clause;
// the impl holds exactly when the type can be written as JSON.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use streams::StreamsSerde;
use streams::serde::DefaultSerde;

#[derive(Serialize, Deserialize, StreamsSerde)]
struct Envelope<T> {
    key: String,
    payload: T,
}

#[derive(Serialize, Deserialize, StreamsSerde)]
struct Sample<T: Copy, const N: usize>
where
    T: Default,
{
    values: Vec<T>,
}

#[derive(Serialize, Deserialize, StreamsSerde)]
#[serde(bound = "E: Serialize + DeserializeOwned")]
enum Outcome<E> {
    Done,
    Failed(E),
}

fn needs_default_serde<T: DefaultSerde>() {
    let _ = T::default_serde();
}

fn main() {
    needs_default_serde::<Envelope<u32>>();
    needs_default_serde::<Envelope<Envelope<String>>>();
    needs_default_serde::<Sample<f64, 3>>();
    needs_default_serde::<Outcome<String>>();
}
