//! Which stores a request goes to (Thanos v0.31 `pkg/store/proxy.go`,
//! `storeMatches`): a store is asked only if its announced time range
//! overlaps the request's, none of its external label sets is contradicted
//! by the request's matchers (a store with no label sets always matches),
//! and, when the request has `storeMatch[]`, some set of those matchers
//! matches `{__address__="<endpoint address>"}`.

use crate::endpoint::set::{Endpoint, Snapshot};
use crate::labels::{self, Matcher};
use crate::proto::thanos::Label;

/// What a request says about the stores it wants.
#[derive(Debug, Clone, Default)]
pub struct StoreFilter<'a> {
    pub min_time: i64,
    pub max_time: i64,
    /// The series matchers (checked against external labels); empty for
    /// the label APIs, which v0.31 does not filter by external labels.
    pub matchers: &'a [Matcher],
    /// `storeMatch[]`: OR of AND-ed matcher sets.
    pub store_matchers: &'a [Vec<Matcher>],
}

/// The queryable endpoints the request should go to, in snapshot order.
pub fn stores<'s>(snap: &'s Snapshot, f: &StoreFilter<'_>) -> Vec<&'s Endpoint> {
    snap.queryable().filter(|e| matches(e, f)).collect()
}

fn matches(e: &Endpoint, f: &StoreFilter<'_>) -> bool {
    if f.min_time > e.max_time || f.max_time < e.min_time {
        return false;
    }
    if !f.store_matchers.is_empty() && !address_matches(&e.addr, f.store_matchers) {
        return false;
    }
    external_labels_match(&e.label_sets, f.matchers)
}

/// Some `storeMatch[]` set matches the address; matchers on other label
/// names are ignored (they see an empty value).
fn address_matches(addr: &str, sets: &[Vec<Matcher>]) -> bool {
    let ls = [Label {
        name: "__address__".into(),
        value: addr.to_string(),
    }];
    sets.iter().any(|set| {
        set.iter()
            .filter(|m| m.name == "__address__")
            .all(|m| m.matches(labels::get(&ls, &m.name)))
    })
}

/// At least one label set is not contradicted: a set is contradicted when
/// it has a label the matchers name and a matcher rejects its value.
pub fn external_labels_match(sets: &[Vec<Label>], ms: &[Matcher]) -> bool {
    if sets.is_empty() {
        return true;
    }
    sets.iter().any(|set| {
        ms.iter()
            .all(|m| match set.iter().find(|l| l.name == m.name) {
                Some(l) => m.matches(&l.value),
                None => true,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{label, MatchKind};

    fn ep(addr: &str, sets: Vec<Vec<Label>>, min: i64, max: i64) -> Endpoint {
        Endpoint {
            addr: addr.into(),
            strict: false,
            component: Some("sidecar".into()),
            label_sets: sets,
            min_time: min,
            max_time: max,
            has_store: true,
            supports_without_replica_labels: true,
            last_check: Some(1),
            last_error: None,
            created: 0,
        }
    }

    fn m(kind: MatchKind, n: &str, v: &str) -> Matcher {
        Matcher::new(kind, n, v).unwrap()
    }

    #[test]
    fn selection_table() {
        let snap = Snapshot {
            endpoints: vec![
                ep(
                    "a:1",
                    vec![vec![label("replica", "a"), label("region", "eu")]],
                    0,
                    100,
                ),
                ep(
                    "b:1",
                    vec![vec![label("replica", "b"), label("region", "us")]],
                    50,
                    200,
                ),
                ep("c:1", vec![], i64::MIN, i64::MAX),
            ],
        };
        let eu = [m(MatchKind::Eq, "region", "eu")];
        let other = [m(MatchKind::Eq, "job", "x")];
        let by_addr = [vec![m(MatchKind::Re, "__address__", "b:.*")]];
        let cases: Vec<(StoreFilter, Vec<&str>)> = vec![
            (
                StoreFilter {
                    min_time: 0,
                    max_time: 10,
                    ..Default::default()
                },
                vec!["a:1", "c:1"],
            ),
            (
                StoreFilter {
                    min_time: 150,
                    max_time: 300,
                    ..Default::default()
                },
                vec!["b:1", "c:1"],
            ),
            (
                StoreFilter {
                    min_time: 0,
                    max_time: 300,
                    matchers: &eu,
                    ..Default::default()
                },
                vec!["a:1", "c:1"],
            ),
            (
                StoreFilter {
                    min_time: 0,
                    max_time: 300,
                    matchers: &other,
                    ..Default::default()
                },
                vec!["a:1", "b:1", "c:1"],
            ),
            (
                StoreFilter {
                    min_time: 0,
                    max_time: 300,
                    store_matchers: &by_addr,
                    ..Default::default()
                },
                vec!["b:1"],
            ),
        ];
        for (f, want) in cases {
            let got: Vec<&str> = stores(&snap, &f).iter().map(|e| e.addr.as_str()).collect();
            assert_eq!(got, want, "{f:?}");
        }
    }

    #[test]
    fn unhealthy_endpoints_are_skipped() {
        let mut e = ep("a:1", vec![], 0, 10);
        e.last_error = Some("down".into());
        let snap = Snapshot {
            endpoints: vec![e.clone()],
        };
        assert!(stores(
            &snap,
            &StoreFilter {
                min_time: 0,
                max_time: 1,
                ..Default::default()
            }
        )
        .is_empty());
        e.strict = true;
        let snap = Snapshot { endpoints: vec![e] };
        assert_eq!(
            stores(
                &snap,
                &StoreFilter {
                    min_time: 0,
                    max_time: 1,
                    ..Default::default()
                }
            )
            .len(),
            1
        );
    }
}
