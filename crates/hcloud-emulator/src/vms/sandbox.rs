//! A VM's disk (overlay upper layers plus a root home, seeded from
//! cloud-init at first boot) and its process tree (`unshare` → init → sshd).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::cloud_init::{self, Seed};
use super::cmd::{VmError, io, run};

/// Host folders each VM sees through a copy-on-write overlay.
pub const OVERLAY_ROOTS: [&str; 6] = ["etc", "usr", "var", "opt", "home", "srv"];

const INIT: &str = include_str!("init.sh");
const SYSTEMCTL: &str = include_str!("systemctl.sh");
const SYSCTL: &str = include_str!("sysctl.sh");
const JOURNALCTL: &str = include_str!("journalctl.sh");

/// The STAND-IN tools every VM gets: (path inside the VM, script).
pub const STANDINS: [(&str, &str); 3] = [
    ("usr/bin/systemctl", SYSTEMCTL),
    // Debian's procps puts sysctl here (/sbin is a link to /usr/sbin).
    ("usr/sbin/sysctl", SYSCTL),
    ("usr/bin/journalctl", JOURNALCTL),
];

/// Where VMs find the stand-in internet, and what all VMs of a run share.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Surroundings {
    /// The stand-in internet: its address and the test CA (PEM).
    pub inet: Option<(std::net::Ipv4Addr, String)>,
    /// Content of `/etc/default/k3s-standin` (K3s STAND-IN delays), if any.
    pub k3s_standin_env: Option<String>,
    /// The host's schemas directory, bind-mounted read-only at
    /// [`crate::inet::SCHEMAS_IN_VM`] (the host's /tmp and /run are out of a
    /// VM's sight, so a path there would not do).
    pub schemas: Option<std::path::PathBuf>,
}

/// The CA bundle Debian's curl and OpenSSL read.
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Everything first boot needs to know about a server.
#[derive(Debug, Clone, PartialEq)]
pub struct BootSpec {
    /// Server name (hostname unless user data sets one).
    pub name: String,
    /// Cloud-init user data (secret: never logged).
    pub user_data: Option<String>,
    /// Public keys of the Hetzner SSH keys given at create.
    pub authorized_keys: Vec<String>,
}

fn mkdir(path: &Path, mode: u32) -> Result<(), VmError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(io(path))
}

