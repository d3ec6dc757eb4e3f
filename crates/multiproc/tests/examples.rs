//! Runs every lesson example of this package and checks what it prints: the lines a Python
//! user would look for, with patterns where pids vary, and the order wherever the example's
//! synchronisation fixes it.
//!
//! The binaries are those in `target/<profile>/examples/`. `cargo test` builds them, but
//! `cargo test --test examples` alone does not: so that a stale binary is never tested, the
//! first test to need them runs `cargo build --examples` for this package (a no-op when
//! they are fresh), when run by cargo or nextest (`CARGO` set). Each example runs under a
//! watchdog, in a process group of its own: past the deadline that group (the example and
//! whatever it started) is killed and the test fails.

use multiproc::signal::kill_group;
use multiproc::{Pid, Signal};
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long one example may take (they take well under 2 s).
const DEADLINE: Duration = Duration::from_secs(30);
/// How long building the examples may take (the build lock may be held by another build).
const BUILD_DEADLINE: Duration = Duration::from_secs(900);

/// `target/<profile>`: this test binary is `target/<profile>/deps/examples-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps", exe.display()))
        .to_path_buf()
}

/// Starts `cmd` as the leader of a new process group (its pid is the group's id), so that
/// the watchdog can end it with everything it started.
fn spawn_in_own_group(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0).spawn()
}

