//! The URL's TLS parameters — `sslmode` and `sslrootcert`, as libpq reads them — taken out of
//! the URL before the client parses the rest.
//!
//! Why taken out: `tokio-postgres` knows `sslmode` only as `disable`, `prefer` and `require`
//! (it leaves verification to the TLS connector) and refuses `sslrootcert` as an unknown
//! option. mac reads both here, hands the client `require` for the verifying modes, and
//! verifies the certificate in its own connector (`tls.rs`). Both URL forms are read:
//! `postgres://…?sslmode=…&sslrootcert=…` (percent-decoded) and `key=value` pairs (quoted
//! with `'…'` and `\` escapes). No message quotes a value: the URL holds the password.

use std::path::PathBuf;

/// How much TLS a connection demands, as libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not verified
    /// unless `sslrootcert` names a CA. libpq's default, and mac's (see [`SslParams::take`]).
    Prefer,
    /// TLS or no connection; the certificate is not verified unless `sslrootcert` names a CA.
    Require,
    /// TLS with a certificate signed by the `sslrootcert` CA, whatever host it names.
    VerifyCa,
    /// TLS with a certificate signed by a trusted CA and naming the URL's host.
    VerifyFull,
}

impl SslMode {
    /// The mode as written in a URL.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Disable, Self::Prefer, Self::Require, Self::VerifyCa, Self::VerifyFull]
            .into_iter()
            .find(|mode| mode.as_str() == text)
    }

    /// The mode the client itself applies: it only asks for TLS; verification is the
    /// connector's.
    pub(crate) fn for_client(self) -> tokio_postgres::config::SslMode {
        match self {
            Self::Disable => tokio_postgres::config::SslMode::Disable,
            Self::Prefer => tokio_postgres::config::SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// Which certificate authorities a verified connection trusts (`sslrootcert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// The CA certificates (PEM) in this file.
    File(PathBuf),
    /// The operating system's trusted CAs (`sslrootcert=system`, or `verify-full` without
    /// `sslrootcert`).
    System,
}

/// The URL's TLS parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SslParams {
    /// The mode (default `prefer`).
    pub(crate) mode: SslMode,
    /// The CAs certificates are verified against; `None` when nothing is verified
    /// (`disable`, `prefer` and `require` without `sslrootcert`).
    pub(crate) root_cert: Option<RootCert>,
}

impl SslParams {
    /// Takes `sslmode` and `sslrootcert` out of `url`: the URL without them, and their
    /// meaning. `Err` holds the reason, never quoting the URL.
    ///
    /// The defaults follow libpq, with one difference: without `sslmode` the mode is `prefer`
    /// (TLS whenever the server offers it) — stricter would refuse every server without TLS,
    /// as a local one often is, for a URL that works with `psql`; a URL that must not travel
    /// in clear says `require` or `verify-full`. `sslrootcert=system` implies `verify-full`,
    /// as in libpq. The difference: `verify-full` without `sslrootcert` trusts the system's
    /// CAs (libpq would read `~/.postgresql/root.crt`; mac reads no file the URL does not name).
    /// `verify-ca` needs `sslrootcert=FILE`: a certificate that may name any host is only
    /// safe when signed by the deployment's own CA.
    pub(crate) fn take(url: &str) -> Result<(String, Self), String> {
        let (rest, mode, root) =
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                take_from_query(url)
            } else {
                take_from_pairs(url)
            };
        let mode = match mode {
            None => None,
            Some(text) => Some(SslMode::parse(&text).ok_or(
                "invalid value for option `sslmode` (use disable, prefer, require, verify-ca or \
                 verify-full)",
            )?),
        };
        let root = match root.as_deref() {
            None | Some("") => None,
            Some("system") => Some(RootCert::System),
            Some(path) => Some(RootCert::File(PathBuf::from(path))),
        };
        let params = match (mode, root) {
            (Some(mode), Some(RootCert::System)) if mode != SslMode::VerifyFull => {
                return Err(format!(
                    "`sslrootcert=system` needs `sslmode=verify-full`, not `{}`",
                    mode.as_str()
                ));
            }
            (Some(SslMode::VerifyCa), None) => {
                return Err("`sslmode=verify-ca` needs `sslrootcert=PATH`, the PEM file of the \
                            CA that signed the server's certificate"
                    .to_owned());
            }
            (None | Some(SslMode::VerifyFull), Some(RootCert::System))
            | (Some(SslMode::VerifyFull), None) => {
                Self { mode: SslMode::VerifyFull, root_cert: Some(RootCert::System) }
            }
            (Some(SslMode::Disable), Some(_)) => Self { mode: SslMode::Disable, root_cert: None },
            (mode, root_cert) => Self { mode: mode.unwrap_or(SslMode::Prefer), root_cert },
        };
        Ok((rest, params))
    }
}

