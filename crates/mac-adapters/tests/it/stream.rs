//! The streamed response's tool-prefix strip.

use mac_adapters::{ProviderDescriptor, ToolPrefixStripper};

const SSE: &str = concat!(
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"mcp_read_file\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"name\\\": \\\"mcp_x\\\"}\"}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\" : \"mcp_bash\",\"input\":{}}}",
);

#[test]
fn an_anthropic_stream_loses_the_prefix_in_tool_names_only() {
    let expected = SSE
        .replacen("\"name\":\"mcp_read_file\"", "\"name\":\"read_file\"", 1)
        .replacen("\"name\" : \"mcp_bash\"", "\"name\" : \"bash\"", 1);
    let prefix = ProviderDescriptor::anthropic().tool_prefix;
    // Whole, byte by byte, and in uneven chunks (the last line has no newline).
    assert_eq!(ToolPrefixStripper::transform_all(&prefix, SSE.as_bytes()), expected.as_bytes());
    for size in [1, 2, 3, 5, 7, 64] {
        let mut stripper = ToolPrefixStripper::new(&prefix);
        let mut out = Vec::new();
        for chunk in SSE.as_bytes().chunks(size) {
            out.extend(stripper.feed(chunk));
            out.extend(stripper.feed(b""));
        }
        out.extend(stripper.finish());
        assert_eq!(String::from_utf8(out).unwrap(), expected, "chunks of {size}");
    }
}

#[test]
fn bytes_that_are_not_utf8_pass_through() {
    let input = b"\xff\xfe\"name\":\"mcp_\xc3\x28x\"\x80";
    assert_eq!(
        ToolPrefixStripper::transform_all("mcp_", input),
        b"\xff\xfe\"name\":\"\xc3\x28x\"\x80"
    );
}

#[test]
fn a_pending_prefix_is_held_back_then_released() {
    let mut stripper = ToolPrefixStripper::new("mcp_");
    assert_eq!(stripper.feed(b"{\"name\":\"mc"), b"{\"name\":\"");
    assert_eq!(stripper.feed(b"p"), b"");
    assert_eq!(stripper.feed(b"x\"}"), b"mcpx\"}");
    let mut stripper = ToolPrefixStripper::new("mcp_");
    assert_eq!(stripper.feed(b"\"name\": \"mcp"), b"\"name\": \"");
    assert_eq!(stripper.finish(), b"mcp");
}
