//! ResourceQuotas (50 / 40 / 10 % of the app nodes' requests) and LimitRanges whose
//! defaults let pods without requests still be admitted under the quota.

use serde_json::{Value, json};

use super::{metadata, object};
use crate::facts::Facts;
use crate::quota::{self, cpu_text, memory_text};

pub(super) fn render(facts: &Facts) -> Vec<Value> {
    let mut quotas = Vec::new();
    let mut limits = Vec::new();
    for (ns, share) in quota::quotas(&facts.app_nodes) {
        // Requests only: requests are what the scheduler reserves, so they are what the
        // shares divide. Limits are left to the LimitRange defaults so bursts can use idle
        // CPU.
        quotas.push(object(
            "v1",
            "ResourceQuota",
            metadata(facts, "k3strading-share", Some(ns), &[]),
            json!({
                "spec": {
                    "hard": {
                        "requests.cpu": cpu_text(share.cpu_millis),
                        "requests.memory": memory_text(share.memory_bytes),
                    },
                },
            }),
        ));
        let request = quota::default_request(share);
        let limit = quota::default_limit(request);
        limits.push(object(
            "v1",
            "LimitRange",
            metadata(facts, "k3strading-defaults", Some(ns), &[]),
            json!({
                "spec": {
                    "limits": [{
                        "type": "Container",
                        "defaultRequest": {
                            "cpu": cpu_text(request.cpu_millis),
                            "memory": memory_text(request.memory_bytes),
                        },
                        "default": {
                            "cpu": cpu_text(limit.cpu_millis),
                            "memory": memory_text(limit.memory_bytes),
                        },
                    }],
                },
            }),
        ));
    }
    quotas.extend(limits);
    quotas
}
