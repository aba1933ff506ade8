//! The response side of the tool-prefix transform (one of the seed's request transforms): `"name":
//! "mcp_<x>"` becomes `"name": "<x>"` in a streamed (SSE) body, whatever the chunking.
//!
//! The seed buffered by line and ran a regex per line. This is a byte-level state machine
//! instead: it passes every byte through at once except, while a match is possible, the
//! few bytes of a prefix it may have to drop (at most `prefix.len() - 1`), so a stream is
//! never held back by a long line, matches split at any byte are found, and bytes that are
//! not UTF-8 pass unchanged.
//!
//! A match is `"name"`, JSON whitespace (space, tab, CR, LF), `:`, whitespace, `"`, then the
//! prefix: only the prefix is removed, and the rest of the value is not looked at (so unlike
//! the seed's regex, `"name": "mcp_"` becomes `"name": ""`). `"name"` inside a JSON string is
//! escaped (`\"name\"`) and so never matches.

/// The key whose values lose the prefix.
const KEY: &[u8] = b"\"name\"";

/// Strips a tool prefix from `"name"` values across a byte stream. Feed chunks in order, then
/// [`finish`](Self::finish): the concatenated outputs equal the transform of the whole input.
#[derive(Clone, Debug)]
pub struct ToolPrefixStripper {
    prefix: Vec<u8>,
    state: State,
    /// Bytes of the prefix seen so far in a value (not yet emitted).
    held: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `n` bytes of `"name"` matched (0 to 5).
    Key(usize),
    /// Right after `"name"`: its closing quote may start another `"name"`.
    AfterKey,
    /// After `"name"` and whitespace.
    KeySpace,
    /// After the colon (and maybe whitespace).
    Colon,
    /// Inside the value, `held` bytes of the prefix matched.
    Value,
}

impl ToolPrefixStripper {
    /// A stripper of `prefix` (the descriptor's `tool_prefix`, `mcp_`). An empty prefix, or
    /// one containing `"` or `\`, can never be a tool-name prefix: the stripper then passes
    /// everything through.
    pub fn new(prefix: &str) -> Self {
        let usable = !prefix.is_empty() && !prefix.contains(['"', '\\']);
        let prefix = if usable { prefix.as_bytes().to_vec() } else { Vec::new() };
        Self { prefix, state: State::Key(0), held: 0 }
    }

    /// Transforms the next chunk. Bytes that may belong to a prefix are kept back until the
    /// next chunk (or [`finish`](Self::finish)) decides.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + self.held);
        if self.prefix.is_empty() {
            out.extend_from_slice(chunk);
            return out;
        }
        for &byte in chunk {
            self.step(byte, &mut out);
        }
        out
    }

    /// The bytes kept back at the end of the stream.
    pub fn finish(self) -> Vec<u8> {
        self.prefix[..self.held].to_vec()
    }

    /// Transforms a whole body at once.
    pub fn transform_all(prefix: &str, input: &[u8]) -> Vec<u8> {
        let mut stripper = Self::new(prefix);
        let mut out = stripper.feed(input);
        out.extend(stripper.finish());
        out
    }

    fn step(&mut self, byte: u8, out: &mut Vec<u8>) {
        let space = matches!(byte, b' ' | b'\t' | b'\r' | b'\n');
        if self.state == State::Value {
            if byte == self.prefix[self.held] {
                self.held += 1;
                if self.held == self.prefix.len() {
                    // The whole prefix: dropped.
                    self.held = 0;
                    self.state = State::Key(0);
                }
                return;
            }
            // Not the prefix: the bytes kept back are ordinary after all, and the value's
            // opening quote may start a `"name"` (the prefix holds no quote, so only it can).
            let held = std::mem::take(&mut self.held);
            self.state = State::Key(1);
            for index in 0..held {
                let kept = self.prefix[index];
                self.step(kept, out);
            }
            self.step(byte, out);
            return;
        }
        out.push(byte);
        self.state = match self.state {
            State::Key(n) => key_step(n, byte),
            State::AfterKey | State::KeySpace if space => State::KeySpace,
            State::AfterKey | State::KeySpace if byte == b':' => State::Colon,
            // The closing quote of `"name"` may open another one.
            State::AfterKey => key_step(1, byte),
            State::Colon if space => State::Colon,
            State::Colon if byte == b'"' => State::Value,
            State::KeySpace | State::Colon | State::Value => key_step(0, byte),
        };
    }
}

/// The key matcher: `n` bytes of `"name"` matched, then `byte`.
fn key_step(n: usize, byte: u8) -> State {
    if byte == KEY[n] {
        if n + 1 == KEY.len() { State::AfterKey } else { State::Key(n + 1) }
    } else if byte == b'"' {
        State::Key(1)
    } else {
        State::Key(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(input: &str) -> String {
        String::from_utf8(ToolPrefixStripper::transform_all("mcp_", input.as_bytes())).unwrap()
    }

    #[test]
    fn strips_name_values_only() {
        for (input, expected) in [
            (r#"{"name":"mcp_read"}"#, r#"{"name":"read"}"#),
            (r#"{"name" :	"mcp_read"}"#, r#"{"name" :	"read"}"#),
            ("{\"name\"\n:\r\n \"mcp_x\"}", "{\"name\"\n:\r\n \"x\"}"),
            (r#"{"tool":"mcp_read","text":"mcp_x"}"#, r#"{"tool":"mcp_read","text":"mcp_x"}"#),
            (r#"{"name":"mcp_mcp_x"}"#, r#"{"name":"mcp_x"}"#),
            (r#"{"name":"mcpx","name":"mc"}"#, r#"{"name":"mcpx","name":"mc"}"#),
            (r#"{"name":"name":"mcp_x"}"#, r#"{"name":"name":"x"}"#),
            (r#""name""name":"mcp_y""#, r#""name""name":"y""#),
            (r#"{"text":"\"name\": \"mcp_x\""}"#, r#"{"text":"\"name\": \"mcp_x\""}"#),
            (r#"{"Name":"mcp_x","name"::"mcp_y"}"#, r#"{"Name":"mcp_x","name"::"mcp_y"}"#),
            (r#"{"name":"mcp"#, r#"{"name":"mcp"#),
            (r#"{"name":"mcp_"#, r#"{"name":""#),
        ] {
            assert_eq!(strip(input), expected, "{input}");
        }
    }

    #[test]
    fn a_match_split_anywhere_is_found() {
        let input = b"data: {\"type\":\"tool_use\",\"name\" : \"mcp_read\"}\n\n";
        let expected = b"data: {\"type\":\"tool_use\",\"name\" : \"read\"}\n\n".to_vec();
        for cut in 0..=input.len() {
            let mut stripper = ToolPrefixStripper::new("mcp_");
            let mut out = stripper.feed(&input[..cut]);
            out.extend(stripper.feed(&[]));
            out.extend(stripper.feed(&input[cut..]));
            out.extend(stripper.finish());
            assert_eq!(out, expected, "cut at {cut}");
        }
    }

    #[test]
    fn unusable_prefixes_pass_everything() {
        for prefix in ["", "a\"", "\\"] {
            assert_eq!(
                ToolPrefixStripper::transform_all(prefix, br#"{"name":"a"b"}"#),
                br#"{"name":"a"b"}"#
            );
        }
    }
}