fn write(path: &Path, bytes: &[u8], mode: u32, append: bool) -> Result<(), VmError> {
    if let Some(parent) = path.parent() {
        mkdir(parent, 0o755)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .append(append)
        .truncate(!append)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}

fn sshd_config(host_keys: &[String]) -> String {
    let mut c = String::from(
        "# Written by the local cloud at first boot. Drop-ins come first, as in\n\
         # Ubuntu's image (sshd keeps the first value it reads of a setting).\n\
         Include /etc/ssh/sshd_config.d/*.conf\nPort 22\nListenAddress 0.0.0.0\n",
    );
    for k in host_keys {
        c.push_str(&format!("HostKey /etc/ssh/{k}\n"));
    }
    c.push_str(
        "PidFile /run/sshd.pid\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
         AuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nUsePAM no\nAllowTcpForwarding yes\nX11Forwarding no\n\
         PrintMotd no\nSubsystem sftp /usr/lib/openssh/sftp-server\n",
    );
    c
}

/// Creates the VM's disk at `dir` and applies cloud-init; returns the
/// hostname to boot with.
pub async fn first_boot(
    dir: &Path,
    spec: &BootSpec,
    around: &Surroundings,
) -> Result<String, VmError> {
    let bad = |reason: String| VmError::UserData {
        server: spec.name.clone(),
        reason,
    };
    let seed: Seed = cloud_init::parse(spec.user_data.as_deref()).map_err(bad)?;
    mkdir(dir, 0o700)?;
    for top in OVERLAY_ROOTS {
        mkdir(&dir.join("upper").join(top), 0o755)?;
        mkdir(&dir.join("work").join(top), 0o700)?;
    }
    mkdir(&dir.join("root/.ssh"), 0o700)?;
    let hostname = match &seed.config.hostname {
        Some(h) if crate::http::valid_hostname(h) => h.clone(),
        Some(_) => return Err(bad("hostname is not a valid hostname".into())),
        None => spec.name.clone(),
    };
    let ssh = dir.join("upper/etc/ssh");
    let mut keys = cloud_init::host_keys(&seed);
    if keys.is_empty() {
        mkdir(&ssh, 0o755)?;
        let file = ssh.join("ssh_host_ed25519_key");
        let f = file.to_string_lossy().into_owned();
        run(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-C", &hostname, "-f", &f],
        )
        .await?;
        keys.push(("ssh_host_ed25519_key".into(), String::new()));
    } else {
        for (file, content) in &keys {
            let mode = if file.ends_with(".pub") { 0o644 } else { 0o600 };
            write(&ssh.join(file), content.as_bytes(), mode, false)?;
        }
    }
    // The host's own host keys must not show through the overlay.
    if let Ok(entries) = fs::read_dir("/etc/ssh") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = keys
                .iter()
                .any(|(k, _)| *k == name || format!("{k}.pub") == name);
            if name.starts_with("ssh_host_") && !ours {
                let p = ssh.join(&name).to_string_lossy().into_owned();
                run("mknod", &[&p, "c", "0", "0"]).await?;
            }
        }
    }
    let private: Vec<String> = keys
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !k.ends_with(".pub"))
        .collect();
    write(
        &ssh.join("sshd_config"),
        sshd_config(&private).as_bytes(),
        0o644,
        false,
    )?;
    let etc = dir.join("upper/etc");
    write(
        &etc.join("hostname"),
        format!("{hostname}\n").as_bytes(),
        0o644,
        false,
    )?;
    let mut hosts = format!("127.0.0.1 localhost\n127.0.1.1 {hostname}\n::1 localhost\n");
    if let Some((addr, ca)) = &around.inet {
        // The stand-in for DNS: these names resolve to the stand-in internet.
        hosts.push_str(&format!(
            "# STAND-IN internet of the local cloud (no DNS here)\n{addr} {}\n",
            crate::inet::HOSTS.join(" ")
        ));
        // The host's bundle plus the run's test CA, so curl verifies TLS.
        let mut bundle = fs::read("/".to_owned() + CA_BUNDLE).unwrap_or_default();
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(ca.as_bytes());
        write(&dir.join("upper").join(CA_BUNDLE), &bundle, 0o644, false)?;
    }
    write(&etc.join("hosts"), hosts.as_bytes(), 0o644, false)?;
    if let Some(src) = &around.schemas {
        let target = crate::inet::SCHEMAS_IN_VM.trim_start_matches('/');
        mkdir(&dir.join("upper").join(target), 0o755)?;
        write(
            &dir.join("schemas"),
            src.to_string_lossy().as_bytes(),
            0o600,
            false,
        )?;
    }
    if let Some(env) = &around.k3s_standin_env {
        write(
            &etc.join("default/k3s-standin"),
            env.as_bytes(),
            0o644,
            false,
        )?;
    }
    let mut authorized: Vec<String> = spec.authorized_keys.clone();
    authorized.extend(seed.config.ssh_authorized_keys.iter().cloned());
    let mut ak = authorized.join("\n");
    ak.push('\n');
    write(
        &dir.join("root/.ssh/authorized_keys"),
        ak.as_bytes(),
        0o600,
        false,
    )?;
    for (path, script) in STANDINS {
        write(
            &dir.join("upper").join(path),
            script.as_bytes(),
            0o755,
            false,
        )?;
    }
    for f in &seed.config.write_files {
        let target = cloud_init::disk_path(dir, &f.path).ok_or_else(|| {
            bad(format!("write_files {}: only absolute paths below /etc /usr /var /opt /home /srv /root are supported", f.path))
        })?;
        let (bytes, mode) = cloud_init::file_content(f).map_err(bad)?;
        write(&target, &bytes, mode, f.append)?;
    }
    if let Some(script) = cloud_init::runcmd_script(&seed) {
        let p = dir.join("upper/var/lib/cloud/instance/scripts/runcmd");
        write(&p, script.as_bytes(), 0o700, false)?;
    }
    write(&dir.join("init.sh"), INIT.as_bytes(), 0o700, false)?;
    write(&dir.join("hostname"), hostname.as_bytes(), 0o600, false)?;
    Ok(hostname)
}

/// The hostname a disk was first booted with.
pub fn hostname(dir: &Path) -> Result<String, VmError> {
    let p = dir.join("hostname");
    fs::read_to_string(&p).map_err(io(p))
}

/// Starts the VM's process tree in network namespace `ns`. Killing the
/// returned child (the `unshare`) kills every process of the VM, and its
/// mounts go with its mount namespace.
pub fn launch(dir: &Path, ns: &str, hostname: &str) -> Result<Child, VmError> {
    let console = dir.join("console.log");
    let log = fs::File::create(&console).map_err(io(&console))?;
    let err = log.try_clone().map_err(io(&console))?;
    let init: PathBuf = dir.join("init.sh");
    Command::new("ip")
        .args([
            "netns", "exec", ns, "unshare", "--mount", "--uts", "--ipc", "--pid",
        ])
        .args([
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--propagation",
            "private",
        ])
        .arg("/bin/bash")
        .arg(&init)
        .arg(dir)
        .arg(hostname)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| VmError::Spawn {
            program: "ip netns exec … unshare".into(),
            source,
        })
}

/// Stops a VM: SIGKILL to `unshare` takes the VM's PID 1 (and so the whole
/// PID namespace) with it.
pub async fn stop(child: &mut Child) {
    let _ = child.start_kill();
    let _ = tokio::time::timeout(super::cmd::DEADLINE, child.wait()).await;
}
