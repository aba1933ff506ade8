//! How fast one client may guess the inbound key on the sign-in form (`POST /`): a burst of
//! [`BURST`] wrong keys, then one more every [`INTERVAL`]. Beyond that the form answers 429
//! with `retry-after` and does not compare the offered key at all, so a refused guess teaches
//! nothing. Without a limit, an exposed gateway let anyone try keys as fast as the network
//! carried them.
//!
//! # Rules
//!
//! - Per client address, as the connection shows it: an IPv4 address, or an IPv6 address's
//!   `/64` (one host usually owns a whole `/64`, so counting single IPv6 addresses would let it
//!   rotate through 2^64 of them). `X-Forwarded-For` is not read: any client can write it.
//!   Behind a reverse proxy every client shares the proxy's address, so they share one limit:
//!   stricter, never looser.
//! - A generic cell rate algorithm: each address keeps one instant, the "theoretical arrival
//!   time" of its next attempt. An attempt reserves an [`INTERVAL`] before the key is
//!   compared (so a thousand concurrent guesses cannot all pass the check before the first is
//!   counted); a right key gives its reservation back, so a user who types the key right is
//!   never slowed by their own sign-ins.
//! - Bounded memory: at most [`MAX_ADDRESSES`] addresses are tracked. An address whose time has
//!   passed carries no information and is dropped first; when every tracked address is still
//!   limited, a new address shares one overflow cell with every other untracked address. A
//!   flood of addresses therefore costs a fixed amount of memory and gets one address's rate
//!   between all of them, and no limited address is ever forgotten to make room. The price:
//!   during such a flood a legitimate user on a new address may have to wait too.
//!
//! The limiter lives in the gateway's state (one per running gateway, no process-global
//! state) behind a mutex held only for a map lookup (no I/O, no await).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Wrong keys an address may send at once.
pub(crate) const BURST: u32 = 5;
/// After the burst, one more attempt per interval.
pub(crate) const INTERVAL: Duration = Duration::from_secs(12);
/// How many addresses are tracked one by one.
const MAX_ADDRESSES: usize = 4096;

/// Whom an attempt is counted against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Client {
    /// An IPv4 address (also when it came IPv4-mapped).
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
    /// Every address the table had no room for.
    Overflow,
}

impl Client {
    fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Client::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::V4(u32::from(v4)),
                None => Client::V6(u64::try_from(u128::from(v6) >> 64).unwrap_or(u64::MAX)),
            },
        }
    }
}

/// The answer to an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Compare the key; call [`SignInLimiter::accepted`] if it was right.
    Go(Reservation),
    /// Too many wrong keys: answer 429 and try again after this long.
    Wait(Duration),
}

/// An attempt's reserved interval, given back when the key was right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reservation {
    client: Client,
}

/// The per-address sign-in limit of one gateway.
#[derive(Debug, Default)]
pub(crate) struct SignInLimiter {
    /// Each client's theoretical arrival time: it may try again once `now` is past it minus
    /// the burst's allowance.
    cells: Mutex<HashMap<Client, Instant>>,
}

impl SignInLimiter {
    /// Whether `address` may try a key at `now`; reserves the attempt when it may.
    pub(crate) fn admit(&self, address: IpAddr, now: Instant) -> Admission {
        let allowance = INTERVAL.saturating_mul(BURST.saturating_sub(1));
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let client = room_for(&mut cells, Client::of(address), now);
        let due = cells.get(&client).map_or(now, |at| (*at).max(now));
        let ahead = due.saturating_duration_since(now);
        if ahead > allowance {
            return Admission::Wait(ahead.saturating_sub(allowance));
        }
        cells.insert(client, due + INTERVAL);
        Admission::Go(Reservation { client })
    }

