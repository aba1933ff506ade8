//! The two file-system helpers every writer here shares: options that create files `0600`
//! (before any secret is written, never chmod-ed afterwards; D5), and the directory a file
//! lives in.

use std::fs::OpenOptions;
use std::path::Path;

/// `OpenOptions` whose newly created files get mode `0600` on Unix. Callers add the access and
/// creation flags.
pub(crate) fn private_options() -> OpenOptions {
    #[allow(unused_mut)] // only Unix sets a mode
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// The directory holding `file` (`.` for a bare file name).
pub(crate) fn parent_dir(file: &Path) -> &Path {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Makes `options` refuse to open a symbolic link at the last path component (`O_NOFOLLOW`), so
/// that a link planted at a lock or temp file name never redirects a write or a lock elsewhere.
pub(crate) fn no_follow(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flag = rustix::fs::OFlags::NOFOLLOW.bits();
        options.custom_flags(i32::try_from(flag).unwrap_or(0));
    }
    #[cfg(not(unix))]
    let _ = options;
}
