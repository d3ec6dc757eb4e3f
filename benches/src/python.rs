//! Python's figures beside criterion's rows. A bench runs a script from `benches/python/` with
//! the system `python3`, once per group after the group's Rust rows, with fixed counts, and the
//! script prints its figures next to criterion's. criterion never sees these runs, so it does not
//! filter, list or skip them: [`Invocation`] reads the arguments criterion was given to decide
//! whether to run them, and with which counts.
//!
//! **Recording.** With [`RECORD_ENV`] naming a file, [`run_script`] also appends each figure the
//! script reports to that file, one JSON object a line ([`Figure`]), for the report
//! (`cargo run --release -p multiproc-benches --bin report`). It asks the script for them with
//! [`FIGURES_ENV`]: the script then prints an `@figure {json}` line per figure
//! (`benches/python/figures.py`), which is recorded and not echoed; every other line is
//! printed as before. Without [`RECORD_ENV`] nothing changes: the script's output goes straight
//! to ours. [`QUICK_ENV`] makes the scripts cap their counts (the report's `--quick`).

use multiproc_internal::testing::wait_child;
use serde_json::{Map, Value};
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What the bench binary was asked to do, read from its arguments as criterion reads them.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    test: bool,
    list: bool,
    ignored: bool,
    exact: bool,
    filter: Option<String>,
}

/// criterion's options that take a value (which is therefore not a filter).
const TAKES_VALUE: &[&str] = &[
    "-c",
    "--color",
    "--colour",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

impl Invocation {
    /// This process's arguments.
    pub fn from_env() -> Invocation {
        Invocation::parse(std::env::args().skip(1))
    }

    /// Parses criterion's arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Invocation {
        let mut inv = Invocation::default();
        let mut bench = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => bench = true,
                "--test" => inv.test = true,
                "--list" => inv.list = true,
                "--ignored" => inv.ignored = true,
                "--exact" => inv.exact = true,
                a if TAKES_VALUE.contains(&a) => {
                    args.next();
                }
                a if a.starts_with('-') => {}
                _ if inv.filter.is_none() => inv.filter = Some(arg),
                _ => {}
            }
        }
        // As criterion decides: `cargo bench` passes `--bench`; without it (`cargo test
        // --benches`), or with `--test` too, each bench runs once to check that it works.
        if !bench {
            inv.test = true;
        }
        inv
    }

    /// Whether criterion runs each bench once to check that it works, rather than measuring.
    pub fn is_test(&self) -> bool {
        self.test
    }

    /// Whether a row named `id` (`group/row`) is to run: never when listing; otherwise when it
    /// passes the filter. A filter is matched here as a plain substring (or exactly, with
    /// `--exact`), not as criterion's regular expression.
    pub fn runs(&self, id: &str) -> bool {
        if self.list || self.ignored {
            return false;
        }
        match &self.filter {
            None => true,
            Some(f) if self.exact => id == f,
            Some(f) => id.contains(f.as_str()),
        }
    }
}

/// How long a script may run before it is killed and the bench fails.
pub const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

/// Names a JSON-lines file: when set, [`run_script`] appends to it each figure the script
/// reports (see [`Figure`]).
pub const RECORD_ENV: &str = "MULTIPROC_BENCH_PYTHON_RECORD";

/// Set to `1` for a script: print an `@figure {json}` line per figure (`benches/python/figures.py`).
pub const FIGURES_ENV: &str = "MULTIPROC_BENCH_FIGURES";

/// Set to `1` for a script: cap its counts (the report's `--quick`; each script's doc says
/// how).
pub const QUICK_ENV: &str = "MULTIPROC_BENCH_QUICK";

/// How a figure line starts in a script's output.
const FIGURE_PREFIX: &str = "@figure ";

/// How long the output of a script may stay open after the script exited (its helper
/// processes, such as multiprocessing's forkserver, exit once it is gone).
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Runs `python3 benches/python/<script> <args>`, its output going straight to ours, and, when
/// [`RECORD_ENV`] names a file, records the script's figures there (see
/// [`run_script_recording`]). Returns `false`, after printing a note, when there is no
/// `python3`.
///
/// # Panics
///
/// If the script fails or runs longer than [`SCRIPT_LIMIT`]; when recording, if a figure line
/// is malformed or the file cannot be written.
pub fn run_script(script: &str, args: &[String]) -> bool {
    let record = std::env::var_os(RECORD_ENV).map(PathBuf::from);
    run_script_recording(script, args, record.as_deref())
}

