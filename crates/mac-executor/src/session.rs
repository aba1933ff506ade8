//! Session affinity (D14): which conversation a request
//! belongs to ([`derive_session_key`]) and which account each conversation is bound to
//! ([`SessionBindings`]).
//!
//! Keeping a conversation on one account keeps its prompt cache warm (a rotated conversation
//! pays its whole context again). The
//! binding is only a preference: [`select`](crate::select) leaves a bound account at once when it
//! stops being usable (a failover must never wait for a bound account), and the caller then binds the session to the new account.
//!
//! # Where the key comes from
//!
//! The first source that yields a non-blank value wins:
//!
//! | # | Source | Key |
//! |---|---|---|
//! | 1 | header `x-claude-code-session-id` (Claude Code) | `claude-code-session:<value>` |
//! | 2 | header `session_id`, then `session-id` (Codex CLI) | `session:<value>` |
//! | 3 | body `prompt_cache_key` (Responses API, Codex) | `prompt-cache-key:<value>` |
//! | 4 | body `metadata.user_id` (Messages API; Claude Code puts its session in it) | `metadata-user-id:<value>` |
//! | 5 | body `conversation` (Responses API: an id, or an object with an `id`), then `conversation_id` | `conversation:<value>` |
//! | 6 | the text of the first user message of the body (sampled when long) | `first-user-message#<hash>` |
//!
//! Header names match without regard to case; values are trimmed. The body is read only when
//! it is a JSON object; any other body yields no key from the body. A value longer than
//! 256 bytes is replaced by its hash (`<prefix>#<hash>`), so keys stay small. A hash is the
//! first 16 hex digits of the SHA-256 of the text. Because every key starts with the name of
//! its source, a key from one source never equals a key from another, and a hashed key never
//! equals a raw value (`:` before a value, `#` before a hash).
//!
//! `previous_response_id` is **not** a source: it names the previous turn's response, so it
//! changes on every turn and would give every request of a conversation a new key. (Binding
//! response ids to accounts as responses come back would be a different, stateful mechanism.)
//! A conversation id, on the other hand, stays the same for the whole conversation.
//!
//! **The first user message** is the first element of `messages` (Messages and Chat
//! Completions APIs) whose `role` is `user`; without a `messages` array, the Responses API's
//! `input`: a string is the user's text itself, an array is searched for the first item whose
//! `role` is `user`. Its text: a string content, trimmed; or, for an array of content blocks,
//! the `text` of every block whose `type` is `text`, `input_text` or absent, each trimmed,
//! blank ones dropped, joined by a blank line (`"\n\n"`). No text → no key. So `"hi"`,
//! `" hi\n"` and `[{"type": "text", "text": "hi"}]` give one key.
//!
//! **A long first user message is sampled.** A text of up to 4 KiB is hashed whole; a longer
//! one by its first 2 KiB, its last 2 KiB and its length in bytes (a `u64`, little-endian,
//! after the two samples — so a sampled input, longer than 4 KiB, never equals a whole text).
//! Why: clients resend the whole conversation on every turn and the first user message of a
//! coding agent is often tens of KB (instructions, files); hashing all of it cost a gateway
//! more CPU than the rest of the request together. The sample keeps conversations apart in
//! practice: a first message is the same bytes on every turn, so its sample is stable; two
//! different conversations that agree on their first and last 2 KiB *and* on their length to
//! the byte are, in practice, the same prompt sent twice (a harness's boilerplate before the
//! user's words is told apart by the tail, boilerplate after them by the head). And a
//! collision only puts two conversations on one account, which is a preference (the prompt
//! cache), never a matter of correctness.
//!
//! The body is read in one borrowed pass that keeps only these fields
//! ([`BodyFields`](crate::BodyFields)); no `serde_json::Value` is built.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use mac_storage::EpochMs;
use sha2::{Digest as _, Sha256};

use crate::body_fields::{BodyFields, Piece, SAMPLE};

/// How long a binding lives after its last use by default: 6 hours (D14).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(6 * 60 * 60);
/// How many bindings are kept by default: 2 000 (D14).
pub const DEFAULT_SESSION_CAP: usize = 2_000;

/// A value longer than this (bytes) is hashed in the key.
const MAX_RAW_VALUE: usize = 256;

