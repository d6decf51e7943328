use serde::{Deserialize, Serialize};
use streams::StreamsSerde;

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams(encoding = "json")]
struct UnknownKey;

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams(format = "json")]
#[streams(format = "json")]
struct Duplicate;

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams]
struct NoArguments;

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams(format)]
struct NoValue;

#[derive(Serialize, Deserialize, StreamsSerde)]
#[streams(format = json)]
struct NotAString;

fn main() {}
