//! ArgoCD's root Application (app of apps).

use serde_json::{Value, json};

use super::{metadata, object};
use crate::facts::Facts;
use crate::options::Options;

/// The root Application's name.
pub const ROOT_APP: &str = "root";

/// Points at `opts`' repository; prunes and self-heals. A private repository's credentials
/// are found by ArgoCD itself: a Secret in `argocd` labelled
/// `argocd.argoproj.io/secret-type: repository` whose `url` equals the repository URL.
pub(super) fn render(facts: &Facts, opts: &Options) -> Value {
    object(
        "argoproj.io/v1alpha1",
        "Application",
        metadata(facts, ROOT_APP, Some("argocd"), &[]),
        json!({
            "spec": {
                "project": "default",
                "source": {
                    "repoURL": opts.repo_url,
                    "path": opts.path,
                    "targetRevision": opts.target_revision,
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
                "syncPolicy": {
                    "automated": {"prune": true, "selfHeal": true},
                    "syncOptions": ["ServerSideApply=true"],
                },
            },
        }),
    )
}
