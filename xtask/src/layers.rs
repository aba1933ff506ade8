//! The layering check: the one table that ranks every workspace member, the per-crate deny-list
//! of external crates, and the check of every dependency edge against both
//! (`cargo xtask layers`, step `layers` of `cargo xtask ci`, and this module's tests).
//!
//! A normal or build dependency of a layered crate must go to a strictly lower layer; so must a
//! dev-dependency, except on `mac-test-support`. Edges name packages, so a `package = "..."`
//! rename does not hide one. The deny-list sees direct dependencies only (`cargo metadata
//! --no-deps` resolves nothing).

use std::fmt;
use std::path::Path;

use crate::cargo::{DepKind, Metadata, Package};

/// Where a workspace member sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rank {
    /// A shipping crate in layer `n`: it may depend only on crates of lower layers.
    Layer(u8),
    /// `mac-test-support`: may depend on any layered crate; any crate may have it as a
    /// dev-dependency; only `mac-tests` may have it as a normal or build dependency.
    TestSupport,
    /// `mac-tests`, the integration-test member: may depend on everything; nothing depends on it.
    Tests,
    /// `xtask`: depends on no `mac-*` crate; nothing depends on it.
    Xtask,
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Layer(n) => write!(f, "layer {n}"),
            Self::TestSupport => f.write_str("dev-only helper"),
            Self::Tests => f.write_str("integration tests"),
            Self::Xtask => f.write_str("automation"),
        }
    }
}

/// Every workspace member and its rank: the single source of the layering (docs/ARCHITECTURE.md
/// describes it). A new crate must be added here, or the check fails.
pub(crate) const LAYERS: &[(&str, Rank)] = &[
    ("mac-storage", Rank::Layer(1)),
    ("mac-claims", Rank::Layer(2)),
    ("mac-ratelimit", Rank::Layer(2)),
    ("mac-adapters", Rank::Layer(2)),
    ("mac-ui", Rank::Layer(2)),
    ("mac-fake", Rank::Layer(2)),
    ("mac-executor", Rank::Layer(3)),
    ("mac-postgres", Rank::Layer(3)),
    ("mac-core", Rank::Layer(4)),
    ("mac-gateway", Rank::Layer(5)),
    ("mac-cli", Rank::Layer(6)),
    ("mac-test-support", Rank::TestSupport),
    ("mac-tests", Rank::Tests),
    ("xtask", Rank::Xtask),
];

/// Which workspace members a [`Ban`] covers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope {
    /// Exactly these members.
    In(&'static [&'static str]),
    /// Every member except these.
    OutsideOf(&'static [&'static str]),
}

impl Scope {
    /// Whether the ban applies to the member `name`.
    fn covers(self, name: &str) -> bool {
        match self {
            Self::In(names) => names.contains(&name),
            Self::OutsideOf(names) => !names.contains(&name),
        }
    }
}

/// One entry of the deny-list: `external` must not be a dependency of one of `kinds` of a member
/// in `scope`, for `reason`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ban {
    /// The external crate (package name).
    pub(crate) external: &'static str,
    /// The members the ban applies to.
    pub(crate) scope: Scope,
    /// The dependency kinds it applies to.
    pub(crate) kinds: &'static [DepKind],
    /// Why, printed with a violation.
    pub(crate) reason: &'static str,
}

/// Dependencies that end up in what ships.
const SHIPPED: &[DepKind] = &[DepKind::Normal, DepKind::Build];
/// Every kind of dependency.
const ANY_KIND: &[DepKind] = &[DepKind::Normal, DepKind::Build, DepKind::Dev];
const STORAGE_CLAIMS: &[&str] = &["mac-storage", "mac-claims"];
const RATELIMIT: &[&str] = &["mac-ratelimit"];
const EXECUTOR: &[&str] = &["mac-executor"];
const TERMINAL_OWNERS: &[&str] = &["mac-ui", "mac-cli"];
/// The command line is defined in one crate (its `args` module).
const COMMAND_LINE_OWNERS: &[&str] = &["mac-cli"];
/// The gateway's home, the loopback fake provider (a server by nature, shipped only for
/// `mac demo`), and the dev-only members that host test fakes (D21: axum for the fakes).
const AXUM_OWNERS: &[&str] =
    &["mac-gateway", "mac-cli", "mac-fake", "mac-test-support", "mac-tests"];

