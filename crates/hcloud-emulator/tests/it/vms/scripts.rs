//! The VM stand-ins and the stand-in K3s installer pass shellcheck (no root
//! needed; skipped without Debian's shellcheck, failing with `CI=true`).

use std::path::Path;
use std::process::Command;

#[test]
fn stand_in_scripts_pass_shellcheck() {
    let shellcheck = Path::new("/usr/bin/shellcheck");
    if !shellcheck.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: Debian's shellcheck is required"
        );
        eprintln!("skipped: Debian's shellcheck is not installed");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (file, shell) in [
        ("inet/install.sh", "sh"),
        ("vms/sysctl.sh", "bash"),
        ("vms/journalctl.sh", "bash"),
        ("vms/systemctl.sh", "bash"),
        ("vms/init.sh", "bash"),
    ] {
        let out = Command::new(shellcheck)
            .args(["-s", shell])
            .arg(src.join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
