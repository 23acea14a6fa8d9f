//! The processes a Terraform command starts, found by parentage under
//! `/proc`, so a test can signal the provider of one run and nothing else.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::Run;

/// The parent of `pid`, from `/proc/<pid>/stat`.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'. They are: state, ppid, ...
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Direct children of `pid`. Uses `/proc/<pid>/task/*/children` where the
/// kernel offers it, else every process's parent.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let tasks = format!("/proc/{pid}/task");
    let mut listed = false;
    if let Ok(entries) = std::fs::read_dir(&tasks) {
        for task in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                listed = true;
                out.extend(
                    text.split_whitespace()
                        .filter_map(|s| s.parse::<u32>().ok()),
                );
            }
        }
    }
    if !listed {
        out = all_pids()
            .into_iter()
            .filter(|p| parent_of(*p) == Some(pid))
            .collect();
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Children, grandchildren and so on of `pid`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            if !out.contains(&c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// The file name of the program `pid` was started as (`argv[0]`).
pub fn program(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|b| *b == 0).next()?;
    let argv0 = String::from_utf8_lossy(argv0);
    Path::new(argv0.as_ref())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// Sends `signal` (e.g. `KILL`, `INT`) to `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -s {signal} {pid} failed: {status}");
    }
    Ok(())
}

/// A Terraform command running in the background; its output is collected
/// as it comes, so a chatty run never blocks on a full pipe.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    started: Instant,
}

fn drain(from: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    from.map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            // A read error ends the capture; what was read so far is kept.
            let _ = r.read_to_end(&mut buf);
            buf
        })
    })
}

impl Running {
    pub(crate) fn new(mut child: Child, started: Instant) -> Running {
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Running {
            child,
            stdout,
            stderr,
            started,
        }
    }

    /// The Terraform process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Live processes below Terraform started as `name` (e.g.
    /// `terraform-provider-k3strading`).
    pub fn descendants_named(&self, name: &str) -> Vec<u32> {
        descendants(self.pid())
            .into_iter()
            .filter(|p| program(*p).as_deref() == Some(name))
            .collect()
    }

    /// True once Terraform has exited.
    pub fn finished(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    /// Waits for Terraform to exit and returns what it printed.
    pub fn wait(mut self) -> Result<Run> {
        let status = self.child.wait()?;
        let take = |h: Option<JoinHandle<Vec<u8>>>| {
            h.and_then(|h| h.join().ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        Ok(Run {
            code: status.code().unwrap_or(-1),
            stdout: take(self.stdout.take()),
            stderr: take(self.stderr.take()),
            elapsed: self.started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_found_by_parentage_and_named_by_its_program() {
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let me = std::process::id();
        let pid = sleeper.id();
        assert_eq!(parent_of(pid), Some(me));
        assert!(children(me).contains(&pid));
        assert!(descendants(me).contains(&pid));
        // Right after spawn the kernel may not show the new program yet.
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while program(pid).as_deref() != Some("sleep") {
            assert!(Instant::now() < deadline, "{:?}", program(pid));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        signal(pid, "KILL").unwrap();
        assert!(!sleeper.wait().unwrap().success());
    }
}
