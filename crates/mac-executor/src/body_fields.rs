//! One borrowed pass over a JSON request body that keeps only what the pool needs from it:
//! the `model` and the session sources of D14 (`prompt_cache_key`, `metadata.user_id`,
//! `conversation` / `conversation_id`, the text of the first user message). Everything else is
//! skipped by the parser without being copied ([`serde::de::IgnoredAny`]), strings without
//! escapes are borrowed from the body, and a long text keeps only the bounded sample its key
//! hashes ([`Piece`]).
//!
//! Why a pass of its own instead of a `serde_json::Value`: real clients send 40–80 KB bodies,
//! and building a `Value` copies every string and allocates every object of them on every
//! request; a gateway that checks the body is JSON anyway gets the session key from the same
//! single pass ([`BodyFields::parse`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The visitor methods of the JSON scalars other than strings (`true`, `1`, `1.5`, `null`),
/// each answering `$value` (`null` answering `$null` when given): a field of the wrong type is
/// no source, never an error.
macro_rules! scalars_are {
    ($value:expr) => {
        scalars_are!($value, null: $value);
    };
    ($value:expr, null: $null:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($null)
        }
    };
}

/// A text longer than `2 × SAMPLE` bytes keeps only its first and last `SAMPLE` bytes (and
/// its length): what the key of a first user message hashes (see the session module).
pub(crate) const SAMPLE: usize = 2 * 1024;

/// The fields of a request body the pool reads; borrowed from the body where it can be.
#[derive(Debug, Default)]
pub struct BodyFields<'a> {
    model: Loose<'a>,
    pub(crate) prompt_cache_key: Loose<'a>,
    pub(crate) metadata_user_id: Loose<'a>,
    pub(crate) conversation: Loose<'a>,
    pub(crate) conversation_id: Loose<'a>,
    /// `messages` when it is an array: the first user message's text (`None` inside when it
    /// has none or there is no user message).
    pub(crate) messages: FirstUser<'a>,
    /// `input` (Responses API): its text (a string, or the first user item of an array).
    pub(crate) input: Option<Text<'a>>,
}

impl<'a> BodyFields<'a> {
    /// Reads `body`, which must be one JSON object (any other JSON value, or text that is not
    /// JSON, is an error: the parser's, with its line and column).
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let fields = deserializer.deserialize_map(FieldsVisitor)?;
        deserializer.end()?;
        Ok(fields)
    }

    /// The `model`: `Ok(None)` when absent or `null`, `Err(())` when it is not a string.
    #[allow(clippy::result_unit_err)] // one way to fail, named by the doc
    pub fn model(&self) -> Result<Option<&str>, ()> {
        match &self.model {
            Loose::Absent => Ok(None),
            Loose::Text(text) => Ok(Some(text)),
            Loose::Other => Err(()),
        }
    }
}

/// A field that may hold any JSON value; only a string is kept.
#[derive(Debug, Default)]
pub(crate) enum Loose<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    /// A string, as it came (not trimmed).
    Text(Cow<'a, str>),
    /// Any other value.
    Other,
}

impl Loose<'_> {
    /// The string trimmed, unless it is blank or this is not a string.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Loose::Text(text) => Some(text.trim()).filter(|text| !text.is_empty()),
            Loose::Absent | Loose::Other => None,
        }
    }
}

/// What a list of messages gave: `None` when it was not a list; `Some(None)` when it had no user
/// message or that message had no text; else the text.
#[allow(clippy::option_option)] // the three cases above, each handled as the module docs say
pub(crate) type FirstUser<'a> = Option<Option<Text<'a>>>;

/// A message's text: its non-blank pieces (a string, or the text blocks), each trimmed; the
/// key joins them with a blank line (`"\n\n"`).
pub(crate) type Text<'a> = Vec<Piece<'a>>;

/// One trimmed, non-blank piece of text as far as the key needs it.
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// The whole text: borrowed from the body when it had no escapes, else copied (it is then
    /// at most `2 × SAMPLE` bytes).
    Whole(Cow<'a, [u8]>),
    /// A text with escapes longer than `2 × SAMPLE` bytes: its first and last `SAMPLE` bytes.
    Sampled {
        /// The first `SAMPLE` bytes.
        head: Vec<u8>,
        /// The last `SAMPLE` bytes.
        tail: Vec<u8>,
        /// The length of the whole trimmed text, in bytes.
        len: usize,
    },
}