/// Runs `python3 benches/python/<script> <args>`. Without `record`, its output goes straight
/// to ours. With it, the script is asked for its figures ([`FIGURES_ENV`]) and runs
/// unbuffered; each `@figure` line it prints is checked ([`Figure::parse`]), given the
/// script's name and arguments, and appended to `record` as one JSON line; every other line
/// is printed as it comes. Returns `false`, after printing a note, when there is no `python3`.
///
/// # Panics
///
/// If the script fails or runs longer than [`SCRIPT_LIMIT`], if a figure line is malformed, or
/// if `record` cannot be written.
pub fn run_script_recording(script: &str, args: &[String], record: Option<&Path>) -> bool {
    let path = format!("{}/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let _ = io::stdout().flush();
    let mut command = Command::new("python3");
    command.arg(&path).args(args);
    if record.is_some() {
        command
            .env(FIGURES_ENV, "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdout(Stdio::piped());
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            println!("python3 not found: the Python figures of {script} are skipped");
            return false;
        }
        Err(e) => panic!("cannot start python3 {path}: {e}"),
    };
    // The reader runs while the script does (its output must not fill the pipe), and reports
    // what it recorded, or what went wrong, once the output closes.
    let reader = match (record, child.stdout.take()) {
        (Some(record), Some(out)) => {
            let (done, finished) = mpsc::channel();
            let (record, script) = (record.to_owned(), script.to_owned());
            let args = args.to_vec();
            std::thread::spawn(move || {
                let _ = done.send(relay(out, &record, &script, &args));
            });
            Some(finished)
        }
        _ => None,
    };
    let status = wait_child(&mut child, SCRIPT_LIMIT);
    assert!(status.success(), "python3 {path} {args:?} failed: {status}");
    if let Some(finished) = reader {
        match finished.recv_timeout(DRAIN_LIMIT) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("python3 {path} {args:?}: {e}"),
            Err(_) => panic!("python3 {path} {args:?}: its output stayed open after it exited"),
        }
    }
    true
}

/// Copies a script's output to ours, appending its figure lines to `record` instead; returns
/// how many figures it recorded.
fn relay(
    out: impl io::Read,
    record: &Path,
    script: &str,
    args: &[String],
) -> Result<usize, String> {
    let mut recorded = 0;
    for line in BufReader::new(out).lines() {
        let line = line.map_err(|e| format!("reading its output: {e}"))?;
        let Some(json) = line.strip_prefix(FIGURE_PREFIX) else {
            println!("{line}");
            continue;
        };
        let figure = Figure::parse(json)?;
        let mut object = figure.raw.clone();
        object.insert("script".into(), script.into());
        object.insert("args".into(), args.to_vec().into());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(record)
            .map_err(|e| format!("opening {}: {e}", record.display()))?;
        writeln!(file, "{}", Value::Object(object))
            .map_err(|e| format!("writing {}: {e}", record.display()))?;
        recorded += 1;
    }
    Ok(recorded)
}

/// One figure a script reported: `id` (criterion's `group/row` style), and either `ns`
/// (nanoseconds per operation) or `per_second` (items or bytes per second, as the workload
/// counts), each finite and positive; optionally a spread (`low_*`, `high_*` in the same unit,
/// and `spread` saying what it is) and a `note` (how many runs, of what).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The figure's id, e.g. `w1_round_trip_64B/python_multiprocessing`.
    pub id: String,
    /// The figure itself.
    pub value: FigureValue,
    /// The low and high end of its spread, in the same unit as `value`, if it has one.
    pub range: Option<(f64, f64)>,
    /// What the spread is (e.g. "inter-quartile range of 2,000 calls").
    pub spread: Option<String>,
    /// How the figure was taken (e.g. "one run, 20,000 round trips").
    pub note: Option<String>,
    raw: Map<String, Value>,
}

/// A [`Figure`]'s value and its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FigureValue {
    /// Nanoseconds per operation.
    Nanos(f64),
    /// Items (or bytes) per second.
    PerSecond(f64),
}