/// Kills the process group that `spawn_in_own_group` made for `child` (the child, and its
/// descendants that stayed in the group), and reaps the child.
fn kill_group_of(child: &mut Child) {
    let _ = kill_group(Pid::from_raw(child.id() as i32), Signal::Kill);
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` until `deadline`; past it, kills its group and panics with `what`.
fn wait_with_deadline(child: &mut Child, deadline: Instant, what: &str) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let pid = child.id();
            kill_group_of(child);
            panic!("{what} (pid {pid}) still running at its deadline: killed");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Builds the examples once per test process (see the module docs).
fn build_examples() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let Some(cargo) = std::env::var_os("CARGO") else {
            return; // not run by cargo: use the binaries as they are
        };
        let dir = profile_dir();
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "multiproc", "--examples"]);
        // `cargo test` builds into `debug` with the `test` profile; use the same, so that
        // the two builds share their artifacts instead of rebuilding each other's.
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => cmd.args(["--profile", "test"]),
            Some("release") => cmd.arg("--release"),
            Some(other) => cmd.args(["--profile", other]),
            None => panic!("no profile directory in {}", dir.display()),
        };
        if let Some(target) = dir.parent() {
            cmd.arg("--target-dir").arg(target);
        }
        let mut child =
            spawn_in_own_group(cmd.stdin(Stdio::null())).expect("start cargo build --examples");
        let status = wait_with_deadline(
            &mut child,
            Instant::now() + BUILD_DEADLINE,
            "cargo build --examples",
        );
        assert!(status.success(), "cargo build --examples failed: {status}");
    });
}

/// Reads a pipe to its end in a thread; the text arrives on the channel.
fn read_all(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// What an example printed, and its pid.
struct Run {
    pid: u32,
    lines: Vec<String>,
}

/// Runs the example `name` under the watchdog; checks it exits with 0 and writes nothing to
/// stderr.
fn run(name: &str) -> Run {
    build_examples();
    let path = profile_dir().join("examples").join(name);
    assert!(
        path.is_file(),
        "the example binary {} is missing: build it with `cargo test -p multiproc` or \
         `cargo build -p multiproc --profile test --examples`",
        path.display()
    );
    let deadline = Instant::now() + DEADLINE;
    let mut child = spawn_in_own_group(
        Command::new(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
    let pid = child.id();
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let status = wait_with_deadline(&mut child, deadline, &format!("example {name}"));
    // The pipes close when every process holding them has ended: a child of the example
    // that outlived it (a daemon not ended at exit, a stray grandchild) keeps them open.
    let left = || deadline.saturating_duration_since(Instant::now());
    let (Ok(out), Ok(err)) = (stdout.recv_timeout(left()), stderr.recv_timeout(left())) else {
        let _ = kill_group(Pid::from_raw(pid as i32), Signal::Kill);
        panic!(
            "example {name}: its output is still open at the deadline: a process it started \
             outlived it (its process group was killed)"
        );
    };
    assert!(
        status.success(),
        "example {name} failed: {status}\n--- stdout\n{out}--- stderr\n{err}"
    );
    assert!(
        err.is_empty(),
        "example {name} wrote to stderr:\n{err}--- stdout\n{out}"
    );
    Run {
        pid,
        lines: out.lines().map(str::to_owned).collect(),
    }
}

/// Matches `line` against `pattern`, where `{n}` stands for a number (digits, maybe a
/// leading `-`) and `{*}` for any text; returns what they matched, in order.
fn capture(pattern: &str, line: &str) -> Option<Vec<String>> {
    fn go(p: &str, s: &str, caps: &mut Vec<String>) -> bool {
        if let Some(rest) = p.strip_prefix("{n}") {
            let sign = usize::from(s.starts_with('-'));
            let digits = s[sign..].bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return false;
            }
            // Numbers are greedy: "{n}" never stops inside a run of digits.
            caps.push(s[..sign + digits].to_owned());
            if go(rest, &s[sign + digits..], caps) {
                return true;
            }
            caps.pop();
            false
        } else if let Some(rest) = p.strip_prefix("{*}") {
            for (i, _) in s.char_indices().chain([(s.len(), ' ')]) {
                caps.push(s[..i].to_owned());
                if go(rest, &s[i..], caps) {
                    return true;
                }
                caps.pop();
            }
            false
        } else {
            let next = p.find('{').unwrap_or(p.len()).max(1.min(p.len()));
            let (lit, rest) = p.split_at(next);
            if lit.is_empty() {
                return s.is_empty();
            }
            s.strip_prefix(lit).is_some_and(|s| go(rest, s, caps))
        }
    }
    let mut caps = Vec::new();
    go(pattern, line, &mut caps).then_some(caps)
}

/// Checks that the output is exactly `patterns`, line by line; returns the captures of all
/// lines, in order.
fn expect_lines(run: &Run, patterns: &[&str]) -> Vec<String> {
    let shown = run.lines.join("\n");
    assert_eq!(
        run.lines.len(),
        patterns.len(),
        "expected {} lines, got {}:\n{shown}",
        patterns.len(),
        run.lines.len()
    );
    let mut caps = Vec::new();
    for (i, (line, pattern)) in run.lines.iter().zip(patterns).enumerate() {
        match capture(pattern, line) {
            Some(c) => caps.extend(c),
            None => panic!(
                "line {}: {line:?} does not match {pattern:?}\n{shown}",
                i + 1
            ),
        }
    }
    caps
}

/// Checks that `lines` are exactly `expected`, in any order.
fn expect_any_order(lines: &[String], expected: &[String], what: &str) {
    let got: Vec<&str> = {
        let mut v: Vec<&str> = lines.iter().map(String::as_str).collect();
        v.sort_unstable();
        v
    };
    let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want, "{what}");
}

/// Where `line` is in the output (it must be there once).
fn position(run: &Run, line: &str) -> usize {
    let at: Vec<usize> = (0..run.lines.len())
        .filter(|&i| run.lines[i] == line)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "{line:?} should be printed once:\n{}",
        run.lines.join("\n")
    );
    at[0]
}

#[test]
fn process_lifecycle() {
    let run = run("process_lifecycle");
    let caps = expect_lines(
        &run,
        &[
            "before start: name=Process-1 pid=None is_alive=false daemon=false exitcode=None",
            "after start: pid={n} is_alive=true in active_children()=true",
            "{n} is task (in the child, current_process().name = Process-1)",
            "{n} is task end",
            "after join: is_alive=false exitcode=0 (exited with code 0) in active_children()=false",
            "Process-2: exitcode=3",
            "daemon: name=Tarena daemon=true is_alive=true",
            "主",
        ],
    );
    // p.pid is the pid the child reports, and not the example's own.
    assert_eq!(caps[0], caps[1]);
    assert_eq!(caps[1], caps[2]);
    assert_ne!(caps[0], run.pid.to_string());
    // The daemon was ended at exit: `run` saw the example's stdout close.
}

#[test]
fn custom_process() {
    let run = run("custom_process");
    let caps = expect_lines(
        &run,
        &[
            "tick 1 every 2 s, in Process-1 (pid {n})",
            "tick 2 every 2 s, in Process-1 (pid {n})",
            "tick 3 every 2 s, in Process-1 (pid {n})",
            "Process-1: exited with code 0",
            "summer sent back the sum of 1..=100: 5050",
        ],
    );
    assert!(caps.iter().all(|pid| *pid == caps[0]), "{caps:?}");
    assert_ne!(caps[0], run.pid.to_string(), "run() ran in the parent");
}

#[test]
fn double_fork() {
    let run = run("double_fork");
    let caps = expect_lines(
        &run,
        &[
            "a child that ended, not yet waited for: state Z (a zombie)",
            "after join: gone=true",
            "first thing (the parent, pid {n})",
            "second thing (the grandchild, pid {n})",
            "the grandchild {n} was adopted: its parent is not us: true",
            "waitpid(-1, WNOHANG): no child processes: no zombie of ours",
        ],
    );
    assert_eq!(caps[0], run.pid.to_string());
    assert_ne!(caps[1], caps[0]);
    assert_eq!(caps[1], caps[2], "double_fork returned another pid");
}

#[test]
fn wait_waitpid() {
    let run = run("wait_waitpid");
    let caps = expect_lines(
        &run,
        &[
            "child process {n}",
            "wait(): pid {n} (the child: true), status: exited with code 2 (Python: status 512, WEXITSTATUS 2)",
            "waitpid(pid, WNOHANG): None: still running (Python: (0, 0))",
            "child done",
            "waitpid(pid, WNOHANG): pid {n} (the child: true), status: exited with code 3",
        ],
    );
    assert_eq!(caps[0], caps[1]);
    assert_ne!(caps[0], run.pid.to_string());
    assert_ne!(caps[2], run.pid.to_string());
}

#[test]
fn pool() {
    let run = run("pool");
    assert_eq!(run.lines.len(), 22, "{}", run.lines.join("\n"));
    // The workers print in any order ...
    let hellos: Vec<String> = (0..10).map(|i| format!("hello {i}")).collect();
    expect_any_order(&run.lines[..10], &hellos, "the workers' prints");
    // ... and the results come back in submission order.
    let done: Vec<String> = (0..10).map(|i| format!("hello {i} done")).collect();
    assert_eq!(run.lines[10..20], done[..]);
    assert_eq!(run.lines[20], "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    assert_eq!(run.lines[21], "144");
}

#[test]
fn pipes() {
    let run = run("pipes");
    expect_lines(
        &run,
        &[
            "parent got: hello from the child",
            "child got: [\"any\", \"rust\", \"data\"] 3",
            "got 0",
            "got 1",
            "got 4",
            "got 9",
            "got 16",
            "Disconnected (Python's EOFError): the writer closed its end",
        ],
    );
}

#[test]
fn producer_consumer() {
    let run = run("producer_consumer");
    let lines = &run.lines;
    assert_eq!(lines.len(), 13, "{}", lines.join("\n"));
    assert_eq!(lines[12], "主", "the main process prints last");
    let (mut made, mut eaten) = (Vec::new(), Vec::new());
    for line in &lines[..12] {
        if let Some(c) = capture("{*} 生产了 {*}", line) {
            made.push((c[0].clone(), c[1].clone()));
        } else if let Some(c) = capture("{*} 吃 {*}", line) {
            eaten.push((c[0].clone(), c[1].clone()));
        } else {
            panic!("unexpected line {line:?}");
        }
    }
    fn foods(food: &str) -> impl Iterator<Item = String> + '_ {
        (0..3).map(move |i| format!("{food}{i}"))
    }
    // Each producer made its three items, in order.
    for (name, food) in [("egon1", "包子"), ("egon2", "骨头")] {
        let mine: Vec<String> = made
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect();
        assert_eq!(mine, foods(food).collect::<Vec<_>>(), "{name}'s items");
    }
    // Each item was eaten exactly once, by one of the two consumers; each consumer took the
    // items of one producer in the order they were put.
    let all: BTreeSet<String> = foods("包子").chain(foods("骨头")).collect();
    let got: Vec<&String> = eaten.iter().map(|(_, f)| f).collect();
    assert_eq!(got.len(), 6, "{eaten:?}");
    assert_eq!(got.into_iter().cloned().collect::<BTreeSet<_>>(), all);
    for (name, _) in &eaten {
        assert!(name == "alex1" || name == "alex2", "consumer {name}");
    }
    for consumer in ["alex1", "alex2"] {
        for food in ["包子", "骨头"] {
            let order: Vec<&String> = eaten
                .iter()
                .filter(|(n, f)| n == consumer && f.starts_with(food))
                .map(|(_, f)| f)
                .collect();
            assert!(
                order.is_sorted(),
                "{consumer} ate {food} out of order: {order:?}"
            );
        }
    }
}

#[test]
fn value_array() {
    let run = run("value_array");
    expect_lines(
        &run,
        &[
            "balance after a month: 3500",
            "child sees 1",
            "child sees 2",
            "child sees 3",
            "child sees 4",
            "child sees 5",
            "parent sees 1",
            "parent sees 2",
            "parent sees 1000",
            "parent sees 4",
            "parent sees 5",
            "text.value = HELLO",
        ],
    );
}

#[test]
fn signals() {
    let run = run("signals");
    expect_lines(
        &run,
        &[
            "child: alarm(5) -> 0",
            "child: alarm(1) -> 5: one clock per process, the second call replaced the first",
            "child: pause() until a signal comes",
            "parent: kill(child, SIGUSR1)",
            "child: handler got SIGUSR1",
            "parent: kill(child, SIGTERM)",
            "child: killed by SIGTERM (exitcode -15)",
            "handler: got SIGINT: not ending (就不结束)",
            "main: still running after SIGINT",
            "alarm child: killed by SIGALRM (exitcode -14)",
            "SIGCHLD ignored: join -> the child was reaped elsewhere (SIGCHLD ignored, or waitpid(-1) outside multiproc): its exit status is lost",
            "zombie left: false",
        ],
    );
}

#[test]
fn semaphore_limit() {
    let run = run("semaphore_limit");
    let lines = &run.lines;
    assert_eq!(lines.len(), 18, "{}", lines.join("\n"));
    let parent = position(
        &run,
        "parent: 3 workers inside, sem.get_value() = 0: the others block in acquire()",
    );
    let mut entered_before_parent = 0;
    for i in 1..=5 {
        let wants = position(&run, &format!("worker {i} wants in"));
        let is_in = position(&run, &format!("worker {i} is in"));
        let done = position(&run, &format!("worker {i} is done"));
        assert!(
            wants < is_in && is_in < done,
            "worker {i}'s lines out of order"
        );
        assert!(done > parent, "worker {i} left before the parent let it");
        entered_before_parent += usize::from(is_in < parent);
    }
    assert_eq!(entered_before_parent, 3, "three workers got in at first");
    assert_eq!(
        lines[16],
        "most workers inside at once: 3 (the limit: 3); inside now: 0"
    );
    assert_eq!(lines[17], "sem.get_value() = 3");
}

#[test]
fn event() {
    let run = run("event");
    let lines = &run.lines;
    assert_eq!(lines.len(), 10, "{}", lines.join("\n"));
    let waiting: Vec<String> = (1..=3)
        .map(|i| format!("worker {i} waits for the event"))
        .collect();
    expect_any_order(&lines[..3], &waiting, "the workers wait first");
    assert_eq!(lines[3], "main: is_set() = false");
    assert_eq!(lines[4], "main: e.set()");
    let going: Vec<String> = (1..=3)
        .map(|i| format!("worker {i}: the event is set, going on"))
        .collect();
    expect_any_order(&lines[5..8], &going, "the workers go on after set()");
    assert_eq!(lines[8], "main: is_set() = true");
    assert_eq!(
        lines[9],
        "after clear: is_set() = false, wait_timeout(10 ms) = false"
    );
}

#[test]
fn lock_guard() {
    let run = run("lock_guard");
    let lines = &run.lines;
    assert_eq!(lines.len(), 11, "{}", lines.join("\n"));
    let block = |w: u32| -> Vec<String> {
        (0..5)
            .map(|i| format!("writer{w} {i}: I want to write to the terminal first"))
            .collect()
    };
    // Either writer may go first; the lines of each stay together.
    let first = if lines[0].starts_with("writer1") {
        1
    } else {
        2
    };
    assert_eq!(lines[..5], block(first)[..], "the first writer's block");
    assert_eq!(
        lines[5..10],
        block(3 - first)[..],
        "the second writer's block"
    );
    assert_eq!(
        lines[10],
        "counter = 4000 (4 processes x 1000 increments under the lock)"
    );
}

#[test]
fn the_matcher_works() {
    assert_eq!(
        capture("pid {n}, code {n}", "pid 42, code -15"),
        Some(vec!["42".to_owned(), "-15".to_owned()])
    );
    assert_eq!(capture("pid {n}", "pid "), None);
    assert_eq!(capture("pid {n}", "pid 4x"), None);
    assert_eq!(capture("a{n}b", "a12b"), Some(vec!["12".to_owned()]));
    assert_eq!(
        capture("{*} 吃 {*}", "alex1 吃 包子0"),
        Some(vec!["alex1".to_owned(), "包子0".to_owned()])
    );
    assert_eq!(capture("exact", "exact"), Some(vec![]));
    assert_eq!(capture("exact", "exact!"), None);
    assert_eq!(capture("exact", "exac"), None);
}
