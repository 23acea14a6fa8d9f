//! Choices the user makes: where ArgoCD's root Application points.

/// Options for rendering and applying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Git repository of the root Application.
    pub repo_url: String,
    /// Directory in it.
    pub path: String,
    /// Branch, tag or commit.
    pub target_revision: String,
    /// Credentials for a private repository; `None` for a public one. They become the
    /// Secret `argocd/root-repo`, labelled so that ArgoCD uses it for `repo_url`.
    pub repo_credentials: Option<RepoCredentials>,
    /// Take over fields another field manager owns (server-side apply `force`).
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            repo_url: "https://github.com/example/trading-gitops.git".into(),
            path: "apps".into(),
            target_revision: "main".into(),
            repo_credentials: None,
            force: false,
        }
    }
}

/// A private Git repository's login (e.g. a GitHub user and a fine-grained token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCredentials {
    /// User name.
    pub username: String,
    /// Password or token; its `Debug` is redacted.
    pub password: k3strading_cluster::k3s::Secret,
}
