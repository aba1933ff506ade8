//! Tokens never appear in `Debug` output or error messages (D18).

use mac_storage::{AccountsDocument, StoredAccount};

use crate::{Fixture, add, new_account};

const TOKEN: &str = "sk-ant-ort01-SECRET-REFRESH";

#[test]
fn debug_of_documents_and_stores_hides_tokens() {
    let fx = Fixture::new();
    add(&fx.store, &new_account(TOKEN));
    let doc: std::sync::Arc<AccountsDocument> = fx.store.load().unwrap();
    let account: &StoredAccount = &doc.accounts[0];
    for shown in [
        format!("{doc:?}"),
        format!("{account:?}"),
        format!("{:?}", fx.store),
        format!("{:?}", account.credentials()),
    ] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("access-of-"), "{shown}");
        assert!(shown.contains("[redacted]") || shown.contains("AccountStore"), "{shown}");
    }
}

#[test]
fn errors_about_a_file_full_of_tokens_quote_none_of_them() {
    let fx = Fixture::new();
    let text = format!(
        r#"{{"version": 1, "accounts": [{{"refreshToken": "{TOKEN}", "addedAt": "{TOKEN}", "lastUsed": 1}}]}}"#
    );
    std::fs::write(fx.path(), &text).unwrap();
    let read = fx.store.load().unwrap_err();
    let write = fx.store.clear().unwrap_err();
    for shown in [read.to_string(), format!("{read:?}"), write.to_string(), format!("{write:?}")] {
        assert!(!shown.contains(TOKEN), "{shown}");
    }
}
