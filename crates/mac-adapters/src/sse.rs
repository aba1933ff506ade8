//! Server-sent events as the providers stream them: [`SseScanner`] cuts a byte stream, fed in
//! chunks split anywhere, into complete [`SseFrame`]s; [`Prelude`] reads a response's first
//! frames to find the gateway's commit point. Pure: no I/O, no clock; the bytes themselves are
//! never changed (a caller forwards what it fed, the scanner only looks).
//!
//! # Framing (the WHATWG event-stream rules)
//!
//! - Lines end at LF, CR or CRLF; a CR at the end of a chunk waits for the next chunk to tell
//!   whether an LF follows. A leading UTF-8 byte-order mark is skipped.
//! - An empty line ends a frame. A frame without any `data` line is not a frame (its `event`
//!   name is forgotten), exactly as a browser's `EventSource` does.
//! - A line starting with `:` is a comment (keep-alives); it is skipped.
//! - `field:value` with one optional space after the colon (`data:x` and `data: x` are the same);
//!   a line without a colon is a field with an empty value. `data` lines are joined with LF;
//!   `event` names the frame (absent means the default `message`); `id` sets the last event id
//!   unless it contains NUL; `retry` and unknown fields are ignored.
//! - Lines are decoded as UTF-8 once complete, invalid sequences becoming U+FFFD, so a chunk
//!   boundary inside a multi-byte character changes nothing.
//! - Bytes after the last empty line are an unfinished frame; at the end of a stream it is
//!   dropped ([`SseScanner::is_mid_frame`] tells that the stream was cut inside one).
//!
//! Memory is bounded: the bytes of the frame being assembled (its lines so far, the partial
//! line) may not exceed the scanner's limit; a larger frame is [`SseError::FrameTooLarge`],
//! and the scanner stays failed (a stream that broke the bound is not read on).
//!
//! # The commit point ([`Prelude`])
//!
//! A provider may answer 200 and then open its stream with an error frame (an overloaded or
//! rate-limited account). Until the first byte goes to the client, the request can still move
//! to another account; after it, it cannot. So the gateway holds the stream's first frames
//! until one of them bears output, and rotates when an error frame comes first. Which frames
//! are which ([`FrameKind::of`]), from the streams of the Anthropic Messages API and the Codex
//! Responses API:
//!
//! | Kind | Anthropic Messages | Codex Responses |
//! |---|---|---|
//! | Preamble (held) | `message_start`, `ping` | `response.created`, `response.in_progress`, `response.queued` |
//! | Error (rotate) | `error` | `response.failed`, `error` |
//! | Output (commit) | `content_block_start`, `content_block_delta`, `message_delta`, `message_stop`, any other | `response.output_item.added`, `response.output_text.delta`, `response.completed`, any other |
//!
//! Why: the preamble frames carry only the response's envelope (id, model, input usage, a
//! keep-alive), nothing the client's agent acts on, and a provider that rejects the request
//! does so right after them. The first content block or output item is output even while
//! still empty: for a tool call it already names the tool, and both providers stream every
//! later error in-band after content has begun, when rotating would replay a half-answered
//! turn. `message_delta` / `message_stop` / `response.completed` end a stream that produced
//! no content at all; committing there lets an empty answer through instead of waiting for
//! the bound. An event this table does not know is treated as output: it may be content of a
//! newer API version, and holding it only delays the client. A frame without an `event` line
//! is named by its JSON `type` field (both providers repeat the name there).
//!
//! The prelude is bounded by bytes ([`PRELUDE_LIMIT`], 64 KiB, far above the few hundred
//! bytes of a real preamble): past it the gateway commits and streams on. A time bound
//! (first-byte timeout) is the caller's, since this module has no clock.

use snafu::Snafu;

/// The default bound of a single frame: 1 MiB. A real frame is a few hundred bytes; a
/// `content_block_start` of a large tool input or a `response.completed` repeating the whole
/// output can reach tens of KiB.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// The default byte bound of a response's prelude: 64 KiB.
pub const PRELUDE_LIMIT: usize = 64 * 1024;

/// The UTF-8 byte-order mark, skipped at the start of a stream.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// One complete server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseFrame {
    /// The `event` field, if the frame had one (absent means `message`).
    pub event: Option<String>,
    /// The `data` lines joined with LF.
    pub data: String,
    /// The last event id seen on the stream when this frame was dispatched.
    pub id: Option<String>,
}

