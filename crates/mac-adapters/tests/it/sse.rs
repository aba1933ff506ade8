//! Server-sent event framing and the commit-point prelude: the event-stream rules, the bound,
//! the real streams of both providers, and that no chunking changes the frames.

use mac_adapters::{FrameKind, Prelude, PreludeEnd, SseError, SseFrame, SseScanner};
use proptest::prelude::*;

fn frame(event: Option<&str>, data: &str) -> SseFrame {
    SseFrame { event: event.map(str::to_owned), data: data.to_owned(), id: None }
}

/// The frames of `input` fed whole.
fn scan(input: &[u8]) -> Vec<SseFrame> {
    SseScanner::default().feed(input).unwrap()
}

/// The frames of `input` fed one byte at a time.
fn scan_bytewise(input: &[u8]) -> Vec<SseFrame> {
    let mut scanner = SseScanner::default();
    input.iter().flat_map(|b| scanner.feed(std::slice::from_ref(b)).unwrap()).collect()
}

/// An Anthropic Messages stream as the API sends it.
const ANTHROPIC: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\n\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hé\"}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// A Codex Responses stream.
const CODEX: &str = "event: response.created\ndata: {\"type\":\"response.created\"}\n\n\
event: response.in_progress\ndata: {\"type\":\"response.in_progress\"}\n\n\
event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\"}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n\
event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n";

#[test]
fn real_streams_split_into_their_events() {
    let names =
        |s: &str| scan(s.as_bytes()).iter().map(|f| f.event_name().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        names(ANTHROPIC),
        ["message_start", "ping", "content_block_start", "content_block_delta", "message_stop"]
    );
    assert_eq!(
        names(CODEX),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_text.delta",
            "response.completed"
        ]
    );
    assert_eq!(scan(ANTHROPIC.as_bytes())[1].data, "{\"type\": \"ping\"}");
}