/// The deny-list of external crates. The first matching entry reports an edge, so the
/// crate-specific entries come before the general ones.
///
/// `http` (the types `HeaderMap`, `StatusCode`, `Method`, shared by reqwest, hyper and axum) is
/// allowed everywhere: it is the vocabulary the layers speak to each other, not a client or a
/// server. HTTP clients and servers stay out of the crates that only read what they are handed.
pub(crate) const BANS: &[Ban] = &[
    Ban {
        external: "reqwest",
        scope: Scope::In(STORAGE_CLAIMS),
        kinds: SHIPPED,
        reason: "storage and claims do local file I/O only; HTTP belongs to mac-adapters",
    },
    Ban {
        external: "hyper",
        scope: Scope::In(STORAGE_CLAIMS),
        kinds: SHIPPED,
        reason: "storage and claims do local file I/O only; HTTP belongs to mac-adapters",
    },
    Ban {
        external: "axum",
        scope: Scope::In(STORAGE_CLAIMS),
        kinds: SHIPPED,
        reason: "storage and claims never serve HTTP; the gateway lives in mac-gateway",
    },
    Ban {
        external: "inquire",
        scope: Scope::In(STORAGE_CLAIMS),
        kinds: SHIPPED,
        reason: "storage and claims never talk to the terminal; prompts live in mac-ui",
    },
    Ban {
        external: "crossterm",
        scope: Scope::In(STORAGE_CLAIMS),
        kinds: SHIPPED,
        reason: "storage and claims never talk to the terminal; terminal output lives in mac-ui",
    },
    Ban {
        external: "reqwest",
        scope: Scope::In(RATELIMIT),
        kinds: SHIPPED,
        reason: "rate-limit parsing is pure: it reads headers and bodies it is handed",
    },
    Ban {
        external: "hyper",
        scope: Scope::In(RATELIMIT),
        kinds: SHIPPED,
        reason: "rate-limit parsing is pure: it reads headers and bodies it is handed",
    },
    Ban {
        external: "axum",
        scope: Scope::In(RATELIMIT),
        kinds: SHIPPED,
        reason: "rate-limit parsing is pure: it serves nothing",
    },
    Ban {
        external: "tokio",
        scope: Scope::In(RATELIMIT),
        kinds: SHIPPED,
        reason: "rate-limit parsing is pure: no runtime, time comes from the caller",
    },
    Ban {
        external: "reqwest",
        scope: Scope::In(EXECUTOR),
        kinds: SHIPPED,
        reason: "the executor sends nothing itself: the caller's closure sends each attempt (D16)",
    },
    Ban {
        external: "hyper",
        scope: Scope::In(EXECUTOR),
        kinds: SHIPPED,
        reason: "the executor sends nothing itself: the caller's closure sends each attempt (D16)",
    },
    Ban {
        external: "axum",
        scope: Scope::In(EXECUTOR),
        kinds: SHIPPED,
        reason: "the executor serves nothing; the gateway serves HTTP",
    },
    Ban {
        external: "inquire",
        scope: Scope::In(RATELIMIT),
        kinds: SHIPPED,
        reason: "rate-limit logic never prompts; prompts live in mac-ui",
    },
    Ban {
        external: "inquire",
        scope: Scope::OutsideOf(TERMINAL_OWNERS),
        kinds: ANY_KIND,
        reason: "prompts live in mac-ui (behind a trait so menus can be tested) and mac-cli",
    },
    Ban {
        external: "crossterm",
        scope: Scope::OutsideOf(TERMINAL_OWNERS),
        kinds: ANY_KIND,
        reason: "terminal control lives in mac-ui and mac-cli",
    },
    Ban {
        external: "clap",
        scope: Scope::OutsideOf(COMMAND_LINE_OWNERS),
        kinds: SHIPPED,
        reason: "the command line is defined once, in mac-cli's args module; libraries take \
                 typed values, not arguments",
    },
    Ban {
        external: "clap_complete",
        scope: Scope::OutsideOf(COMMAND_LINE_OWNERS),
        kinds: ANY_KIND,
        reason: "shell completions are generated by `mac completions` in mac-cli",
    },
    Ban {
        external: "axum",
        scope: Scope::OutsideOf(AXUM_OWNERS),
        kinds: SHIPPED,
        reason: "the HTTP gateway lives in mac-gateway (served by mac-cli); elsewhere axum may \
                 only be a dev-dependency (test fakes)",
    },
];

/// The rank of the member `name`, if the table has one.
pub(crate) fn rank(name: &str) -> Option<Rank> {
    LAYERS.iter().find(|(member, _)| *member == name).map(|(_, rank)| *rank)
}

/// What the check looked at and what it found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Every violation, one line each, in member order.
    pub(crate) violations: Vec<String>,
    /// How many members were checked.
    pub(crate) members: usize,
    /// How many edges between members were checked.
    pub(crate) internal_edges: usize,
    /// How many edges to external crates were checked against the deny-list.
    pub(crate) external_edges: usize,
}

