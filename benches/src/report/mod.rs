//! The comparison report: `cargo run --release -p multiproc-benches --bin report` runs every
//! bench of this package (W1–W10, the lock and signal micro-benches) with multiproc and its
//! peers, Python's scripts included, then writes one table, per-workload details and SVG charts
//! into `docs/benchmarks.md` (between the markers [`markdown::BEGIN`] and [`markdown::END`])
//! and `docs/benchmarks/*.svg`.
//!
//! How a run goes:
//!
//! 1. `cargo bench -p multiproc-benches --benches --no-run` builds every bench once.
//! 2. For each bench of [`map::BENCHES`], `cargo bench -p multiproc-benches --bench <name> --
//!    <options>` (the benches of [`map::ROW_PER_PROCESS`]: once per row, `--exact <row>`, so
//!    that each row is measured first in a fresh process) with `CRITERION_HOME` pointed at a
//!    directory emptied first (no stale result
//!    can be read) and [`crate::python::RECORD_ENV`] naming a JSON-lines file, where
//!    [`crate::python::run_script`] records the figures of the Python scripts the bench runs.
//!    The scripts no bench runs (W6, W7, W10; [`map::REPORT_SCRIPTS`]) are run by the report
//!    itself, right after their bench. Each `cargo bench` has a time limit; past it, it is
//!    killed with everything it started, and the report goes on with the next bench.
//! 3. criterion's `new/{benchmark,estimates,sample}.json` files and Python's record are read
//!    ([`results`]), each id is placed by the one table of [`map::ENTRIES`], and the block,
//!    its charts and the list of problems (a missing or non-finite figure, an id the table
//!    does not know, a failed bench) are written ([`markdown`], [`svg`]).
//!
//! Options: `--quick` (CI: criterion's `--quick` mode, Python's scripts with capped counts,
//! output under `target/bench-report-quick/`, and any problem fails the run), `--out DIR`
//! (write the markdown and SVGs there instead of `docs/`), `--no-run` (render again from the
//! results of the last run in the work directory, without running anything).

pub mod machine;
pub mod map;
pub mod markdown;
pub mod results;
pub mod run;
pub mod svg;

use crate::python::{self, QUICK_ENV, RECORD_ENV};
use machine::{elapsed, CpuTicks, Machine};
use markdown::{RunInfo, BEGIN, END};
use results::Results;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// criterion's options for a full run. Groups that set their own windows or sample size in
/// their bench keep them (criterion lets a group's settings override the command line): W3's
/// groups take 10 samples, W6, the W9 maps and W10 set their own windows.
pub const FULL_OPTIONS: &[&str] = &["--warm-up-time", "1", "--measurement-time", "2", "--noplot"];

/// criterion's options for `--quick`: its quick mode (two samples, each doubling the
/// iterations, stopped once they agree within 5 % or past the measurement time) capped at
/// one second where the group does not set its own time.
pub const QUICK_OPTIONS: &[&str] = &["--quick", "--measurement-time", "1", "--noplot"];

/// How long one bench may run before it is killed: the full run's longest bench
/// (`w4_w5_queue`) took under two minutes here.
const BENCH_LIMIT: Duration = Duration::from_secs(15 * 60);
/// The same with `--quick`.
const QUICK_BENCH_LIMIT: Duration = Duration::from_secs(5 * 60);
/// How long the build may take.
const BUILD_LIMIT: Duration = Duration::from_secs(45 * 60);

const USAGE: &str = "\
usage: cargo run --release -p multiproc-benches --bin report -- [--quick] [--out DIR] [--no-run]

