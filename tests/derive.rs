//! What the serdes of `#[derive(StreamsSerde)]` do at run time, through the
//! real `streams` facade, and (in `ui`) what the derive accepts and the
//! spanned errors it gives, with trybuild over `tests/ui/`.

use serde::{Deserialize, Serialize};
use streams::StreamsSerde;
use streams::serde::{DefaultSerde, SerdeRef};

/// trybuild compiles the cases as a crate of their own, under its own flags
/// and target dir; RocksDB is linked prebuilt (`scripts/env.sh`), so that
/// costs a build of the facade's Rust dependencies, not of RocksDB.
/// `TRYBUILD=overwrite` rewrites the `.stderr` files.
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, StreamsSerde)]
struct Order {
    id: u64,
    customer: String,
    lines: Vec<Line>,
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, StreamsSerde)]
#[streams(format = "json")]
enum Event {
    Created { id: u64 },
    Cancelled(u64),
    Cleared,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, StreamsSerde)]
struct Tagged<T> {
    tag: String,
    value: T,
}

fn round_trip<T: DefaultSerde + PartialEq + std::fmt::Debug>(value: &T, json: &str) {
    let serde: SerdeRef<T> = T::default_serde();
    let bytes = serde.serialize("topic", value).expect("serialize");
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), json);
    assert_eq!(bytes, json.as_bytes());
    let back = serde.deserialize("topic", &bytes).expect("deserialize");
    assert_eq!(&back, value);
}

#[test]
fn struct_round_trips_as_exact_json() {
    let order = Order {
        id: 42,
        customer: "alice".to_owned(),
        lines: vec![Line {
            sku: "tea-01".to_owned(),
            quantity: 3,
        }],
        note: None,
    };
    round_trip(
        &order,
        r#"{"id":42,"customer":"alice","lines":[{"sku":"tea-01","quantity":3}],"note":null}"#,
    );
}

#[test]
fn serialize_into_appends_to_the_buffer() {
    let order = Order {
        id: 1,
        customer: "bob".to_owned(),
        lines: Vec::new(),
        note: Some("fragile".to_owned()),
    };
    let mut out = b"prefix:".to_vec();
    Order::default_serde()
        .serialize_into("orders", &order, &mut out)
        .expect("serialize");
    assert_eq!(
        out,
        br#"prefix:{"id":1,"customer":"bob","lines":[],"note":"fragile"}"#
    );
}

#[test]
fn enum_round_trips_as_exact_json() {
    round_trip(&Event::Created { id: 5 }, r#"{"Created":{"id":5}}"#);
    round_trip(&Event::Cancelled(6), r#"{"Cancelled":6}"#);
    round_trip(&Event::Cleared, r#""Cleared""#);
}

#[test]
fn generic_struct_round_trips_as_exact_json() {
    round_trip(
        &Tagged {
            tag: "n".to_owned(),
            value: 7_i64,
        },
        r#"{"tag":"n","value":7}"#,
    );
    round_trip(
        &Tagged {
            tag: "s".to_owned(),
            value: vec!["a".to_owned()],
        },
        r#"{"tag":"s","value":["a"]}"#,
    );
}

#[test]
fn malformed_bytes_are_an_error_not_a_panic() {
    let result = Order::default_serde().deserialize("orders", br#"{"id":"not a number"}"#);
    assert!(result.is_err(), "{result:?}");
}