/// Which conversation a request belongs to: a key of [`SessionBindings`].
///
/// Built by [`derive_session_key`] from a request, or by [`SessionKey::explicit`] from an id
/// the caller already has. The text starts with the name of its source (see the module docs).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    /// A key for a session id the caller knows (a plugin's own session, a pinned session):
    /// `explicit:<id>`; `None` when the id is blank.
    pub fn explicit(id: &str) -> Option<Self> {
        keyed("explicit", id)
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({:?})", self.0)
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SessionKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The session a request belongs to, from its headers and body, by the precedence of the
/// module docs; `None` when no source yields one. A header value that is not UTF-8 is no key.
/// The body is parsed only when no header names the session.
pub fn derive_session_key(headers: &HeaderMap, body: &[u8]) -> Option<SessionKey> {
    header_key(headers).or_else(|| body_key(&BodyFields::parse(body).ok()?))
}

/// [`derive_session_key`] for a body the caller has already read with [`BodyFields::parse`]
/// (a gateway that checks the body is JSON gets the model and the key from one pass).
pub fn session_key_of(headers: &HeaderMap, body: &BodyFields<'_>) -> Option<SessionKey> {
    header_key(headers).or_else(|| body_key(body))
}

/// Sources 1 and 2: the headers.
fn header_key(headers: &HeaderMap) -> Option<SessionKey> {
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
            .map(str::trim)
            .find(|value| !value.is_empty())
    };
    if let Some(value) = header("x-claude-code-session-id") {
        return keyed("claude-code-session", value);
    }
    let value = header("session_id").or_else(|| header("session-id"))?;
    keyed("session", value)
}

/// Sources 3 to 6: the body.
fn body_key(body: &BodyFields<'_>) -> Option<SessionKey> {
    if let Some(value) = body.prompt_cache_key.text() {
        return keyed("prompt-cache-key", value);
    }
    if let Some(value) = body.metadata_user_id.text() {
        return keyed("metadata-user-id", value);
    }
    if let Some(value) = body.conversation.text().or_else(|| body.conversation_id.text()) {
        return keyed("conversation", value);
    }
    let text = match &body.messages {
        Some(first_user) => first_user.as_ref()?,
        None => body.input.as_ref()?,
    };
    Some(SessionKey(format!("first-user-message#{}", text_hash(text))))
}

/// `<prefix>:<value>` for a short value, `<prefix>#<hash>` for a long one; `None` when blank.
fn keyed(prefix: &str, value: &str) -> Option<SessionKey> {
    let value = value.trim();
    if value.is_empty() {
        None
    } else if value.len() > MAX_RAW_VALUE {
        Some(SessionKey(format!("{prefix}#{}", hex16(&Sha256::digest(value.as_bytes())))))
    } else {
        Some(SessionKey(format!("{prefix}:{value}")))
    }
}

/// The hash of a first user message's text (its pieces joined by a blank line): of the whole
/// text up to `2 × SAMPLE` bytes, else of its first `SAMPLE` bytes, its last `SAMPLE` bytes
/// and its length (see the module docs for why the sample is enough).
fn text_hash(pieces: &[Piece<'_>]) -> String {
    const SEPARATOR: &[u8] = b"\n\n";
    let len = pieces.iter().map(Piece::len).sum::<usize>()
        + SEPARATOR.len() * pieces.len().saturating_sub(1);
    let mut hasher = Sha256::new();
    if len <= 2 * SAMPLE {
        for (index, piece) in pieces.iter().enumerate() {
            if index > 0 {
                hasher.update(SEPARATOR);
            }
            hasher.update(piece.head(piece.len()));
        }
    } else {
        let mut left = SAMPLE;
        for (index, piece) in pieces.iter().enumerate() {
            if index > 0 {
                let separator = &SEPARATOR[..left.min(SEPARATOR.len())];
                hasher.update(separator);
                left -= separator.len();
            }
            let head = piece.head(left);
            hasher.update(head);
            left -= head.len();
            if left == 0 {
                break;
            }
        }
        // The tail, gathered from the end, hashed in order.
        let mut tail: Vec<&[u8]> = Vec::new();
        let mut left = SAMPLE;
        for (index, piece) in pieces.iter().enumerate().rev() {
            let end = piece.tail(left);
            tail.push(end);
            left -= end.len();
            if left == 0 {
                break;
            }
            if index > 0 {
                let separator = &SEPARATOR[SEPARATOR.len() - left.min(SEPARATOR.len())..];
                tail.push(separator);
                left -= separator.len();
            }
        }
        for part in tail.iter().rev() {
            hasher.update(part);
        }
        hasher.update(u64::try_from(len).unwrap_or(u64::MAX).to_le_bytes());
    }
    hex16(&hasher.finalize())
}

/// The first 16 hex digits of a digest.
fn hex16(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .take(8)
        .flat_map(|byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0x0f)]])
        .map(char::from)
        .collect()
}

