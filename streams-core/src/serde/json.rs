//! JSON values through `serde_json`.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builtin::{deserialize_error, serialize_error};
use super::{Serde, SerdeError};

/// Any `serde`-serializable type as UTF-8 JSON text (`serde_json`'s compact
/// form), the usual choice for structured keys and values that other tools
/// must be able to read.
///
/// The JSON text is written straight into the caller's buffer, with no
/// intermediate string.
pub struct JsonSerde<T> {
    // `fn() -> T` keeps the serde `Send + Sync` whatever `T` is: the serde
    // holds no `T`, it only makes and reads them.
    marker: PhantomData<fn() -> T>,
}

impl<T> JsonSerde<T> {
    /// Creates a JSON serde for `T`.
    ///
    /// ```rust
    /// use streams_core::serde::{JsonSerde, Serde};
    ///
    /// let serde = JsonSerde::<Vec<u32>>::new();
    /// let bytes = serde.serialize("topic", &vec![1, 2]).unwrap();
    /// assert_eq!(bytes, b"[1,2]");
    /// assert_eq!(serde.deserialize("topic", b"[3]").unwrap(), vec![3]);
    /// ```
    pub fn new() -> JsonSerde<T> {
        JsonSerde {
            marker: PhantomData,
        }
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        JsonSerde::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for JsonSerde<T> {}

impl<T> fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T> Serde<T> for JsonSerde<T>
where
    T: Serialize + DeserializeOwned + 'static,
{
    fn serialize_into(&self, topic: &str, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        let start = out.len();
        serde_json::to_writer(&mut *out, value)
            .map_err(|err| serialize_error(std::any::type_name::<T>(), topic, err.to_string()))
            .inspect_err(|_| out.truncate(start))
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<T, SerdeError> {
        // Checked as UTF-8 in one pass, then parsed as text: parsing the
        // bytes checks every string on its own as it goes, which cost a
        // tenth of a JSON-heavy task (in-process yahoo +10-14 %). Both
        // reject the same inputs, since JSON outside strings is ASCII.
        let text = std::str::from_utf8(bytes)
            .map_err(|err| deserialize_error(std::any::type_name::<T>(), topic, err.to_string()))?;
        serde_json::from_str(text)
            .map_err(|err| deserialize_error(std::any::type_name::<T>(), topic, err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: u32,
        item: String,
        price: Option<f64>,
    }

    #[test]
    fn struct_round_trip_with_exact_bytes() {
        let serde = JsonSerde::<Order>::new();
        let order = Order {
            id: 7,
            item: "pen".into(),
            price: None,
        };
        let bytes = serde.serialize("orders", &order).unwrap();
        assert_eq!(bytes, br#"{"id":7,"item":"pen","price":null}"#);
        assert_eq!(serde.deserialize("orders", &bytes).unwrap(), order);
    }

    #[test]
    fn serialize_into_appends() {
        let serde = JsonSerde::<String>::new();
        let mut out = b"x".to_vec();
        serde
            .serialize_into("t", &"a\"b".to_string(), &mut out)
            .unwrap();
        assert_eq!(out, br#"x"a\"b""#);
    }

    #[test]
    fn malformed_json_is_an_error() {
        let serde = JsonSerde::<Order>::new();
        let err = serde.deserialize("orders", b"{\"id\":").unwrap_err();
        match err {
            SerdeError::Deserialize {
                topic, type_name, ..
            } => {
                assert_eq!(topic, "orders");
                assert!(type_name.ends_with("Order"), "{type_name}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(serde.deserialize("orders", b"[1]").is_err());
    }

    #[test]
    fn invalid_utf8_is_an_error_inside_strings_and_out() {
        let serde = JsonSerde::<Order>::new();
        for bytes in [
            &b"{\"id\":1,\"item\":\"p\xffn\",\"price\":null}"[..],
            &b"{\"id\":1,\"item\":\"pen\",\"price\":null}\xff"[..],
            &b"\xc3{\"id\":1,\"item\":\"pen\",\"price\":null}"[..],
        ] {
            match serde.deserialize("orders", bytes) {
                Err(SerdeError::Deserialize { topic, .. }) => assert_eq!(topic, "orders"),
                other => panic!("{bytes:?}: unexpected {other:?}"),
            }
        }
        // Multi-byte characters in strings are read as they are.
        let order = serde
            .deserialize(
                "orders",
                "{\"id\":1,\"item\":\"stylo \u{e0} bille\",\"price\":2.5}".as_bytes(),
            )
            .unwrap();
        assert_eq!(order.item, "stylo \u{e0} bille");
    }

    #[test]
    fn unserializable_value_is_an_error_and_leaves_buffer_alone() {
        // Maps with non-string keys cannot be JSON objects.
        let serde = JsonSerde::<BTreeMap<Vec<u8>, u8>>::new();
        let mut value = BTreeMap::new();
        value.insert(vec![1u8], 1u8);
        let mut out = b"keep".to_vec();
        let err = serde.serialize_into("t", &value, &mut out).unwrap_err();
        assert!(matches!(err, SerdeError::Serialize { .. }));
        assert_eq!(out, b"keep");
    }

    #[test]
    fn is_shareable() {
        fn assert_send_sync<S: Send + Sync + 'static>(_: S) {}
        assert_send_sync(JsonSerde::<std::rc::Rc<u8>>::new());
        assert_eq!(format!("{:?}", JsonSerde::<u8>::new()), "JsonSerde<u8>");
    }
}