impl Figure {
    /// Parses and checks one figure (a JSON object, as a script prints it or as the record
    /// holds it).
    ///
    /// # Errors
    ///
    /// A message naming what is wrong: not JSON, not an object, no string `id`, neither or both
    /// of `ns` and `per_second`, a value that is not a finite positive number, a spread with
    /// one end only.
    pub fn parse(json: &str) -> Result<Figure, String> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| format!("bad figure {json:?}: {e}"))?;
        let Value::Object(raw) = value else {
            return Err(format!("bad figure {json:?}: not an object"));
        };
        let id = match raw.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(format!("bad figure {json:?}: no id")),
        };
        let number = |key: &str| -> Result<Option<f64>, String> {
            match raw.get(key) {
                None => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
                    _ => Err(format!(
                        "figure {id}: {key} is not a finite positive number"
                    )),
                },
            }
        };
        let (value, low, high) = match (number("ns")?, number("per_second")?) {
            (Some(ns), None) => (
                FigureValue::Nanos(ns),
                number("low_ns")?,
                number("high_ns")?,
            ),
            (None, Some(rate)) => (
                FigureValue::PerSecond(rate),
                number("low_per_second")?,
                number("high_per_second")?,
            ),
            _ => return Err(format!("figure {id}: needs one of ns and per_second")),
        };
        let range = match (low, high) {
            (Some(low), Some(high)) => Some((low, high)),
            (None, None) => None,
            _ => return Err(format!("figure {id}: a spread needs both ends")),
        };
        let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Figure {
            id,
            value,
            range,
            spread: text("spread"),
            note: text("note"),
            raw,
        })
    }

    /// Reads a record written by [`run_script`]: one figure a line, blank lines skipped.
    ///
    /// # Errors
    ///
    /// If the file cannot be read, or a line does not parse (the message names the line).
    pub fn read_record(path: &Path) -> io::Result<Vec<Figure>> {
        let text = std::fs::read_to_string(path)?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                Figure::parse(line).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}:{}: {e}", path.display(), i + 1),
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Invocation;

    fn parse(args: &[&str]) -> Invocation {
        Invocation::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn modes_and_filters() {
        let test = parse(&[]);
        assert!(test.is_test() && test.runs("w1/python"));
        let bench = parse(&["--bench"]);
        assert!(!bench.is_test() && bench.runs("w1/python"));
        assert!(parse(&["--bench", "--test"]).is_test());
        assert!(!parse(&["--bench", "--list"]).runs("w1/python"));
        let filtered = parse(&["--bench", "--save-baseline", "python", "w2"]);
        assert!(filtered.runs("w2/python") && !filtered.runs("w1/python"));
        assert!(!parse(&["--bench", "--exact", "w2"]).runs("w2/python"));
    }

    #[test]
    fn figures_parse_and_are_checked() {
        use super::{Figure, FigureValue};
        let f = Figure::parse(r#"{"id": "w1/python", "ns": 1500.0, "note": "one run"}"#).unwrap();
        assert_eq!(f.id, "w1/python");
        assert_eq!(f.value, FigureValue::Nanos(1500.0));
        assert_eq!((f.range, f.note.as_deref()), (None, Some("one run")));
        let f = Figure::parse(
            r#"{"id": "w9/p", "per_second": 2e6, "low_per_second": 1e6, "high_per_second": 3e6}"#,
        )
        .unwrap();
        assert_eq!(f.value, FigureValue::PerSecond(2e6));
        assert_eq!(f.range, Some((1e6, 3e6)));
        for bad in [
            "not json",
            "[1]",
            r#"{"ns": 1}"#,
            r#"{"id": "x"}"#,
            r#"{"id": "x", "ns": 1, "per_second": 1}"#,
            r#"{"id": "x", "ns": -1}"#,
            r#"{"id": "x", "ns": 0}"#,
            r#"{"id": "x", "ns": "fast"}"#,
            r#"{"id": "x", "ns": 1, "low_ns": 1}"#,
        ] {
            assert!(Figure::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    /// A script run with recording: its figure lines land in the record, parsed, with the
    /// script's name and arguments (skipped without `python3`).
    #[test]
    fn run_script_records_figures() {
        use super::{run_script_recording, Figure, FigureValue};
        if std::process::Command::new("python3")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("python3 not found: skipped");
            return;
        }
        let dir =
            std::env::temp_dir().join(format!("multiproc-bench-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let record = dir.join("python.jsonl");
        let _ = std::fs::remove_file(&record);
        // 10 round trips: a second or so (below the quick mode's cap, if QUICK_ENV is set).
        assert!(run_script_recording(
            "w7_ping_pong.py",
            &["10".into()],
            Some(&record)
        ));
        let figures = Figure::read_record(&record).unwrap();
        let ids: Vec<&str> = figures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "w7_ping_pong/python_semaphore",
                "w7_ping_pong/python_event",
                "w7_ping_pong/python_lock_condition"
            ]
        );
        for f in &figures {
            assert!(matches!(f.value, FigureValue::Nanos(ns) if ns > 0.0));
            assert_eq!(f.raw["script"], "w7_ping_pong.py");
            assert_eq!(f.raw["args"], serde_json::json!(["10"]));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
