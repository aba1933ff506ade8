//! Account selection, the rotating retry loop over one request, refresh of a token exactly once
//! across processes, and proactive refresh (DECISIONS.md D11–D16).
//!
//! Must not depend on: `mac-core`, `mac-cli`, `mac-ui`, HTTP servers (the request is a closure
//! the caller passes), terminal crates.

// Modules (each owner inserts its own line; keep one module per line, sorted).
