//! Keys of the accounts document this build does not know, kept exactly (D3): a newer build's
//! fields survive an older build's write with their values, their order and their number
//! spelling (`123456789012345678901234567890` stays that, not `1.2345678901234568e29`).
//!
//! Each field holds its parsed [`Value`] (what callers read and change) and, when it came from
//! a file, its original JSON text. A write uses the original text while the value still equals
//! what that text parses to, and the value otherwise. Enabling `serde_json`'s `preserve_order`
//! and `arbitrary_precision` instead would change `Value` for every crate of the workspace
//! (feature unification), and `arbitrary_precision` breaks `#[serde(flatten)]`.
//!
//! `Debug` prints the keys only: an unknown field may hold a token (an `idToken`, say).

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Unknown keys of one JSON object, in the order they were read or inserted.
#[derive(Clone, Default)]
pub struct UnknownFields {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    key: String,
    value: Value,
    /// The text read from the file, if any.
    original: Option<Box<RawValue>>,
}

impl Entry {
    /// The original text, if it still says exactly what `value` says.
    fn unchanged_original(&self) -> Option<&RawValue> {
        let original = self.original.as_deref()?;
        let reparsed: Value = serde_json::from_str(original.get()).ok()?;
        (reparsed == self.value).then_some(original)
    }
}

static NULL: Value = Value::Null;

impl UnknownFields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The value of `key`, for changing it (a changed value is written as changed).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.iter_mut().find(|e| e.key == key).map(|e| &mut e.value)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Sets `key` (in place if present, else at the end) and returns the previous value.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.key == key) {
            return Some(std::mem::replace(&mut entry.value, value));
        }
        self.entries.push(Entry { key, value, original: None });
        None
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(index).value)
    }

    /// Removes every field.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Whether every value here has a single spelling in JSON, so that writing the value
    /// reproduces the file's text without remembering it: integers (JSON allows no `+`, no
    /// leading zero, and `serde_json` reads `-0`, fractions and exponents as floats), booleans
    /// and null. Strings (escapes), floats, arrays and objects (key order) do not qualify.
    pub(crate) fn spelled_one_way(&self) -> bool {
        self.entries.iter().all(|entry| match &entry.value {
            Value::Null | Value::Bool(_) => true,
            Value::Number(number) => number.is_i64() || number.is_u64(),
            Value::String(_) | Value::Array(_) | Value::Object(_) => false,
        })
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter().map(|e| (&e.key, &e.value))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|e| &e.key)
    }

    /// Remembers the original text of the fields present in `raw` (the same object as read
    /// from the file), so that an unchanged field is written back byte for byte.
    pub(crate) fn keep_originals(&mut self, raw: &RawObject<'_>) {
        for (key, text) in &raw.0 {
            if let Some(entry) = self.entries.iter_mut().find(|e| *key == *e.key) {
                entry.original = Some((*text).to_owned());
            }
        }
    }
}

impl PartialEq for UnknownFields {
    /// The same keys with equal values, in any order (like a JSON object).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(key, value)| other.get(key) == Some(value))
    }
}

impl std::ops::Index<&str> for UnknownFields {
    type Output = Value;

    /// The value of `key`, or `null` when absent (like indexing a [`Value`]).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl fmt::Debug for UnknownFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

impl From<Map<String, Value>> for UnknownFields {
    fn from(map: Map<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl FromIterator<(String, Value)> for UnknownFields {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut fields = Self::new();
        for (key, value) in iter {
            fields.insert(key, value);
        }
        fields
    }
}

impl Serialize for UnknownFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for entry in &self.entries {
            match entry.unchanged_original() {
                Some(original) => map.serialize_entry(&entry.key, original)?,
                None => map.serialize_entry(&entry.key, &entry.value)?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for UnknownFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = UnknownFields;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UnknownFields, A::Error> {
                let mut fields = UnknownFields::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    fields.insert(key, value);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// A JSON object as its keys and the unparsed text of their values, in file order. Both are
/// borrowed from the input (a key is copied only when it holds an escape), so that only the
/// unknown fields' texts are ever copied: this second pass over every file read with unknown
/// fields is on the write path, under the lock.
#[derive(Debug, Default)]
pub(crate) struct RawObject<'a>(pub(crate) Vec<(RawKey<'a>, &'a RawValue)>);

/// The top level of an accounts document in one pass: the unparsed text of every top-level
/// key but `accounts`, whose objects are split the same way. (Taking `accounts` as one raw value
/// and splitting it afterwards scanned the whole file twice.)
#[derive(Debug, Default)]
pub(crate) struct RawDocument<'a> {
    /// The top-level keys but `accounts`.
    pub(crate) top: RawObject<'a>,
    /// The objects of `accounts`, in order.
    pub(crate) accounts: Vec<RawObject<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for RawDocument<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for DocumentVisitor<'a> {
            type Value = RawDocument<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDocument<'a>, A::Error> {
                let mut document = RawDocument::default();
                while let Some(key) = map.next_key::<RawKey<'a>>()? {
                    if key == *ACCOUNTS_KEY {
                        document.accounts = map.next_value()?;
                    } else {
                        document.top.0.push((key, map.next_value()?));
                    }
                }
                Ok(document)
            }
        }
        deserializer.deserialize_map(DocumentVisitor(std::marker::PhantomData))
    }
}

/// The serde name of [`crate::AccountsDocument::accounts`].
pub(crate) const ACCOUNTS_KEY: &str = "accounts";

/// An object key as written in the input, borrowed unless it holds an escape.
#[derive(Debug)]
pub(crate) struct RawKey<'a>(Cow<'a, str>);

impl PartialEq<str> for RawKey<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawKey<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = RawKey<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                key: &'de str,
            ) -> Result<RawKey<'a>, E> {
                Ok(RawKey(Cow::Borrowed(key)))
            }

            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<RawKey<'a>, E> {
                Ok(RawKey(Cow::Owned(key.to_owned())))
            }

            fn visit_string<E: serde::de::Error>(self, key: String) -> Result<RawKey<'a>, E> {
                Ok(RawKey(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

impl<'a> RawObject<'a> {
    /// The text of `key`'s value.
    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| *k == *key).map(|(_, v)| *v)
    }

    /// Parses `raw` as an object; `None` for anything else (`null`, say).
    pub(crate) fn parse(raw: &'a RawValue) -> Option<RawObject<'a>> {
        serde_json::from_str(raw.get()).ok()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ObjectVisitor<'a> {
            type Value = RawObject<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject<'a>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<RawKey<'a>, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(RawObject(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_text_is_written_while_the_value_is_unchanged() {
        let raw: RawObject =
            serde_json::from_str(r#"{"big": 123456789012345678901234567890, "f": 1.50}"#).unwrap();
        let mut fields: UnknownFields =
            serde_json::from_str(r#"{"big": 123456789012345678901234567890, "f": 1.50}"#).unwrap();
        fields.keep_originals(&raw);
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"big":123456789012345678901234567890,"f":1.50}"#
        );
        *fields.get_mut("f").unwrap() = Value::from(2);
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"big":123456789012345678901234567890,"f":2}"#
        );
        assert_eq!(format!("{fields:?}"), r#"{"big", "f"}"#);
        assert_eq!(fields["missing"], Value::Null);
    }
}