impl Piece<'_> {
    /// The length of the whole trimmed text, in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Piece::Whole(bytes) => bytes.len(),
            Piece::Sampled { len, .. } => *len,
        }
    }

    /// The first `n` bytes (`n` at most `SAMPLE` for a sampled piece, or its length).
    pub(crate) fn head(&self, n: usize) -> &[u8] {
        match self {
            Piece::Whole(bytes) => &bytes[..n.min(bytes.len())],
            Piece::Sampled { head, .. } => &head[..n.min(head.len())],
        }
    }

    /// The last `n` bytes (`n` at most `SAMPLE` for a sampled piece, or its length).
    pub(crate) fn tail(&self, n: usize) -> &[u8] {
        match self {
            Piece::Whole(bytes) => &bytes[bytes.len() - n.min(bytes.len())..],
            Piece::Sampled { tail, .. } => &tail[tail.len() - n.min(tail.len())..],
        }
    }
}

/// The body's top-level keys the pool reads.
enum Field {
    Model,
    PromptCacheKey,
    Metadata,
    Conversation,
    ConversationId,
    Messages,
    Input,
    Other,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
                Ok(match key {
                    "model" => Field::Model,
                    "prompt_cache_key" => Field::PromptCacheKey,
                    "metadata" => Field::Metadata,
                    "conversation" => Field::Conversation,
                    "conversation_id" => Field::ConversationId,
                    "messages" => Field::Messages,
                    "input" => Field::Input,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = BodyFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // A repeated key: the last one counts (as for a `serde_json::Value`).
        let mut fields = BodyFields::default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Model => fields.model = map.next_value_seed(LooseSeed(None))?,
                Field::PromptCacheKey => {
                    fields.prompt_cache_key = map.next_value_seed(LooseSeed(None))?;
                }
                Field::Metadata => {
                    fields.metadata_user_id = map.next_value_seed(Member("user_id"))?;
                }
                Field::Conversation => {
                    fields.conversation = map.next_value_seed(LooseSeed(Some("id")))?;
                }
                Field::ConversationId => {
                    fields.conversation_id = map.next_value_seed(LooseSeed(None))?;
                }
                Field::Messages => fields.messages = map.next_value_seed(FirstUserSeed)?,
                Field::Input => fields.input = map.next_value_seed(InputSeed)?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// An object key: its index in the names looked for, `None` for any other key (compared
/// without copying the key).
struct KeyIndex<'n>(&'n [&'n str]);

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|name| *name == key))
    }
}

/// Drains a map nobody reads.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Drains a sequence nobody reads.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Any value, kept when it is a string; with `Some(member)`, an object's `member` too (a
/// Responses API `conversation` is an id or an object with an `id`).
struct LooseSeed(Option<&'static str>);

impl<'de> DeserializeSeed<'de> for LooseSeed {
    type Value = Loose<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LooseSeed {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Borrowed(value)))
    }
    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(value.to_owned())))
    }
    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(value)))
    }
    scalars_are!(Loose::Other, null: Loose::Absent);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Loose::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        if let Some(member) = self.0 {
            return Member(member).visit_map(map);
        }
        drain_map(map)?;
        Ok(Loose::Other)
    }
}

