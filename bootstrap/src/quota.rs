//! Quota arithmetic: shares of the app nodes' summed allocatable, rounded down.
//!
//! ingestion 50 %, strategies 40 %, monitoring 10 %. CPU in whole millicores, memory in
//! whole MiB (so the rendered `…Mi` is exact). With no app nodes every share is 0.

use crate::facts::NodeCapacity;

/// Bytes per MiB.
pub const MIB: u64 = 1 << 20;

/// CPU and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// Millicores.
    pub cpu_millis: u64,
    /// Bytes.
    pub memory_bytes: u64,
}

/// The namespaces that get a quota, with their percentage of the app nodes.
pub const SHARES: [(&str, u64); 3] = [("ingestion", 50), ("strategies", 40), ("monitoring", 10)];

/// The summed allocatable of the app nodes (saturating).
pub fn total(nodes: &[NodeCapacity]) -> Resources {
    nodes.iter().fold(Resources::default(), |sum, n| Resources {
        cpu_millis: sum.cpu_millis.saturating_add(n.cpu_millis),
        memory_bytes: sum.memory_bytes.saturating_add(n.memory_bytes),
    })
}

/// `percent` % of `total`, rounded down (`percent` is capped at 100).
pub fn percent_of(total: u64, percent: u64) -> u64 {
    let share = u128::from(total) * u128::from(percent.min(100)) / 100;
    u64::try_from(share).unwrap_or(total)
}

/// `percent` % of `total`: CPU in millicores, memory rounded down to whole MiB.
pub fn share(total: Resources, percent: u64) -> Resources {
    let memory = percent_of(total.memory_bytes, percent);
    Resources {
        cpu_millis: percent_of(total.cpu_millis, percent),
        memory_bytes: memory - memory % MIB,
    }
}

/// Each quota namespace with its share, in [`SHARES`] order.
pub fn quotas(nodes: &[NodeCapacity]) -> Vec<(&'static str, Resources)> {
    let total = total(nodes);
    SHARES
        .iter()
        .map(|&(ns, percent)| (ns, share(total, percent)))
        .collect()
}

/// The default request a LimitRange gives a container without one: a tenth of the
/// quota, at most 100m / 128Mi, at least 10m / 16Mi (so it is never zero).
pub fn default_request(quota: Resources) -> Resources {
    Resources {
        cpu_millis: (quota.cpu_millis / 10).clamp(10, 100),
        memory_bytes: ((quota.memory_bytes / 10) / MIB * MIB).clamp(16 * MIB, 128 * MIB),
    }
}

/// The default limit: four times the request for CPU, twice for memory.
pub fn default_limit(request: Resources) -> Resources {
    Resources {
        cpu_millis: request.cpu_millis.saturating_mul(4),
        memory_bytes: request.memory_bytes.saturating_mul(2),
    }
}

/// `1234m`.
pub fn cpu_text(millis: u64) -> String {
    format!("{millis}m")
}

/// `512Mi` (rounded down to whole MiB).
pub fn memory_text(bytes: u64) -> String {
    format!("{}Mi", bytes / MIB)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nodes(n: &[(u64, u64)]) -> Vec<NodeCapacity> {
        n.iter()
            .enumerate()
            .map(|(i, &(cpu_millis, memory_bytes))| NodeCapacity {
                name: format!("app-{i}"),
                cpu_millis,
                memory_bytes,
            })
            .collect()
    }

    #[test]
    fn two_cpx22_nodes_split_50_40_10() {
        let q = quotas(&nodes(&[(2000, 3_900_000_000), (2000, 3_900_000_000)]));
        assert_eq!(
            q[0],
            (
                "ingestion",
                Resources {
                    cpu_millis: 2000,
                    memory_bytes: 3719 * MIB
                }
            )
        );
        assert_eq!(
            q[1],
            (
                "strategies",
                Resources {
                    cpu_millis: 1600,
                    memory_bytes: 2975 * MIB
                }
            )
        );
        assert_eq!(
            q[2],
            (
                "monitoring",
                Resources {
                    cpu_millis: 400,
                    memory_bytes: 743 * MIB
                }
            )
        );
    }

    #[test]
    fn no_app_nodes_means_zero_quotas() {
        for (_, r) in quotas(&[]) {
            assert_eq!(r, Resources::default());
        }
    }

    fn resources() -> impl Strategy<Value = Resources> {
        (any::<u64>(), any::<u64>()).prop_map(|(cpu_millis, memory_bytes)| Resources {
            cpu_millis,
            memory_bytes,
        })
    }

    proptest! {
        #[test]
        fn shares_never_exceed_the_total_and_sum_to_at_most_it(total in resources()) {
            let mut cpu = 0u128;
            let mut mem = 0u128;
            for (_, p) in SHARES {
                let s = share(total, p);
                prop_assert!(s.cpu_millis <= total.cpu_millis && s.memory_bytes <= total.memory_bytes);
                cpu += u128::from(s.cpu_millis);
                mem += u128::from(s.memory_bytes);
            }
            prop_assert!(cpu <= u128::from(total.cpu_millis));
            prop_assert!(mem <= u128::from(total.memory_bytes));
        }

        #[test]
        fn shares_grow_with_the_total(a in resources(), b in resources(), p in 0u64..=100) {
            let (lo, hi) = (
                Resources { cpu_millis: a.cpu_millis.min(b.cpu_millis), memory_bytes: a.memory_bytes.min(b.memory_bytes) },
                Resources { cpu_millis: a.cpu_millis.max(b.cpu_millis), memory_bytes: a.memory_bytes.max(b.memory_bytes) },
            );
            let (s, t) = (share(lo, p), share(hi, p));
            prop_assert!(s.cpu_millis <= t.cpu_millis && s.memory_bytes <= t.memory_bytes);
        }

        #[test]
        fn shares_round_down(total in resources(), p in 0u64..=100) {
            let s = share(total, p);
            let exact_cpu = u128::from(total.cpu_millis) * u128::from(p);
            prop_assert!(u128::from(s.cpu_millis) * 100 <= exact_cpu);
            prop_assert!(exact_cpu < (u128::from(s.cpu_millis) + 1) * 100);
            let exact_mem = u128::from(total.memory_bytes) * u128::from(p);
            prop_assert!(u128::from(s.memory_bytes) * 100 <= exact_mem);
            prop_assert!(exact_mem < (u128::from(s.memory_bytes) + u128::from(MIB)) * 100);
            prop_assert_eq!(s.memory_bytes % MIB, 0);
        }

        #[test]
        fn summing_nodes_saturates(cpus in proptest::collection::vec(any::<u64>(), 0..5)) {
            let n = nodes(&cpus.iter().map(|&c| (c, c)).collect::<Vec<_>>());
            let t = total(&n);
            let exact: u128 = cpus.iter().map(|&c| u128::from(c)).sum();
            prop_assert_eq!(u128::from(t.cpu_millis), exact.min(u128::from(u64::MAX)));
        }

        #[test]
        fn limit_range_defaults_are_never_zero_and_limits_cover_requests(q in resources()) {
            let r = default_request(q);
            let l = default_limit(r);
            prop_assert!(r.cpu_millis >= 10 && r.memory_bytes >= 16 * MIB);
            prop_assert!(l.cpu_millis >= r.cpu_millis && l.memory_bytes >= r.memory_bytes);
        }
    }
}
