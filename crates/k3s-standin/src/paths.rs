//! Where K3s keeps its files, optionally below a test root.

use std::path::{Path, PathBuf};

/// The default config file of K3s.
pub const CONFIG_FILE: &str = "/etc/rancher/k3s/config.yaml";
/// The kubeconfig the server writes.
pub const KUBECONFIG_FILE: &str = "/etc/rancher/k3s/k3s.yaml";
/// K3s's default data directory.
pub const DATA_DIR: &str = "/var/lib/rancher/k3s";

/// The fixed K3s locations. `root` prefixes them so that tests can run
/// unprivileged in a temporary directory; paths a user writes into the
/// config (token-file, --config, data-dir) are taken as written.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
    data_dir: PathBuf,
}

impl Paths {
    /// Locations below `root` ("/" on a real machine); `data_dir` overrides
    /// the data directory as written.
    pub fn new(root: PathBuf, data_dir: Option<PathBuf>) -> Self {
        let data_dir = data_dir.unwrap_or_else(|| rooted(&root, DATA_DIR));
        Self { root, data_dir }
    }

    /// The default config.yaml.
    pub fn config_file(&self) -> PathBuf {
        rooted(&self.root, CONFIG_FILE)
    }

    /// /etc/rancher/k3s/k3s.yaml.
    pub fn kubeconfig(&self) -> PathBuf {
        rooted(&self.root, KUBECONFIG_FILE)
    }

    /// <data-dir>/server/token, the secure join token.
    pub fn token(&self) -> PathBuf {
        self.data_dir.join("server").join("token")
    }

    /// <data-dir>/agent/server-ca.crt, the CA an agent pinned.
    pub fn agent_ca(&self) -> PathBuf {
        self.data_dir.join("agent").join("server-ca.crt")
    }

    /// <data-dir>/server/db/nodes.json, the stand-in's datastore.
    pub fn nodes_db(&self) -> PathBuf {
        self.data_dir.join("server").join("db").join("nodes.json")
    }

    /// `<data-dir>/server/db/objects.json`: every object but nodes.
    pub fn objects_db(&self) -> PathBuf {
        self.nodes_db().with_file_name("objects.json")
    }

    /// <data-dir>/server/tls, the CAs and certificates.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("server").join("tls")
    }
}

fn rooted(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

/// Writes `contents` with `mode`, creating parent directories; the mode is set
/// before any byte is written so secrets are never readable by others.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), crate::Error> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| crate::Error::io("create", parent, e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| crate::Error::io("write", path, e))?;
    // An existing file keeps its old mode on open; force the wanted one.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| crate::Error::io("chmod", path, e))?;
    file.write_all(contents)
        .map_err(|e| crate::Error::io("write", path, e))
}

/// Reads a file to a string.
pub fn read_file(path: &Path) -> Result<String, crate::Error> {
    std::fs::read_to_string(path).map_err(|e| crate::Error::io("read", path, e))
}
