//! Python's figures beside criterion's rows. A bench runs a script from `benches/python/` with
//! the system `python3`, once per group after the group's Rust rows, with fixed counts, and the
//! script prints its figures next to criterion's. criterion never sees these runs, so it does not
//! filter, list or skip them: [`Invocation`] reads the arguments criterion was given to decide
//! whether to run them, and with which counts.

use multiproc_internal::testing::wait_child;
use std::io::{self, Write};
use std::process::Command;
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

/// Runs `python3 benches/python/<script> <args>`, its output going straight to ours. Returns
/// `false`, after printing a note, when there is no `python3`.
///
/// # Panics
///
/// If the script fails or runs longer than [`SCRIPT_LIMIT`].
pub fn run_script(script: &str, args: &[String]) -> bool {
    let path = format!("{}/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let _ = io::stdout().flush();
    let mut child = match Command::new("python3").arg(&path).args(args).spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            println!("python3 not found: the Python figures of {script} are skipped");
            return false;
        }
        Err(e) => panic!("cannot start python3 {path}: {e}"),
    };
    let status = wait_child(&mut child, SCRIPT_LIMIT);
    assert!(status.success(), "python3 {path} {args:?} failed: {status}");
    true
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
}
