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
    /// Secret in `argocd` holding private repository credentials (created by the user,
    /// labelled `argocd.argoproj.io/secret-type: repository`); `None` for a public repository.
    pub repo_secret: Option<String>,
    /// Take over fields another field manager owns (server-side apply `force`).
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            repo_url: "https://github.com/example/trading-gitops.git".into(),
            path: "apps".into(),
            target_revision: "main".into(),
            repo_secret: None,
            force: false,
        }
    }
}