/// The last `sslmode` and `sslrootcert` values of a `postgres://` URL's query, and the URL
/// without them.
fn take_from_query(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None, None);
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for segment in query.split('&') {
        let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
        let value = || percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key {
            "sslmode" => mode = Some(value()),
            "sslrootcert" => root = Some(value()),
            _ => kept.push(segment),
        }
    }
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (rest, mode, root)
}

/// The last `sslmode` and `sslrootcert` values of a `key=value …` string, and the string
/// without them. A string that does not tokenize is returned whole from the first pair that
/// does not: the client's parser then reports it.
fn take_from_pairs(text: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut rest = String::new();
    let mut at = 0;
    while let Some((start, end, key, value)) = next_pair(text, at) {
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => {
                rest.push_str(&text[start..end]);
                rest.push(' ');
            }
        }
        at = end;
    }
    rest.push_str(&text[at..]);
    (rest.trim().to_owned(), mode, root)
}

/// The next `key=value` pair at or after `from`: its span, key and unescaped value.
fn next_pair(text: &str, from: usize) -> Option<(usize, usize, &str, String)> {
    let start = from + text[from..].len() - text[from..].trim_start().len();
    let eq = start + text[start..].find('=')?;
    let key = text[start..eq].trim_end();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    let value_start = eq + 1 + text[eq + 1..].len() - text[eq + 1..].trim_start().len();
    let mut chars = text[value_start..].char_indices().peekable();
    let quoted = text[value_start..].starts_with('\'');
    if quoted {
        chars.next();
    }
    let mut value = String::new();
    while let Some((offset, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '\'' if quoted => return Some((start, value_start + offset + 1, key, value)),
            c if !quoted && c.is_whitespace() => {
                return Some((start, value_start + offset, key, value));
            }
            c => value.push(c),
        }
    }
    // An unterminated quote is the client's to report.
    (!quoted).then_some((start, text.len(), key, value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn take(url: &str) -> (String, SslParams) {
        SslParams::take(url).unwrap()
    }

    #[test]
    fn the_default_is_prefer_without_verification() {
        let (rest, params) = take("postgres://u:pw@h/db");
        assert_eq!(rest, "postgres://u:pw@h/db");
        assert_eq!(params, SslParams { mode: SslMode::Prefer, root_cert: None });
    }

    #[test]
    fn query_parameters_are_taken_out_and_the_others_kept() {
        let (rest, params) = take(
            "postgres://u:pw@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fmy%20ca.pem&connect_timeout=3",
        );
        assert_eq!(rest, "postgres://u:pw@h/db?application_name=x&connect_timeout=3");
        assert_eq!(params.mode, SslMode::VerifyFull);
        assert_eq!(params.root_cert, Some(RootCert::File("/tmp/my ca.pem".into())));
        let (rest, params) = take("postgresql://u@h/db?sslmode=require");
        assert_eq!(rest, "postgresql://u@h/db");
        assert_eq!(params, SslParams { mode: SslMode::Require, root_cert: None });
    }

    #[test]
    fn key_value_pairs_are_taken_out_with_quotes_and_escapes() {
        let (rest, params) = take(
            "host=h user=u password='a b\\'c' sslmode = verify-ca sslrootcert='/tmp/my ca.pem' dbname=db",
        );
        assert_eq!(rest, "host=h user=u password='a b\\'c' dbname=db");
        assert_eq!(params.mode, SslMode::VerifyCa);
        assert_eq!(params.root_cert, Some(RootCert::File("/tmp/my ca.pem".into())));
    }

    #[test]
    fn the_libpq_rules_for_root_certificates_hold() {
        assert_eq!(
            take("postgres://u@h/db?sslrootcert=system").1,
            SslParams { mode: SslMode::VerifyFull, root_cert: Some(RootCert::System) }
        );
        assert_eq!(
            take("postgres://u@h/db?sslmode=verify-full").1,
            SslParams { mode: SslMode::VerifyFull, root_cert: Some(RootCert::System) }
        );
        assert_eq!(take("postgres://u@h/db?sslmode=disable&sslrootcert=/ca").1.root_cert, None);
        for (url, expected) in [
            ("postgres://u@h/db?sslmode=verify-ca", "needs `sslrootcert=PATH`"),
            ("postgres://u@h/db?sslmode=require&sslrootcert=system", "needs `sslmode=verify-full`"),
        ] {
            let reason = SslParams::take(url).unwrap_err();
            assert!(reason.contains(expected), "{url}: {reason}");
        }
    }

    #[test]
    fn an_invalid_mode_is_refused_without_quoting_it() {
        let reason = SslParams::take("postgres://u:hunter2@h/db?sslmode=hunter2").unwrap_err();
        assert!(reason.contains("sslmode") && !reason.contains("hunter2"), "{reason}");
        let reason = SslParams::take("host=h password=hunter2 sslmode=hunter2").unwrap_err();
        assert!(!reason.contains("hunter2"), "{reason}");
    }
}