/// Checks every dependency edge of every member of `metadata`.
pub(crate) fn check(metadata: &Metadata) -> Report {
    let mut report = Report { members: metadata.members.len(), ..Report::default() };
    for package in &metadata.members {
        if rank(&package.name).is_none() {
            report.violations.push(format!(
                "{}: workspace member has no rank; add it to LAYERS in xtask/src/layers.rs",
                package.name
            ));
        }
    }
    for package in &metadata.members {
        check_package(metadata, package, &mut report);
    }
    report
}

/// Checks the edges of one member.
fn check_package(metadata: &Metadata, package: &Package, report: &mut Report) {
    let from = package.name.as_str();
    for dep in &package.dependencies {
        let to = dep.name.as_str();
        if metadata.member(to).is_some() {
            report.internal_edges += 1;
            // A member without a rank is already reported once above.
            if let (Some(from_rank), Some(to_rank)) = (rank(from), rank(to))
                && let Some(violation) = edge_violation(from, from_rank, to, to_rank, dep.kind)
            {
                report.violations.push(violation);
            }
        } else {
            report.external_edges += 1;
            if let Some(ban) = find_ban(from, to, dep.kind) {
                report.violations.push(format!(
                    "{from} -> {to}{}: {}",
                    kind_suffix(dep.kind),
                    ban.reason
                ));
            }
        }
    }
}

/// The first entry of the deny-list that forbids `from -> to` of `kind`, if any.
fn find_ban(from: &str, to: &str, kind: DepKind) -> Option<&'static Ban> {
    BANS.iter()
        .find(|ban| ban.external == to && ban.scope.covers(from) && ban.kinds.contains(&kind))
}

/// ` [dev-dependency]` or ` [build-dependency]`, nothing for a normal dependency.
fn kind_suffix(kind: DepKind) -> &'static str {
    match kind {
        DepKind::Normal => "",
        DepKind::Dev => " [dev-dependency]",
        DepKind::Build => " [build-dependency]",
    }
}

/// The violation an edge `from -> to` of `kind` is, if any.
fn edge_violation(
    from: &str,
    from_rank: Rank,
    to: &str,
    to_rank: Rank,
    kind: DepKind,
) -> Option<String> {
    let edge = format!("{from} ({from_rank}) -> {to} ({to_rank}){}", kind_suffix(kind));
    let rule = match (from_rank, to_rank) {
        (_, Rank::Tests) => "nothing may depend on mac-tests",
        (_, Rank::Xtask) => "nothing may depend on xtask",
        (Rank::Xtask, _) => "xtask depends on no mac-* crate",
        (Rank::Tests, _) | (Rank::TestSupport, Rank::Layer(_)) => return None,
        (_, Rank::TestSupport) if kind == DepKind::Dev => return None,
        (_, Rank::TestSupport) => {
            "only mac-tests may have mac-test-support as a normal or build dependency"
        }
        (Rank::Layer(a), Rank::Layer(b)) if b < a => return None,
        (Rank::Layer(_), Rank::Layer(_)) => "a crate may depend only on lower layers",
    };
    Some(format!("{edge}: {rule}"))
}