#[test]
fn lf_cr_and_crlf_end_lines_alike() {
    let lf = scan(b"event: a\ndata: 1\ndata: 2\n\ndata: 3\n\n");
    assert_eq!(lf, [frame(Some("a"), "1\n2"), frame(None, "3")]);
    assert_eq!(scan(b"event: a\rdata: 1\rdata: 2\r\rdata: 3\r\r"), lf);
    assert_eq!(scan(b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"), lf);
    assert_eq!(scan_bytewise(b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"), lf);
    // CR then LF in the next chunk is one line end, not an empty line.
    let mut scanner = SseScanner::default();
    assert!(scanner.feed(b"data: x\r").unwrap().is_empty());
    assert!(scanner.feed(b"\ndata: y\r").unwrap().is_empty());
    assert_eq!(scanner.feed(b"\n\r\n").unwrap(), [frame(None, "x\ny")]);
}

#[test]
fn fields_follow_the_event_stream_rules() {
    // One optional space after the colon; a second one is data.
    assert_eq!(scan(b"data:x\n\n"), [frame(None, "x")]);
    assert_eq!(scan(b"data:  x\n\n"), [frame(None, " x")]);
    // Comments are skipped, also between data lines.
    assert_eq!(scan(b": keep-alive\n\ndata: a\n: note\ndata: b\n\n"), [frame(None, "a\nb")]);
    // A field without a colon has an empty value; `data` alone is an empty data line.
    assert_eq!(scan(b"data\ndata\n\n"), [frame(None, "\n")]);
    // An event name without data dispatches nothing, and is forgotten.
    assert_eq!(scan(b"event: lonely\n\ndata: x\n\n"), [frame(None, "x")]);
    // An empty event name is the default.
    assert_eq!(scan(b"event:\ndata: x\n\n")[0].event_name(), "message");
    // Unknown fields and retry are ignored; the last event id is kept across frames.
    let frames = scan(b"id: 7\nretry: 10\nfoo: bar\ndata: x\n\ndata: y\n\nid: a\0b\ndata: z\n\n");
    let ids: Vec<_> = frames.iter().map(|f| f.id.as_deref()).collect();
    assert_eq!(ids, [Some("7"), Some("7"), Some("7")]);
    // A leading BOM is skipped, even split, and only at the start.
    let mut scanner = SseScanner::default();
    assert!(scanner.feed(&[0xEF, 0xBB]).unwrap().is_empty());
    assert_eq!(scanner.feed(b"\xBFdata: x\n\n").unwrap(), [frame(None, "x")]);
    // A later BOM is not skipped: `\u{feff}data` is an unknown field.
    assert_eq!(scan("\u{feff}data: x\n\n\u{feff}data: y\n\n".as_bytes()), [frame(None, "x")]);
}

#[test]
fn utf8_split_across_chunks_is_decoded_whole() {
    let input = "data: ☃é𝄞\n\n".as_bytes();
    for cut in 0..input.len() {
        let mut scanner = SseScanner::default();
        let mut frames = scanner.feed(&input[..cut]).unwrap();
        frames.extend(scanner.feed(&input[cut..]).unwrap());
        assert_eq!(frames, [frame(None, "☃é𝄞")], "cut at {cut}");
    }
    // Invalid UTF-8 becomes U+FFFD rather than an error.
    assert_eq!(scan(b"data: \xFFx\n\n"), [frame(None, "\u{FFFD}x")]);
}

#[test]
fn a_frame_over_the_limit_is_an_error_and_the_scanner_stays_failed() {
    let mut scanner = SseScanner::new(64);
    assert_eq!(scanner.feed(b"data: small\n\n").unwrap(), [frame(None, "small")]);
    // Many lines, each small: the frame's total counts, not the line.
    let mut failed = None;
    for _ in 0..100 {
        if let Err(error) = scanner.feed(b"data: 0123456789\n") {
            failed = Some(error);
            break;
        }
    }
    assert_eq!(failed, Some(SseError::FrameTooLarge { limit: 64 }));
    assert!(scanner.feed(b"\n\ndata: x\n\n").is_err());
    // One endless line without a line end fails too (no unbounded growth).
    let mut scanner = SseScanner::new(64);
    let result: Result<Vec<_>, _> = (0..100).map(|_| scanner.feed(b"0123456789")).collect();
    assert_eq!(result, Err(SseError::FrameTooLarge { limit: 64 }));
    // Exactly at the limit is fine: 62 bytes of line + LF + empty line.
    let line = format!("data: {}\n\n", "x".repeat(56));
    assert_eq!(SseScanner::new(63).feed(line.as_bytes()).unwrap().len(), 1);
}

#[test]
fn a_stream_cut_inside_a_frame_is_noticed() {
    let mut scanner = SseScanner::default();
    scanner.feed(b"data: x\n\n").unwrap();
    assert!(!scanner.is_mid_frame());
    scanner.feed(b"event: a\ndata: y\n").unwrap();
    assert!(scanner.is_mid_frame());
    scanner.feed(b"\n").unwrap();
    assert!(!scanner.is_mid_frame());
    scanner.feed(b"data: partial").unwrap();
    assert!(scanner.is_mid_frame());
}

#[test]
fn frame_kinds_of_both_providers() {
    for name in ["message_start", "ping", "response.created", "response.in_progress"] {
        assert_eq!(FrameKind::of_name(name), FrameKind::Preamble, "{name}");
    }
    for name in ["error", "response.failed"] {
        assert_eq!(FrameKind::of_name(name), FrameKind::Error, "{name}");
    }
    for name in [
        "content_block_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
        "response.output_item.added",
        "response.output_text.delta",
        "response.completed",
        "something_new",
    ] {
        assert_eq!(FrameKind::of_name(name), FrameKind::Output, "{name}");
    }
    // Without an event line, the JSON type names the frame.
    assert_eq!(FrameKind::of(&frame(None, r#"{"type":"response.failed"}"#)), FrameKind::Error);
    assert_eq!(FrameKind::of(&frame(None, r#"{"type":"ping"}"#)), FrameKind::Preamble);
    assert_eq!(FrameKind::of(&frame(None, "not json")), FrameKind::Output);
    // The name a frame stands under: its event line, else its JSON type, else `message`.
    assert_eq!(frame(Some("error"), r#"{"type":"x"}"#).kind_name(), "error");
    assert_eq!(frame(None, r#"{"type":"response.failed"}"#).kind_name(), "response.failed");
    assert_eq!(frame(None, "not json").kind_name(), "message");
}

/// Feeds `input` to a prelude in chunks of `size` bytes; the end and the bytes fed until then.
fn prelude(input: &[u8], size: usize, limit: usize) -> (PreludeEnd, usize) {
    let mut prelude = Prelude::new(limit);
    for chunk in input.chunks(size) {
        if let Some(end) = prelude.feed(chunk) {
            return (end, prelude.bytes_seen());
        }
    }
    (prelude.finish(), prelude.bytes_seen())
}

#[test]
fn the_prelude_commits_at_the_first_output() {
    let (end, seen) = prelude(ANTHROPIC.as_bytes(), 1, 64 * 1024);
    assert_eq!(end, PreludeEnd::Output { event: "content_block_start".into() });
    // It stopped at the end of that frame, not at the end of the stream.
    let at = ANTHROPIC.find("event: content_block_delta").unwrap();
    assert_eq!(seen, at);
    let (end, _) = prelude(CODEX.as_bytes(), 7, 64 * 1024);
    assert_eq!(end, PreludeEnd::Output { event: "response.output_item.added".into() });
    // An empty answer commits at its end.
    let empty = "event: message_start\ndata: {}\n\nevent: message_delta\ndata: {}\n\n";
    assert_eq!(
        prelude(empty.as_bytes(), 100, 1024).0,
        PreludeEnd::Output { event: "message_delta".into() }
    );
}

#[test]
fn the_prelude_stops_at_an_error_before_output() {
    let anthropic = "event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\n\
        event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let (end, _) = prelude(anthropic.as_bytes(), 3, 64 * 1024);
    let PreludeEnd::Error(error) = end else { panic!("{end:?}") };
    assert_eq!(error.event_name(), "error");
    assert!(error.data.contains("overloaded_error"));

    let failed = "event: response.created\ndata: {}\n\n\
        event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"rate_limit_exceeded\"}}}\n\n";
    let PreludeEnd::Error(error) = prelude(failed.as_bytes(), 5, 64 * 1024).0 else { panic!() };
    assert_eq!(error.event_name(), "response.failed");

    let codex_error =
        "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\"}\n\n";
    assert!(matches!(prelude(codex_error.as_bytes(), 1, 1024).0, PreludeEnd::Error(_)));

    // An error after output is past the commit point: the prelude has already ended.
    let late = format!("{ANTHROPIC}event: error\ndata: {{}}\n\n");
    assert!(matches!(prelude(late.as_bytes(), 1, 64 * 1024).0, PreludeEnd::Output { .. }));
}

#[test]
fn the_prelude_is_bounded() {
    // Pings forever: the bound ends the prelude, it does not grow.
    let pings = "event: ping\ndata: {\"type\":\"ping\"}\n\n".repeat(10_000);
    let (end, seen) = prelude(pings.as_bytes(), 1000, 64 * 1024);
    assert_eq!(end, PreludeEnd::LimitReached);
    assert!(seen <= 64 * 1024 + 1000, "{seen}");
    // One frame larger than the bound: also the bound, not an error.
    let huge = format!("event: message_start\ndata: {}\n\n", "x".repeat(100_000));
    assert_eq!(prelude(huge.as_bytes(), 4096, 64 * 1024).0, PreludeEnd::LimitReached);
    // A stream ending before any output.
    assert_eq!(prelude(b"event: message_start\ndata: {}\n\n", 10, 1024).0, PreludeEnd::Ended);
    assert_eq!(prelude(b"", 10, 1024).0, PreludeEnd::Ended);
    // After the end, feeding returns the same end.
    let mut p = Prelude::new(1024);
    assert!(p.feed(b"event: error\ndata: {}\n\n").is_some());
    assert!(matches!(p.feed(b"data: x\n\n"), Some(PreludeEnd::Error(_))));
    assert!(matches!(p.finish(), PreludeEnd::Error(_)));
}

/// Bytes likely to exercise the framing: field names, separators, every line end, a
/// multi-byte character, a BOM start byte.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        &b"data"[..],
        b"event",
        b"id",
        b"retry",
        b":",
        b": ",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"x",
        b"ping",
        "é".as_bytes(),
        b"\xEF\xBB\xBF",
        b"\xFF",
        b"\0",
    ]);
    prop::collection::vec(pieces, 0..80).prop_map(|pieces| pieces.concat())
}

/// Cut points of an input of `len` bytes.
fn cuts(input: &[u8], points: &[prop::sample::Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p.index(input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts
}

proptest! {
    #[test]
    fn any_chunking_gives_the_frames_of_the_whole_input(
        input in sse_bytes(),
        points in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let whole = scan(&input);
        let mut scanner = SseScanner::default();
        let mut frames = Vec::new();
        let mut from = 0;
        for cut in cuts(&input, &points).into_iter().chain([input.len()]) {
            scanner.feed_into(&input[from..cut], &mut frames).unwrap();
            from = cut;
        }
        prop_assert_eq!(&frames, &whole);
        prop_assert_eq!(scan_bytewise(&input), whole);
    }

    #[test]
    fn frames_written_with_any_line_end_read_back(
        frames in prop::collection::vec(
            (prop::option::of("[a-z_.]{1,12}"), prop::collection::vec("[ -~é☃]{0,20}", 1..4)),
            0..6,
        ),
        end in prop::sample::select(vec!["\n", "\r", "\r\n"]),
        points in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut input = String::new();
        let mut expected = Vec::new();
        for (event, lines) in &frames {
            if let Some(event) = event {
                input.push_str(&["event: ", event, end].concat());
            }
            for line in lines {
                input.push_str(&["data: ", line, end].concat());
            }
            input.push_str(end);
            expected.push(frame(event.as_deref(), &lines.join("\n")));
        }
        let input = input.as_bytes();
        let mut scanner = SseScanner::default();
        let mut got = Vec::new();
        let mut from = 0;
        for cut in cuts(input, &points).into_iter().chain([input.len()]) {
            got.extend(scanner.feed(&input[from..cut]).unwrap());
            from = cut;
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn the_prelude_ends_alike_under_any_chunking(input in sse_bytes(), size in 1usize..40) {
        // Below the bound, where the stream is cut cannot change where the prelude ends.
        let whole = prelude(&input, input.len().max(1), 1 << 20).0;
        prop_assert_eq!(prelude(&input, size, 1 << 20).0, whole);
    }
}
