//! [`Redacted`]: a statement parameter whose `Debug` hides its value.
//!
//! `tokio-postgres` logs every statement it executes at debug level with its parameters'
//! `Debug` (through the `log` facade, which a `tracing` subscriber with `tracing-log` picks up,
//! as `mac -vv` does). The accounts document holds refresh and access tokens, so its text must
//! never be a plain `&str` parameter: it goes through this wrapper, whose `Debug` says only how
//! long it is. Every parameter that may hold a secret is passed this way.

use std::error::Error;
use std::fmt;

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// Text sent to the server as a `text` parameter, shown as `[redacted N bytes]`.
pub(crate) struct Redacted<'a>(pub(crate) &'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted {} bytes]", self.0.len())
    }
}

impl ToSql for Redacted<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_length_only() {
        let shown = format!("{:?}", Redacted("refresh-token-SECRET"));
        assert_eq!(shown, "[redacted 20 bytes]");
    }

    #[test]
    fn the_value_is_sent_as_text() {
        let mut out = BytesMut::new();
        let sent = Redacted("{\"a\":1}").to_sql(&Type::TEXT, &mut out);
        assert!(matches!(sent, Ok(IsNull::No)));
        assert_eq!(&out[..], b"{\"a\":1}");
        assert!(<Redacted<'_> as ToSql>::accepts(&Type::TEXT));
    }
}