impl SseFrame {
    /// The frame's event name: its `event` field, else `message`.
    pub fn event_name(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    /// The name the frame stands under for [`FrameKind::of`]: its `event` field, else its JSON
    /// `type` (both providers repeat the name there), else `message`.
    pub fn kind_name(&self) -> String {
        match &self.event {
            Some(name) => name.clone(),
            None => frame_json_type(self.data.as_bytes()).unwrap_or_else(|| "message".to_owned()),
        }
    }
}

/// Why a stream could not be scanned.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
pub enum SseError {
    /// A frame grew beyond the scanner's limit before it ended.
    #[snafu(display("a server-sent event frame exceeded {limit} bytes"))]
    FrameTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// An incremental SSE frame scanner. Feed chunks in order; the frames returned by all feeds
/// together are the frames of the whole input, however it was split.
#[derive(Clone, Debug)]
pub struct SseScanner {
    limit: usize,
    /// The current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF starting the next one belongs to that line end.
    after_cr: bool,
    /// Bytes of a possible BOM matched so far; `None` once the stream's start has passed.
    bom: Option<usize>,
    /// The frame being assembled.
    event: Option<String>,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    /// Bytes of the frame being assembled (finished lines), for the bound.
    frame_bytes: usize,
    failed: bool,
}

impl Default for SseScanner {
    fn default() -> Self {
        Self::new(MAX_FRAME_BYTES)
    }
}

impl SseScanner {
    /// A scanner refusing frames larger than `limit` bytes (the raw bytes of their lines).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            line: Vec::new(),
            after_cr: false,
            bom: Some(0),
            event: None,
            data: String::new(),
            has_data: false,
            last_id: None,
            frame_bytes: 0,
            failed: false,
        }
    }