/// Which account each session is bound to, with an expiry and a size cap (D14).
///
/// A binding expires `ttl` after its last [`bind`](Self::bind): the caller binds after every
/// selection for a session (a reuse too), so the time counts from the session's last request.
/// At most `cap` bindings are kept; binding one more drops the binding with the oldest
/// `updated_at` (the earliest bound among equals). All time is passed in.
#[derive(Clone, Debug)]
pub struct SessionBindings {
    ttl: Duration,
    cap: usize,
    entries: HashMap<String, Binding>,
    /// Every key by (`updated_at`, bind sequence): the oldest first.
    by_age: BTreeMap<(EpochMs, u64), String>,
    next_sequence: u64,
}

#[derive(Clone, Debug)]
struct Binding {
    account: String,
    updated_at: EpochMs,
    sequence: u64,
}

impl Default for SessionBindings {
    /// A 6-hour expiry and a cap of 2 000.
    fn default() -> Self {
        Self::new(DEFAULT_SESSION_TTL, DEFAULT_SESSION_CAP)
    }
}

impl SessionBindings {
    /// No bindings yet; each will live `ttl` after its last use, and at most `cap` are kept
    /// (a cap of 0 keeps none, which turns session affinity off).
    pub fn new(ttl: Duration, cap: usize) -> Self {
        Self { ttl, cap, entries: HashMap::new(), by_age: BTreeMap::new(), next_sequence: 0 }
    }

    /// How long a binding lives after its last use.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many bindings are kept at most.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The account `key` is bound to, if the binding has not expired at `now`. An expired
    /// binding (its `updated_at` is `ttl` or more before `now`) is dropped.
    pub fn get(&mut self, key: &str, now: EpochMs) -> Option<&str> {
        let updated_at = self.entries.get(key)?.updated_at;
        if self.expired(updated_at, now) {
            self.remove(key);
            return None;
        }
        self.entries.get(key).map(|binding| binding.account.as_str())
    }

    /// Binds `key` to the account `uuid` as of `now` (a rebind or a reuse restarts the
    /// expiry). Drops every binding expired at `now`, then the oldest while more than the cap
    /// remain.
    pub fn bind(&mut self, key: &str, uuid: &str, now: EpochMs) {
        self.remove(key);
        if self.cap == 0 {
            return;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.entries.insert(
            key.to_owned(),
            Binding { account: uuid.to_owned(), updated_at: now, sequence },
        );
        self.by_age.insert((now, sequence), key.to_owned());
        while let Some((&(updated_at, _), _)) = self.by_age.first_key_value() {
            if self.entries.len() <= self.cap && !self.expired(updated_at, now) {
                break;
            }
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.entries.remove(&oldest);
            }
        }
    }

    /// Drops the binding of `key`; returns the account it was bound to.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let binding = self.entries.remove(key)?;
        self.by_age.remove(&(binding.updated_at, binding.sequence));
        Some(binding.account)
    }

    /// Drops every binding to the account `uuid` (removed or disabled); returns how many.
    pub fn forget_account(&mut self, uuid: &str) -> usize {
        let before = self.entries.len();
        let by_age = &mut self.by_age;
        self.entries.retain(|_, binding| {
            let keep = binding.account != uuid;
            if !keep {
                by_age.remove(&(binding.updated_at, binding.sequence));
            }
            keep
        });
        before - self.entries.len()
    }

    /// Drops every binding.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_age.clear();
    }

    /// The number of bindings held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no binding is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expired(&self, updated_at: EpochMs, now: EpochMs) -> bool {
        now.duration_since(updated_at) >= self.ttl
    }
}