    /// The key of `reservation`'s attempt was right: it does not count.
    pub(crate) fn accepted(&self, reservation: Reservation, now: Instant) {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = cells.get_mut(&reservation.client) {
            *at = at.checked_sub(INTERVAL).unwrap_or(now).max(now);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.cells.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The cell `client` is counted in: its own, when it has one or there is room (after dropping
/// the cells whose time has passed), else the overflow cell.
fn room_for(cells: &mut HashMap<Client, Instant>, client: Client, now: Instant) -> Client {
    if cells.contains_key(&client) || cells.len() < MAX_ADDRESSES {
        return client;
    }
    cells.retain(|_, at| *at > now);
    // The overflow cell is one slot beyond the addresses.
    if cells.len() < MAX_ADDRESSES { client } else { Client::Overflow }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn wait(admission: Admission) -> Option<Duration> {
        match admission {
            Admission::Go(_) => None,
            Admission::Wait(after) => Some(after),
        }
    }

    #[test]
    fn a_burst_then_one_attempt_per_interval() {
        let limiter = SignInLimiter::default();
        let start = Instant::now();
        for _ in 0..BURST {
            assert_eq!(wait(limiter.admit(v4(1), start)), None);
        }
        assert_eq!(wait(limiter.admit(v4(1), start)), Some(INTERVAL));
        assert_eq!(wait(limiter.admit(v4(1), start + INTERVAL / 2)), Some(INTERVAL / 2));
        assert_eq!(wait(limiter.admit(v4(1), start + INTERVAL)), None, "one more");
        assert_eq!(wait(limiter.admit(v4(1), start + INTERVAL)), Some(INTERVAL));
        // Another address is not held back by the first.
        assert_eq!(wait(limiter.admit(v4(2), start)), None);
        // After a quiet while the whole burst is back.
        let later = start + INTERVAL * (BURST + 2);
        for _ in 0..BURST {
            assert_eq!(wait(limiter.admit(v4(1), later)), None);
        }
    }

    #[test]
    fn a_right_key_gives_its_attempt_back() {
        let limiter = SignInLimiter::default();
        let now = Instant::now();
        for _ in 0..BURST * 3 {
            let Admission::Go(reservation) = limiter.admit(v4(1), now) else {
                panic!("signing in right never runs out")
            };
            limiter.accepted(reservation, now);
        }
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64_prefix() {
        let limiter = SignInLimiter::default();
        let now = Instant::now();
        for host in 0..u16::try_from(BURST).unwrap() {
            let address = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, host));
            assert_eq!(wait(limiter.admit(address, now)), None);
        }
        let next = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        assert!(wait(limiter.admit(next, now)).is_some(), "the same /64");
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert_eq!(wait(limiter.admit(other, now)), None, "another /64");
        // An IPv4-mapped address is its IPv4 address.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        for _ in 0..BURST {
            limiter.admit(mapped, now);
        }
        assert!(wait(limiter.admit(v4(7), now)).is_some());
    }

    #[test]
    fn a_flood_of_addresses_stays_bounded_and_shares_one_cell() {
        let limiter = SignInLimiter::default();
        let now = Instant::now();
        let address =
            |n: usize| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + u32::try_from(n).unwrap()));
        for n in 0..MAX_ADDRESSES {
            for _ in 0..BURST {
                limiter.admit(address(n), now);
            }
        }
        assert_eq!(limiter.tracked(), MAX_ADDRESSES);
        // Every tracked address is still limited: newcomers share the overflow cell.
        for n in MAX_ADDRESSES..MAX_ADDRESSES + usize::try_from(BURST).unwrap() {
            assert_eq!(wait(limiter.admit(address(n), now)), None);
        }
        assert!(wait(limiter.admit(address(MAX_ADDRESSES * 2), now)).is_some());
        assert_eq!(limiter.tracked(), MAX_ADDRESSES + 1, "the addresses and the overflow cell");
        // A limited address was not forgotten to make room.
        assert!(wait(limiter.admit(address(0), now)).is_some());
        // Once their time has passed, the old cells make room again.
        let later = now + INTERVAL * (BURST + 1);
        assert_eq!(wait(limiter.admit(address(MAX_ADDRESSES * 3), later)), None);
        assert!(limiter.tracked() <= 2, "{}", limiter.tracked());
    }
}
