// The attribute is optional (JSON is the default) and may be written out.
use serde::{Deserialize, Serialize};
use streams::StreamsSerde;
use streams::serde::{DefaultSerde, SerdeRef};

#[derive(Serialize, Deserialize, StreamsSerde)]
struct Implicit {
    id: u64,
}

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams(format = "json")]
struct Explicit(String);

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams()]
#[streams(format = "json")]
enum Status {
    Open,
    Closed { reason: String },
}

#[derive(Serialize, Deserialize, StreamsSerde)]
struct Unit;

fn main() {
    let _: SerdeRef<Implicit> = Implicit::default_serde();
    let _: SerdeRef<Explicit> = <Explicit as DefaultSerde>::default_serde();
    let _: SerdeRef<Status> = Status::default_serde();
    let _: SerdeRef<Unit> = Unit::default_serde();
}
