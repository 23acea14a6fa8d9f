//! ArgoCD's root Application (app of apps).

use serde_json::{Value, json};

use super::{metadata, object};
use crate::facts::Facts;
use crate::options::Options;

/// The Secret holding the root repository's credentials.
pub const REPO_SECRET: &str = "root-repo";

/// The repository Secret, when `opts` has credentials: ArgoCD matches it to the
/// Application by `url`. Its password is a secret: `--render` files show it
/// only if the caller put it in `opts`.
pub(super) fn repo_secret(facts: &Facts, opts: &Options) -> Option<Value> {
    let creds = opts.repo_credentials.as_ref()?;
    Some(object(
        "v1",
        "Secret",
        metadata(
            facts,
            REPO_SECRET,
            Some("argocd"),
            &[("argocd.argoproj.io/secret-type", "repository")],
        ),
        json!({
            "type": "Opaque",
            "stringData": {
                "type": "git",
                "url": opts.repo_url,
                "username": creds.username,
                "password": creds.password.expose(),
            },
        }),
    ))
}

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
