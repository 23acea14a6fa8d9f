//! A real OpenSSH server per test: own config, own host key, random loopback port.

use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k3s::{Auth, KeyPair, Target};

const SSHD: &str = "/usr/sbin/sshd";

/// Whether a real sshd can run here; prints why not, and fails under CI.
pub fn available() -> bool {
    let root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let why = if !Path::new(SSHD).exists() {
        "Debian openssh-server is not installed (/usr/sbin/sshd)"
    } else if !root {
        "sshd tests need root"
    } else {
        return true;
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must run the SSH tests: {why}"
    );
    eprintln!("SKIP: {why}");
    false
}

/// A free TCP port on 127.0.0.1 (free when asked; tests start sshd right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Files for one sshd: host key, authorized key, login key, config.
pub struct SshdFiles {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub host_key: KeyPair,
    pub login: KeyPair,
}

/// A running sshd, killed on drop.
pub struct Sshd {
    pub files: SshdFiles,
    child: Child,
}

impl SshdFiles {
    pub fn new() -> Self {
        Self::with_login(KeyPair::generate("login").unwrap())
    }

    pub fn with_login(login: KeyPair) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host_key = KeyPair::generate("host").unwrap();
        let port = free_port();
        let key_path = dir.path().join("host_key");
        fs::write(&key_path, host_key.private_openssh().expose()).unwrap();
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(
            dir.path().join("authorized_keys"),
            format!("{}\n", login.public_openssh()),
        )
        .unwrap();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowTcpForwarding yes\nLogLevel VERBOSE\n",
            key = key_path.display(),
            dir = dir.path().display(),
        );
        fs::write(dir.path().join("sshd_config"), config).unwrap();
        Self {
            dir,
            port,
            host_key,
            login,
        }
    }

    /// Puts a line first in sshd_config (sshd keeps the first value it reads).
    pub fn extra(self, line: &str) -> Self {
        let path = self.dir.path().join("sshd_config");
        let config = fs::read_to_string(&path).unwrap();
        fs::write(&path, format!("{line}\n{config}")).unwrap();
        self
    }

    pub fn target(&self) -> Target {
        Target::new("127.0.0.1", self.port, self.host_key.public_openssh())
    }

    pub fn auth(&self) -> Auth {
        Auth::PrivateKey(self.login.private_openssh().clone())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("sshd.log")
    }

    /// Starts sshd and waits (bounded) until it accepts TCP connections.
    pub fn start(self) -> Sshd {
        // Debian's sshd refuses to start without its privilege separation directory.
        fs::create_dir_all("/run/sshd").unwrap();
        let log = fs::File::create(self.log_path()).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut sshd = Sshd { files: self, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", sshd.files.port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited with {status}: {}", sshd.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen within 20 s: {}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }
}

impl Sshd {
    pub fn log(&self) -> String {
        fs::read_to_string(self.files.log_path()).unwrap_or_default()
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a private key where OpenSSH tools accept it (mode 0600).
pub fn write_private_key(dir: &Path, name: &str, pair: &KeyPair) -> PathBuf {
    let path = dir.join(name);
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode_0600()
        .open(&path)
        .unwrap();
    f.write_all(pair.private_openssh().expose().as_bytes())
        .unwrap();
    path
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}
