//! Running `cargo`: the benches' build, then each bench, each under a time limit, with progress.

use multiproc_signal::{kill, Pid, Signal};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

/// The pids of `pid`'s descendants (from `/proc/<pid>/stat`'s parent field), children before
/// their own children.
fn descendants(pid: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // After the command (which may hold spaces and parentheses): state, then ppid.
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((p, ppid));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Runs `command` (its output going to ours) for at most `limit`. Past the limit it kills the
/// command and everything it started, by pid (the command first, so it starts nothing more),
/// and says so.
///
/// # Errors
///
/// If the command cannot start, fails, or runs out of time.
pub fn run_limited(mut command: Command, what: &str, limit: Duration) -> Result<(), String> {
    let mut child = command
        .spawn()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let pid = child.id() as i32;
    let (done, finished) = mpsc::channel::<std::io::Result<ExitStatus>>();
    let waiter = std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match finished.recv_timeout(limit) {
        Ok(status) => status,
        Err(_) => {
            // Descendants first found, then the command stopped, then them: whatever starts in
            // between is found by a second look.
            for round in 0..2 {
                let tree = descendants(pid);
                if round == 0 {
                    let _ = kill(Pid::from_raw(pid), Signal::Kill);
                }
                for p in tree {
                    let _ = kill(Pid::from_raw(p), Signal::Kill);
                }
            }
            let _ = finished.recv();
            let _ = waiter.join();
            return Err(format!(
                "{what}: still running after {}: killed",
                super::machine::elapsed(limit.as_secs_f64())
            ));
        }
    };
    let _ = waiter.join();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what}: failed ({s})")),
        Err(e) => Err(format!("{what}: cannot wait for it: {e}")),
    }
}

/// `cargo <args>` in `root`, with `envs`, under `limit`.
///
/// # Errors
///
/// As [`run_limited`].
pub fn cargo(
    root: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
    limit: Duration,
) -> Result<(), String> {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root).args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    run_limited(command, &format!("cargo {}", args.join(" ")), limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_past_its_limit_is_killed_with_its_children() {
        // A shell that starts a child and waits: both must go.
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & wait"]);
        let start = std::time::Instant::now();
        let err = run_limited(command, "sh", Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("killed"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
        let mut ok = Command::new("sh");
        ok.args(["-c", "exit 0"]);
        assert!(run_limited(ok, "sh", Duration::from_secs(30)).is_ok());
        let mut bad = Command::new("sh");
        bad.args(["-c", "exit 3"]);
        assert!(run_limited(bad, "sh", Duration::from_secs(30))
            .unwrap_err()
            .contains("failed"));
    }

    #[test]
    fn descendants_are_found() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // The shell's child appears once the shell has forked it.
        multiproc_internal::testing::wait_until("the shell's child", || {
            !descendants(pid).is_empty()
        });
        for p in descendants(pid) {
            kill(Pid::from_raw(p), Signal::Kill).unwrap();
        }
        kill(Pid::from_raw(pid), Signal::Kill).unwrap();
        child.wait().unwrap();
    }
}
