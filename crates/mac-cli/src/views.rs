//! What commands show of an account: the views of `mac_core::status` (the JSON documents,
//! shared with the gateway's `/v1/pool`; no view has a field that could hold a token), and
//! their human forms here — badges, countdowns, token expiry.

use mac_core::status::{AccountState, AccountView, WindowView};
use mac_storage::EpochMs;
use mac_ui::{Badge, wait_time};

pub(crate) use mac_core::status::{provider_name, state_of};

/// The badge of a state.
pub(crate) fn badge(state: AccountState) -> Badge {
    match state {
        AccountState::Ready => Badge::Ready,
        AccountState::RateLimited => Badge::RateLimited,
        AccountState::Exhausted => Badge::Exhausted,
        AccountState::NeedsLogin => Badge::NeedsLogin,
        AccountState::Disabled => Badge::Disabled,
    }
}

/// `42% (resets in 1h 5m)`.
pub(crate) fn window_human(window: &WindowView, now: EpochMs) -> String {
    let reset = match window.resets_at {
        Some(at) if at > now => format!(" (resets in {})", wait_time(at.duration_since(now))),
        Some(_) => " (reset)".to_owned(),
        None => String::new(),
    };
    format!("{:.0}%{reset}", window.utilization)
}

/// `expires in 2h`, `expired 3m ago`, `none`.
pub(crate) fn token_human(view: &AccountView, now: EpochMs) -> String {
    match view.token_expires_at {
        None => "none".to_owned(),
        Some(at) if at > now => format!("expires in {}", wait_time(at.duration_since(now))),
        Some(at) => format!("expired {} ago", wait_time(now.duration_since(at))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_the_badge_of_its_name() {
        for state in AccountState::ALL {
            assert_eq!(badge(state).as_str(), state.as_str());
        }
    }
}