Runs every bench of multiproc-benches (W1-W10, lock and signal micro-benches) with its peers and
Python, then writes the comparison into docs/benchmarks.md (between the report markers) and
docs/benchmarks/*.svg.

  --quick     CI mode: criterion's --quick, Python with capped counts; writes under
              target/bench-report-quick/ (or --out) and fails if any figure is missing
  --out DIR   write DIR/benchmarks.md and DIR/benchmarks/*.svg instead of docs/
  --no-run    render again from the last run's results, without running anything";

/// The command line.
#[derive(Debug, Default)]
struct Options {
    quick: bool,
    out: Option<PathBuf>,
    no_run: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--no-run" => o.no_run = true,
            "--out" => o.out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// The workspace's root (this package's parent directory).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the benches package is in the workspace")
        .to_owned()
}

/// cargo's target directory.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Prints a progress line.
fn say(start: Instant, what: &str) {
    println!(
        "[report {:>6}] {what}",
        elapsed(start.elapsed().as_secs_f64())
    );
}

/// Where a run keeps its results.
struct Work {
    criterion: PathBuf,
    record: PathBuf,
    meta: PathBuf,
}

impl Work {
    fn new(dir: &Path) -> Work {
        Work {
            criterion: dir.join("criterion"),
            record: dir.join("python.jsonl"),
            meta: dir.join("run.json"),
        }
    }

    fn figures_so_far(&self) -> usize {
        let python = std::fs::read_to_string(&self.record)
            .map_or(0, |s| s.lines().filter(|l| !l.trim().is_empty()).count());
        results::count_rows(&self.criterion) + python
    }
}

/// Runs the build and every bench; returns the run's description.
fn run_all(root: &Path, work: &Work, quick: bool, start: Instant) -> RunInfo {
    let started = machine::unix_now();
    let cpu_start = CpuTicks::now();
    let load_start = machine::load_average();
    if work.criterion.exists() {
        std::fs::remove_dir_all(&work.criterion)
            .unwrap_or_else(|e| panic!("cannot empty {}: {e}", work.criterion.display()));
    }
    std::fs::create_dir_all(&work.criterion)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", work.criterion.display()));
    let _ = std::fs::remove_file(&work.record);

    let python_version = machine::version_of("python3", "--version");
    let python_missing = python_version.is_none().then(|| {
        "python3 was not found: the Python figures are skipped (their cells stay empty).".to_owned()
    });
    if let Some(note) = &python_missing {
        say(start, note);
    }

    let options = if quick { QUICK_OPTIONS } else { FULL_OPTIONS };
    let limit = if quick {
        QUICK_BENCH_LIMIT
    } else {
        BENCH_LIMIT
    };
    let envs: [(&str, &Path); 2] = [
        ("CRITERION_HOME", &work.criterion),
        (RECORD_ENV, &work.record),
    ];
    let mut failures = Vec::new();

    say(start, "building the benches (cargo bench --no-run)");
    if let Err(e) = run::cargo(
        root,
        &["bench", "-p", "multiproc-benches", "--benches", "--no-run"],
        &envs,
        BUILD_LIMIT,
    ) {
        failures.push(e);
    }
    let build_time = start.elapsed().as_secs_f64();
    let expected = map::ENTRIES
        .iter()
        .filter(|e| python_missing.is_none() || e.source() == map::Source::Criterion)
        .count();

    for (i, bench) in map::BENCHES.iter().enumerate() {
        say(
            start,
            &format!(
                "bench {}/{}: {bench} ({} of about {expected} figures so far)",
                i + 1,
                map::BENCHES.len(),
                work.figures_so_far()
            ),
        );
        let bench_start = Instant::now();
        // One `cargo bench` for the whole bench, or one per row (and one for its Python).
        let runs: Vec<Option<&str>> = match map::ROW_PER_PROCESS.iter().find(|(b, _)| b == bench) {
            Some((_, python)) => map::criterion_rows(bench)
                .into_iter()
                .chain([*python])
                .map(Some)
                .collect(),
            None => vec![None],
        };
        for filter in runs {
            let mut args = vec!["bench", "-p", "multiproc-benches", "--bench", bench, "--"];
            args.extend_from_slice(options);
            if let Some(row) = filter {
                say(start, &format!("{bench}: {row}, in a process of its own"));
                args.extend_from_slice(&["--exact", row]);
            }
            if let Err(e) = run::cargo(root, &args, &envs, limit) {
                say(start, &e);
                failures.push(e);
            }
        }
        for (_, script, script_args) in map::REPORT_SCRIPTS.iter().filter(|(b, ..)| b == bench) {
            if python_missing.is_some() {
                continue;
            }
            say(start, &format!("python3 benches/python/{script}"));
            let script_args: Vec<String> = script_args.iter().map(|a| a.to_string()).collect();
            let ran = std::panic::catch_unwind(|| {
                python::run_script_recording(script, &script_args, Some(&work.record))
            });
            if ran.is_err() {
                let e = format!("python3 benches/python/{script} failed (see above)");
                say(start, &e);
                failures.push(e);
            }
        }
        say(
            start,
            &format!(
                "{bench} done in {} ({} figures so far)",
                elapsed(bench_start.elapsed().as_secs_f64()),
                work.figures_so_far()
            ),
        );
    }

    let total = start.elapsed().as_secs_f64();
    let others = CpuTicks::now().others_since(&cpu_start);
    let load = |l: Option<f64>| l.map_or("?".to_owned(), |l| format!("{l:.2}"));
    let m = Machine::read();
    let cpus = m.cpus.max(1);
    let command = if quick {
        "cargo run --release -p multiproc-benches --bin report -- --quick"
    } else {
        "cargo run --release -p multiproc-benches --bin report"
    };
    RunInfo {
        command: command.to_owned(),
        criterion_options: options.join(" "),
        quick,
        date: machine::utc(started),
        machine: format!(
            "{}, {} logical CPUs, {:.1} GiB, Linux {}",
            m.cpu, m.cpus, m.memory_gib, m.kernel
        ),
        toolchain: format!(
            "{}, {}",
            machine::version_of("rustc", "--version").unwrap_or_else(|| "rustc ?".into()),
            python_version.unwrap_or_else(|| "no python3".into())
        ),
        conditions: format!(
            "the run took {} ({} of it building); 1-minute load average {} at the start, {} at \
             the end; other processes took {:.0} CPU-seconds during the run ({:.0} % of the \
             machine's {} CPUs), as /proc/stat's busy time less the run's own",
            elapsed(total),
            elapsed(build_time),
            load(load_start),
            load(machine::load_average()),
            others,
            others / (total * cpus as f64) * 100.0,
            cpus
        ),
        python_missing,
        failures,
    }
}

fn info_to_json(info: &RunInfo) -> Value {
    json!({
        "command": info.command,
        "criterion_options": info.criterion_options,
        "quick": info.quick,
        "date": info.date,
        "machine": info.machine,
        "toolchain": info.toolchain,
        "conditions": info.conditions,
        "python_missing": info.python_missing,
        "failures": info.failures,
    })
}

fn info_from_json(v: &Value) -> Option<RunInfo> {
    let s = |k: &str| v.get(k)?.as_str().map(str::to_owned);
    Some(RunInfo {
        command: s("command")?,
        criterion_options: s("criterion_options")?,
        quick: v.get("quick")?.as_bool()?,
        date: s("date")?,
        machine: s("machine")?,
        toolchain: s("toolchain")?,
        conditions: s("conditions")?,
        python_missing: s("python_missing"),
        failures: v
            .get("failures")?
            .as_array()?
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect(),
    })
}

/// Writes `path`, creating its directory.
fn write(path: &Path, contents: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The report's `main`.
pub fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("report: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let root = workspace_root();
    let target = target_dir(&root);
    let work_dir = match (&options.out, options.quick) {
        (Some(out), _) => out.clone(),
        (None, true) => target.join("bench-report-quick"),
        (None, false) => target.join("bench-report"),
    };
    let work = Work::new(&work_dir);
    // The markdown and SVGs: into docs/ for a full run, else next to the results.
    let (doc_path, svg_dir) = if options.out.is_none() && !options.quick {
        (
            root.join("docs/benchmarks.md"),
            root.join("docs/benchmarks"),
        )
    } else {
        (work_dir.join("benchmarks.md"), work_dir.join("benchmarks"))
    };

    let info = if options.no_run {
        let meta = std::fs::read_to_string(&work.meta)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| info_from_json(&v));
        match meta {
            Some(info) => info,
            None => {
                eprintln!(
                    "report: --no-run needs a previous run's {}",
                    work.meta.display()
                );
                return ExitCode::from(2);
            }
        }
    } else {
        if options.quick {
            // Inherited by every `cargo bench` and Python script from here on (no other thread
            // runs yet).
            std::env::set_var(QUICK_ENV, "1");
        }
        let info = run_all(&root, &work, options.quick, start);
        if let Err(e) = write(&work.meta, &info_to_json(&info).to_string()) {
            eprintln!("report: {e}");
        }
        info
    };

    let results = Results::read(&work.criterion, &work.record);
    let workloads = markdown::collect(&results);
    let mut problems: Vec<String> = info.failures.clone();
    problems.extend(results.errors.iter().cloned());
    for wf in &workloads {
        for (e, m) in &wf.entries {
            if e.source() == map::Source::Python && info.python_missing.is_some() {
                continue;
            }
            if let Err(why) = m {
                problems.push(format!(
                    "{} ({}: {}): `{}`: {why}",
                    wf.workload.name,
                    e.col.title(),
                    e.label,
                    e.id
                ));
            }
        }
    }
    let unmapped = results.unmapped();
    for (id, _) in &unmapped {
        problems.push(format!(
            "`{id}` is not in the report's table (benches/src/report/map.rs)"
        ));
    }

    let svg_rel = svg_dir
        .strip_prefix(doc_path.parent().unwrap_or(Path::new("")))
        .map_or_else(
            |_| svg_dir.display().to_string(),
            |p| p.display().to_string(),
        );
    let report = markdown::Report {
        run: &info,
        workloads,
        unmapped,
        problems,
        svg_dir: &svg_rel,
    };
    let block = markdown::render(&report);
    let old = std::fs::read_to_string(&doc_path)
        .unwrap_or_else(|_| format!("# Benchmarks (report)\n\n{BEGIN}\n{END}\n"));
    let doc = match markdown::splice(&old, &block) {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("report: {}: {e}", doc_path.display());
            return ExitCode::FAILURE;
        }
    };
    let mut written = Vec::new();
    // Charts of earlier runs that this run no longer makes are removed (only ours).
    if let Ok(entries) = std::fs::read_dir(&svg_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.starts_with("bars_") || name.starts_with("dist_")) && name.ends_with(".svg") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    for (name, svg) in markdown::charts(&report) {
        let path = svg_dir.join(&name);
        if let Err(e) = write(&path, &svg) {
            eprintln!("report: {e}");
            return ExitCode::FAILURE;
        }
        written.push(name);
    }
    if let Err(e) = write(&doc_path, &doc) {
        eprintln!("report: {e}");
        return ExitCode::FAILURE;
    }
    say(
        start,
        &format!(
            "wrote {} and {} charts in {}",
            doc_path.display(),
            written.len(),
            svg_dir.display()
        ),
    );
    if let Some(note) = &info.python_missing {
        say(start, note);
    }
    if report.problems.is_empty() {
        say(start, "every implementation of every workload has a figure");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "\nreport: {} problem(s) — a figure is missing or not finite, an id is unknown, or a \
             bench failed:",
            report.problems.len()
        );
        for p in &report.problems {
            eprintln!("  - {p}");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn arguments() {
        let o = parse(&["--quick", "--out", "x"]).unwrap();
        assert!(o.quick && !o.no_run && o.out == Some(PathBuf::from("x")));
        assert!(parse(&["--out"]).is_err());
        assert!(parse(&["--frobnicate"]).is_err());
        assert!(parse(&["--no-run"]).unwrap().no_run);
    }

    #[test]
    fn run_info_round_trips() {
        let info = RunInfo {
            command: "c".into(),
            criterion_options: "--quick".into(),
            quick: true,
            date: "2026-01-01 00:00".into(),
            machine: "m".into(),
            toolchain: "t".into(),
            conditions: "k".into(),
            python_missing: None,
            failures: vec!["f".into()],
        };
        let back = info_from_json(&info_to_json(&info)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{info:?}"));
    }
}
