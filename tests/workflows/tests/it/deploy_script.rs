//! scripts/deploy.sh without a cloud: argument checks, and the login key on
//! stdin only, with stand-ins for terraform and k3strading.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k3strading_workflow_tests::repo_root;

const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----not-a-real-key";

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("deploy-sh-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes an executable shell script.
    fn tool(&self, name: &str, body: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn deploy(args: &[&str], terraform: &Path, k3strading: &Path, extra: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/deploy.sh"))
        .args(args)
        .current_dir(repo_root())
        .env("TERRAFORM", terraform)
        .env("K3STRADING", k3strading)
        .env_remove("K3STRADING_SSH_PRIVATE_KEY")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("K3STRADING_TF_DEV_OVERRIDES");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn rejects_an_invalid_environment_before_running_anything() {
    let false_ = Path::new("/bin/false");
    for env in [
        "",
        "Prod",
        "-dev",
        "dev-",
        "dev_1",
        "a.b",
        "dev;id",
        "abcdefghijklmnopqrstuvw",
    ] {
        for action in ["create", "destroy"] {
            let out = deploy(&[action, env], false_, false_, &[]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{action} {env:?}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains("invalid environment"),
                "{action} {env:?}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn rejects_an_unknown_action_and_a_wrong_argument_count() {
    let false_ = Path::new("/bin/false");
    let out = deploy(&["apply", "dev"], false_, false_, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown action 'apply'"),
        "{}",
        stderr(&out)
    );
    for args in [&[][..], &["create"][..], &["create", "dev", "extra"][..]] {
        let out = deploy(args, false_, false_, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("usage:"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn accepts_the_longest_valid_environment_and_stops_at_the_first_failing_tool() {
    let false_ = Path::new("/bin/false");
    // 22 characters: passes the check, then `terraform init` (/bin/false) fails.
    let out = deploy(&["create", "abcdefghijklmnopqrstuv"], false_, false_, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = deploy(&["destroy", "prod"], false_, false_, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn create_pipes_the_key_on_stdin_and_writes_a_summary() {
    let dir = Scratch::new("create");
    let log = dir.0.join("calls.log");
    let terraform = dir.tool(
        "terraform",
        &format!(
            r#"echo "terraform $*" >> "{log}"
case "$*" in
  *"output -raw ssh_private_key") printf '%s\n' '{KEY}' ;;
  *"output -raw control_plane_ipv4") printf 203.0.113.10 ;;
  *"output -raw kafka_ip") printf 203.0.113.20 ;;
esac"#,
            log = log.display()
        ),
    );
    let k3strading = dir.tool(
        "k3strading",
        &format!(
            r#"echo "k3strading $* | stdin: $(cat)" >> "{log}"
echo "| PHASE | $1 |""#,
            log = log.display()
        ),
    );
    let summary = dir.0.join("summary.md");
    let out = deploy(
        &["create", "dev"],
        &terraform,
        &k3strading,
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let calls = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines[0], "terraform -chdir=terraform init -input=false");
    assert_eq!(
        lines[1],
        "terraform -chdir=terraform apply -input=false -auto-approve -parallelism=64 -var env=dev"
    );
    for sub in ["bootstrap", "status"] {
        let call = lines
            .iter()
            .find(|l| l.starts_with(&format!("k3strading {sub} ")))
            .unwrap_or_else(|| panic!("k3strading {sub} ran:\n{calls}"));
        let (argv, stdin) = call.split_once(" | stdin: ").unwrap();
        assert_eq!(
            argv,
            format!("k3strading {sub} --cluster k3s-trading-dev --ssh-key -")
        );
        assert_eq!(stdin, KEY, "the key arrives on stdin");
    }
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        !printed.contains("not-a-real-key"),
        "the key is never printed:\n{printed}"
    );

    let summary = fs::read_to_string(&summary).unwrap();
    for expected in [
        "k3s-trading-dev",
        "203.0.113.10",
        "203.0.113.20",
        "| PHASE | bootstrap |",
        "| PHASE | status |",
    ] {
        assert!(
            summary.contains(expected),
            "summary lacks {expected:?}:\n{summary}"
        );
    }
    assert!(!summary.contains("not-a-real-key"));
}

#[test]
fn dev_overrides_skip_init_and_an_env_key_is_not_piped() {
    let dir = Scratch::new("overrides");
    let log = dir.0.join("calls.log");
    let terraform = dir.tool(
        "terraform",
        &format!(r#"echo "terraform $*" >> "{}""#, log.display()),
    );
    let k3strading = dir.tool(
        "k3strading",
        &format!(
            r#"echo "k3strading $* | stdin: $(cat)" >> "{}""#,
            log.display()
        ),
    );
    let one = Path::new("1");
    let out = deploy(
        &["create", "prod"],
        &terraform,
        &k3strading,
        &[
            ("K3STRADING_TF_DEV_OVERRIDES", one),
            ("K3STRADING_SSH_PRIVATE_KEY", Path::new(KEY)),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        !calls.contains(" init "),
        "no init with dev_overrides:\n{calls}"
    );
    assert!(
        !calls.contains("ssh_private_key"),
        "the key comes from the environment:\n{calls}"
    );
    assert!(
        calls.contains("k3strading bootstrap --cluster k3s-trading-prod | stdin: \n"),
        "{calls}"
    );
}

#[test]
fn destroy_is_a_stateless_teardown() {
    let dir = Scratch::new("destroy");
    let log = dir.0.join("calls.log");
    let k3strading = dir.tool(
        "k3strading",
        &format!(r#"echo "k3strading $*" >> "{}""#, log.display()),
    );
    let out = deploy(
        &["destroy", "prod"],
        Path::new("/bin/false"),
        &k3strading,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "k3strading teardown --cluster k3s-trading-prod --yes\n"
    );
}