/// An object's `member` (a string) when the value is an object; nothing otherwise.
struct Member(&'static str);

impl<'de> DeserializeSeed<'de> for Member {
    type Value = Loose<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Loose::Absent;
        let names = [self.0];
        while let Some(key) = map.next_key_seed(KeyIndex(&names))? {
            if key == Some(0) {
                found = map.next_value_seed(LooseSeed(None))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Loose::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    scalars_are!(Loose::Other);
}

/// `messages` (or an `input` array): the first item whose `role` is `user`, its text; the
/// items after it are skipped. `None` when the value is not an array.
struct FirstUserSeed;

impl<'de> DeserializeSeed<'de> for FirstUserSeed {
    type Value = FirstUser<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstUserSeed {
    type Value = FirstUser<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(message) = seq.next_element_seed(MessageSeed)? {
            if let Some(text) = message {
                drain_seq(seq)?;
                return Ok(Some(text));
            }
        }
        Ok(Some(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    scalars_are!(None);
}

/// One item of `messages`: `Some(text)` when its `role` is `user` (the text `None` when it has
/// none), `None` for any other item.
struct MessageSeed;

impl<'de> DeserializeSeed<'de> for MessageSeed {
    type Value = FirstUser<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed {
    type Value = FirstUser<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // `role` may come after `content`, so the content's text is read either way.
        let (mut user, mut content) = (false, None);
        while let Some(key) = map.next_key_seed(KeyIndex(&["role", "content"]))? {
            match key {
                Some(0) => user = map.next_value_seed(LooseSeed(None))?.text() == Some("user"),
                Some(_) => content = map.next_value_seed(ContentSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(user.then_some(content))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    scalars_are!(None);
}

/// `input`: a string is the user's text; an array, its first user item's text.
struct InputSeed;

impl<'de> DeserializeSeed<'de> for InputSeed {
    type Value = Option<Text<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InputSeed {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(borrowed_piece(value).map(|piece| vec![piece]))
    }
    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(copied_piece(value).map(|piece| vec![piece]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(FirstUserSeed.visit_seq(seq)?.flatten())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(None)
    }
    scalars_are!(None);
}

/// A message's `content`: a string, or the blocks whose `type` is `text`, `input_text` or
/// absent (their `text`); `None` when there is no non-blank text.
struct ContentSeed;

impl<'de> DeserializeSeed<'de> for ContentSeed {
    type Value = Option<Text<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContentSeed {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(borrowed_piece(value).map(|piece| vec![piece]))
    }
    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(copied_piece(value).map(|piece| vec![piece]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut pieces = Vec::new();
        while let Some(block) = seq.next_element_seed(BlockSeed)? {
            pieces.extend(block);
        }
        Ok((!pieces.is_empty()).then_some(pieces))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(None)
    }
    scalars_are!(None);
}

/// One content block: its text when it is a text block with non-blank text.
struct BlockSeed;

impl<'de> DeserializeSeed<'de> for BlockSeed {
    type Value = Option<Piece<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BlockSeed {
    type Value = Option<Piece<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut is_text, mut text) = (true, None);
        while let Some(key) = map.next_key_seed(KeyIndex(&["type", "text"]))? {
            match key {
                Some(0) => {
                    is_text = match map.next_value_seed(LooseSeed(None))? {
                        Loose::Absent => true,
                        Loose::Text(kind) => matches!(&*kind, "text" | "input_text"),
                        Loose::Other => false,
                    };
                }
                Some(_) => text = map.next_value_seed(PieceSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(text.filter(|_| is_text))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    scalars_are!(None);
}

/// A string's trimmed text as a [`Piece`] (`None` when blank or not a string).
struct PieceSeed;

impl<'de> DeserializeSeed<'de> for PieceSeed {
    type Value = Option<Piece<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PieceSeed {
    type Value = Option<Piece<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(borrowed_piece(value))
    }
    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(copied_piece(value))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(None)
    }
    scalars_are!(None);
}

/// A string borrowed from the body, trimmed; `None` when blank.
fn borrowed_piece(value: &str) -> Option<Piece<'_>> {
    let value = value.trim();
    (!value.is_empty()).then_some(Piece::Whole(Cow::Borrowed(value.as_bytes())))
}

/// A string in the parser's scratch (it had escapes), trimmed; `None` when blank. No more is
/// copied than the key hashes.
fn copied_piece(value: &str) -> Option<Piece<'static>> {
    let bytes = value.trim().as_bytes();
    if bytes.is_empty() {
        None
    } else if bytes.len() <= 2 * SAMPLE {
        Some(Piece::Whole(Cow::Owned(bytes.to_vec())))
    } else {
        Some(Piece::Sampled {
            head: bytes[..SAMPLE].to_vec(),
            tail: bytes[bytes.len() - SAMPLE..].to_vec(),
            len: bytes.len(),
        })
    }
}