    /// Scans the next chunk; returns the frames it completed, in order.
    ///
    /// # Errors
    ///
    /// [`SseError::FrameTooLarge`] when the frame being assembled outgrows the limit; every
    /// later call fails the same way.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseFrame>, SseError> {
        let mut frames = Vec::new();
        self.feed_into(chunk, &mut frames)?;
        Ok(frames)
    }

    /// As [`feed`](Self::feed), appending the frames to `frames` (no allocation per chunk).
    ///
    /// # Errors
    ///
    /// As [`feed`](Self::feed); the frames completed before the failure are in `frames`.
    pub fn feed_into(&mut self, chunk: &[u8], frames: &mut Vec<SseFrame>) -> Result<(), SseError> {
        if self.failed {
            return FrameTooLargeSnafu { limit: self.limit }.fail();
        }
        let mut rest = self.skip_bom(chunk);
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            self.check_bound()?;
            let cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            self.line_ended(&line, frames);
            self.line = line;
            self.line.clear();
        }
        self.line.extend_from_slice(rest);
        self.check_bound()
    }

    /// Whether bytes of an unfinished frame are buffered: at the end of a stream, it was cut
    /// inside a frame (that frame is dropped, as the event-stream rules say).
    pub fn is_mid_frame(&self) -> bool {
        !self.line.is_empty() || self.frame_bytes > 0
    }

    /// Removes the leading BOM (possibly split across chunks). Bytes of a partial BOM that
    /// turn out not to be one are pushed to the line.
    fn skip_bom<'c>(&mut self, chunk: &'c [u8]) -> &'c [u8] {
        let Some(matched) = self.bom else { return chunk };
        let mut taken = 0;
        let mut matched = matched;
        while matched < BOM.len() && taken < chunk.len() && chunk[taken] == BOM[matched] {
            matched += 1;
            taken += 1;
        }
        if matched == BOM.len() {
            self.bom = None;
            return &chunk[taken..];
        }
        if taken == chunk.len() {
            self.bom = Some(matched);
            return &[];
        }
        // Not a BOM: what looked like its start is ordinary bytes.
        self.bom = None;
        self.line.extend_from_slice(&BOM[..matched]);
        &chunk[taken..]
    }

    fn check_bound(&mut self) -> Result<(), SseError> {
        if self.frame_bytes.saturating_add(self.line.len()) > self.limit {
            self.failed = true;
            self.line = Vec::new();
            self.data = String::new();
            return FrameTooLargeSnafu { limit: self.limit }.fail();
        }
        Ok(())
    }

    fn line_ended(&mut self, line: &[u8], frames: &mut Vec<SseFrame>) {
        if line.is_empty() {
            self.dispatch(frames);
            return;
        }
        // The line's bytes plus its end count toward the frame.
        self.frame_bytes += line.len() + 1;
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, frames: &mut Vec<SseFrame>) {
        let event = self.event.take();
        self.frame_bytes = 0;
        if !self.has_data {
            return;
        }
        self.has_data = false;
        frames.push(SseFrame {
            event: event.filter(|name| !name.is_empty()),
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

/// What a frame means for the commit point (see the module docs for the table and why).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// The response's envelope or a keep-alive: held, the prelude reads on.
    Preamble,
    /// An in-band error before any output: the request may move to another account.
    Error,
    /// Output (or the end of a stream): the commit point.
    Output,
}

impl FrameKind {
    /// The kind of `frame`, by its event name, or by its JSON `type` when it has no `event`
    /// line.
    pub fn of(frame: &SseFrame) -> Self {
        match frame.event.as_deref() {
            Some(name) => Self::of_name(name),
            None => Self::of_name(&frame_json_type(frame.data.as_bytes()).unwrap_or_default()),
        }
    }

    /// The kind of an event name.
    pub fn of_name(name: &str) -> Self {
        match name {
            "message_start"
            | "ping"
            | "response.created"
            | "response.in_progress"
            | "response.queued" => Self::Preamble,
            "error" | "response.failed" => Self::Error,
            _ => Self::Output,
        }
    }
}

/// The `type` field of a frame's JSON data, if it is an object with one (both providers
/// repeat the event name there): how a frame without an `event` line is named.
pub fn frame_json_type(data: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_slice::<Typed>(data).ok()?.kind
}

/// How a response's prelude ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreludeEnd {
    /// A frame bearing output arrived (its event name is given): commit and forward.
    Output {
        /// The event name of the first output-bearing frame.
        event: String,
    },
    /// An error frame came before any output: classify it and rotate.
    Error(SseFrame),
    /// The byte bound passed without output or error: commit and stream on.
    LimitReached,
    /// The stream ended ([`Prelude::finish`]) before any output or error.
    Ended,
}

/// Reads a streamed response's first frames up to the commit point: the first output-bearing
/// frame, an error frame, or the byte bound, whichever comes first. The caller keeps the bytes
/// it fed (they are forwarded unchanged once it commits).
#[derive(Clone, Debug)]
pub struct Prelude {
    scanner: SseScanner,
    limit: usize,
    seen: usize,
    end: Option<PreludeEnd>,
}

impl Default for Prelude {
    fn default() -> Self {
        Self::new(PRELUDE_LIMIT)
    }
}

impl Prelude {
    /// A prelude reader bounded at `limit` bytes; a single frame may not exceed it either.
    pub fn new(limit: usize) -> Self {
        Self { scanner: SseScanner::new(limit), limit, seen: 0, end: None }
    }

    /// Scans the next chunk. `None`: read on; `Some`: the prelude ended (every later call
    /// returns the same end).
    ///
    /// Frames are judged before the bound, so a chunk crossing the bound that completes an
    /// output or error frame still reports that frame. A frame larger than the bound is
    /// [`PreludeEnd::LimitReached`], not an error: the stream may be fine, just unusual, and
    /// whatever it is, the client gets it as the provider sent it.
    pub fn feed(&mut self, chunk: &[u8]) -> Option<PreludeEnd> {
        if let Some(end) = &self.end {
            return Some(end.clone());
        }
        self.seen = self.seen.saturating_add(chunk.len());
        let Ok(frames) = self.scanner.feed(chunk) else {
            return Some(self.ended(PreludeEnd::LimitReached));
        };
        for frame in frames {
            match FrameKind::of(&frame) {
                FrameKind::Preamble => {}
                FrameKind::Error => return Some(self.ended(PreludeEnd::Error(frame))),
                FrameKind::Output => {
                    return Some(self.ended(PreludeEnd::Output { event: frame.kind_name() }));
                }
            }
        }
        if self.seen > self.limit {
            return Some(self.ended(PreludeEnd::LimitReached));
        }
        None
    }

    /// The stream ended: [`PreludeEnd::Ended`] unless the prelude had already ended.
    pub fn finish(&mut self) -> PreludeEnd {
        match &self.end {
            Some(end) => end.clone(),
            None => self.ended(PreludeEnd::Ended),
        }
    }

    /// Bytes fed so far.
    pub fn bytes_seen(&self) -> usize {
        self.seen
    }

    fn ended(&mut self, end: PreludeEnd) -> PreludeEnd {
        self.end = Some(end.clone());
        end
    }
}