/// `cargo xtask layers`: loads the metadata of the workspace at `manifest_path`, prints every
/// violation (or one OK line), and fails if there was any.
pub(crate) fn run(manifest_path: &Path) -> Result<(), String> {
    let metadata = Metadata::load(Some(manifest_path))?;
    let report = check(&metadata);
    if report.violations.is_empty() {
        println!(
            "layers: OK ({} members, {} internal and {} external dependency edges checked)",
            report.members, report.internal_edges, report.external_edges
        );
        Ok(())
    } else {
        eprintln!("layers: {} violation(s):", report.violations.len());
        for violation in &report.violations {
            eprintln!("  {violation}");
        }
        Err(format!(
            "the layering check found {} violation(s) in {}; the table and deny-list are in \
             xtask/src/layers.rs",
            report.violations.len(),
            manifest_path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name).join("Cargo.toml")
    }

    fn violations(manifest_path: &Path) -> Vec<String> {
        check(&Metadata::load(Some(manifest_path)).unwrap()).violations
    }

    #[test]
    fn the_workspace_respects_its_layers() {
        let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let metadata = Metadata::load(Some(&manifest_path)).unwrap();
        let report = check(&metadata);
        assert_eq!(report.violations, Vec::<String>::new());
        assert!(metadata.member("xtask").is_some());
    }

    #[test]
    fn upward_fixture_reports_every_violation() {
        assert_eq!(
            violations(&fixture("upward")),
            [
                "mac-unranked: workspace member has no rank; add it to LAYERS in \
                 xtask/src/layers.rs",
                "mac-core (layer 4) -> mac-test-support (dev-only helper): only mac-tests may \
                 have mac-test-support as a normal or build dependency",
                "mac-storage (layer 1) -> mac-core (layer 4): a crate may depend only on lower \
                 layers",
                "mac-storage -> reqwest: storage and claims do local file I/O only; HTTP \
                 belongs to mac-adapters",
            ]
        );
    }

    #[test]
    fn clean_fixture_passes() {
        assert_eq!(violations(&fixture("clean")), Vec::<String>::new());
    }

    #[test]
    fn every_rank_is_listed_once() {
        for (i, (name, _)) in LAYERS.iter().enumerate() {
            assert!(!LAYERS[..i].iter().any(|(other, _)| other == name), "{name} is ranked twice");
        }
    }

    #[test]
    fn edge_rules() {
        use DepKind::{Build, Dev, Normal};
        let check = |from: &str, to: &str, kind| {
            edge_violation(from, rank(from).unwrap(), to, rank(to).unwrap(), kind)
        };
        assert_eq!(check("mac-core", "mac-executor", Normal), None);
        assert_eq!(check("mac-cli", "mac-storage", Build), None);
        assert_eq!(check("mac-storage", "mac-test-support", Dev), None);
        assert_eq!(check("mac-test-support", "mac-cli", Normal), None);
        assert_eq!(check("mac-tests", "mac-test-support", Normal), None);
        assert_eq!(check("mac-tests", "mac-cli", Normal), None);
        assert_eq!(
            check("mac-ui", "mac-adapters", Normal).unwrap(),
            "mac-ui (layer 2) -> mac-adapters (layer 2): a crate may depend only on lower layers"
        );
        assert_eq!(
            check("mac-storage", "mac-core", Dev).unwrap(),
            "mac-storage (layer 1) -> mac-core (layer 4) [dev-dependency]: a crate may depend \
             only on lower layers"
        );
        assert_eq!(
            check("mac-ui", "mac-test-support", Build).unwrap(),
            "mac-ui (layer 2) -> mac-test-support (dev-only helper) [build-dependency]: only \
             mac-tests may have mac-test-support as a normal or build dependency"
        );
        assert_eq!(
            check("mac-test-support", "mac-tests", Dev).unwrap(),
            "mac-test-support (dev-only helper) -> mac-tests (integration tests) \
             [dev-dependency]: nothing may depend on mac-tests"
        );
        assert_eq!(
            check("mac-cli", "xtask", Normal).unwrap(),
            "mac-cli (layer 6) -> xtask (automation): nothing may depend on xtask"
        );
        assert_eq!(
            check("xtask", "mac-storage", Dev).unwrap(),
            "xtask (automation) -> mac-storage (layer 1) [dev-dependency]: xtask depends on no \
             mac-* crate"
        );
    }

    #[test]
    fn deny_list_rules() {
        let banned = |from, to, kind| find_ban(from, to, kind).map(|ban| ban.reason);
        assert!(banned("mac-storage", "reqwest", DepKind::Normal).is_some());
        assert!(banned("mac-storage", "reqwest", DepKind::Dev).is_none());
        assert!(banned("mac-adapters", "reqwest", DepKind::Normal).is_none());
        assert!(banned("mac-ratelimit", "tokio", DepKind::Normal).is_some());
        assert!(banned("mac-executor", "tokio", DepKind::Normal).is_none());
        assert!(banned("mac-executor", "reqwest", DepKind::Normal).is_some());
        assert!(banned("mac-executor", "hyper", DepKind::Normal).is_some());
        assert!(banned("mac-executor", "reqwest", DepKind::Dev).is_none());
        for crate_name in ["mac-ratelimit", "mac-adapters", "mac-executor", "mac-storage"] {
            assert!(banned(crate_name, "http", DepKind::Normal).is_none(), "{crate_name}");
        }
        assert!(banned("mac-core", "inquire", DepKind::Normal).is_some());
        assert!(banned("mac-core", "crossterm", DepKind::Dev).is_some());
        assert!(banned("mac-ui", "inquire", DepKind::Normal).is_none());
        assert!(banned("mac-cli", "crossterm", DepKind::Normal).is_none());
        assert!(banned("mac-cli", "clap", DepKind::Normal).is_none());
        assert!(banned("mac-ui", "clap", DepKind::Normal).is_some());
        assert!(banned("mac-core", "clap_complete", DepKind::Dev).is_some());
        assert!(banned("mac-core", "axum", DepKind::Normal).is_some());
        assert!(banned("mac-core", "axum", DepKind::Dev).is_none());
        assert!(banned("mac-cli", "axum", DepKind::Normal).is_none());
        assert!(banned("mac-test-support", "axum", DepKind::Normal).is_none());
        assert_eq!(
            banned("mac-claims", "axum", DepKind::Normal),
            Some("storage and claims never serve HTTP; the gateway lives in mac-gateway")
        );
    }
}
