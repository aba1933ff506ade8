//! The endpoint table: every URL a provider descriptor can name, with its `config.toml` key
//! (under `[providers.<name>]`) and one line saying what it is. The [`Endpoints`] struct, the
//! list of keys ([`ENDPOINTS`]), setting by key, reading by key and mac-core's config rows all
//! come from the one table below, so adding an endpoint is one line here plus its built-in
//! values in the descriptors.

use url::Url;

/// One endpoint of the table.
#[derive(Clone, Copy)]
pub struct EndpointSpec {
    /// The field of [`Endpoints`], which is also the `config.toml` key (`token_url`).
    pub key: &'static str,
    /// One line saying what it is (the config docs show it).
    pub doc: &'static str,
    get: fn(&Endpoints) -> Option<&Url>,
    slot: fn(&mut Endpoints) -> Slot<'_>,
}

/// A field of [`Endpoints`], for writing.
enum Slot<'a> {
    /// Every provider has it.
    Required(&'a mut Url),
    /// Some providers have none (`None`).
    Optional(&'a mut Option<Url>),
}

impl EndpointSpec {
    /// The spec of `key`, if the table has it.
    pub fn find(key: &str) -> Option<&'static EndpointSpec> {
        ENDPOINTS.iter().find(|spec| spec.key == key)
    }

    /// Its URL in `endpoints`; `None` where the provider has no such endpoint.
    pub fn get<'a>(&self, endpoints: &'a Endpoints) -> Option<&'a Url> {
        (self.get)(endpoints)
    }

    /// Sets its URL in `endpoints` (an endpoint the provider lacked is added).
    pub fn set(&self, endpoints: &mut Endpoints, url: Url) {
        match (self.slot)(endpoints) {
            Slot::Required(slot) => *slot = url,
            Slot::Optional(slot) => *slot = Some(url),
        }
    }

    /// Its URL in `endpoints`, for changing in place; `None` where the provider has none.
    pub(crate) fn get_mut<'a>(&self, endpoints: &'a mut Endpoints) -> Option<&'a mut Url> {
        match (self.slot)(endpoints) {
            Slot::Required(slot) => Some(slot),
            Slot::Optional(slot) => slot.as_mut(),
        }
    }
}

impl std::fmt::Debug for EndpointSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointSpec").field("key", &self.key).finish_non_exhaustive()
    }
}

macro_rules! endpoint_type {
    (required) => { Url };
    (optional) => { Option<Url> };
}

macro_rules! endpoint_get {
    (required, $value:expr) => {
        Some(&$value)
    };
    (optional, $value:expr) => {
        $value.as_ref()
    };
}

macro_rules! endpoint_slot {
    (required, $value:expr) => {
        Slot::Required(&mut $value)
    };
    (optional, $value:expr) => {
        Slot::Optional(&mut $value)
    };
}

/// Defines [`Endpoints`] and [`ENDPOINTS`] from one list: `/// doc` then `key: required` (every
/// provider has it) or `key: optional`.
macro_rules! endpoint_table {
    ($( #[doc = $doc:literal] $key:ident : $kind:ident ),+ $(,)?) => {
        /// Every endpoint of a provider, one field per row of the endpoint table; `None` where
        /// the provider has no such endpoint.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Endpoints {
            $( #[doc = $doc] pub $key: endpoint_type!($kind), )+
        }

        /// Every endpoint, in the order of the docs.
        pub static ENDPOINTS: &[EndpointSpec] = &[
            $( EndpointSpec {
                key: stringify!($key),
                doc: $doc.trim_ascii(),
                get: |e| endpoint_get!($kind, e.$key),
                slot: |e| endpoint_slot!($kind, e.$key),
            }, )+
        ];
    };
}

endpoint_table! {
    /// Where the browser goes to log in.
    authorize_url: required,
    /// Where codes and refresh tokens are exchanged.
    token_url: required,
    /// The OAuth redirect URI of the login (Codex's browser login uses `callback_port` instead).
    redirect_uri: required,
    /// The quota endpoint.
    usage_url: required,
    /// The profile endpoint (email, plan).
    profile_url: optional,
    /// The API origin requests are sent to.
    api_base_url: required,
    /// Where Responses and Chat Completions requests are sent.
    responses_url: optional,
    /// Device login: where the user code is requested.
    device_code_url: optional,
    /// Device login: where the approval is polled for.
    device_token_url: optional,
    /// Device login: the page the user opens to enter the code.
    device_verification_url: optional,
    /// Device login: the redirect URI the service's authorization code is bound to.
    device_redirect_uri: optional,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ProviderDescriptor;

    #[test]
    fn keys_are_unique_and_documented() {
        let keys: BTreeSet<&str> = ENDPOINTS.iter().map(|spec| spec.key).collect();
        assert_eq!(keys.len(), ENDPOINTS.len());
        for spec in ENDPOINTS {
            assert!(spec.doc.ends_with('.') && !spec.doc.starts_with(' '), "{spec:?}");
            assert_eq!(EndpointSpec::find(spec.key).map(|s| s.key), Some(spec.key));
        }
        assert!(EndpointSpec::find("tokne_url").is_none());
    }

    #[test]
    fn set_and_get_reach_the_field_of_the_same_name() {
        let mut endpoints = ProviderDescriptor::anthropic().endpoints;
        for (n, spec) in ENDPOINTS.iter().enumerate() {
            let url = Url::parse(&format!("http://127.0.0.1:1/{n}")).unwrap();
            spec.set(&mut endpoints, url.clone());
            assert_eq!(spec.get(&endpoints), Some(&url), "{spec:?}");
            assert_eq!(spec.get_mut(&mut endpoints).map(|u| u.clone()), Some(url));
        }
        // Each field got its own value: a key wired to another field would have been
        // overwritten.
        let values: BTreeSet<String> =
            ENDPOINTS.iter().filter_map(|s| s.get(&endpoints)).map(Url::to_string).collect();
        assert_eq!(values.len(), ENDPOINTS.len());
        assert_eq!(endpoints.token_url.path(), "/1");
        assert_eq!(endpoints.device_redirect_uri.as_ref().map(Url::path), Some("/10"));
    }

    #[test]
    fn the_crate_docs_show_every_endpoint() {
        let docs = include_str!("lib.rs");
        for spec in ENDPOINTS {
            assert!(docs.contains(&format!("//! | `{}` |", spec.key)), "{}", spec.key);
        }
    }
}
