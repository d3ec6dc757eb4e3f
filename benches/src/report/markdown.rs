//! The generated block of `docs/benchmarks.md`: the machine and the run, the summary table,
//! every row per workload with its chart, the latency distributions, and any problem; and
//! putting it between the markers.

use super::map::{self, Col, Entry, Unit, Workload, DISTRIBUTIONS, WORKLOADS};
use super::results::{Measured, Results};
use super::svg::{self, Bar, Samples};
use std::fmt::Write;

/// The line that opens the generated block.
pub const BEGIN: &str = "<!-- report:begin -->";
/// The line that closes it.
pub const END: &str = "<!-- report:end -->";

/// A number with three significant digits (more for large ones), with thousands separated.
pub fn sig(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a == 0.0 {
        return "0".to_owned();
    }
    let mut magnitude = a.log10().floor() as i32;
    let step = 10f64.powi(magnitude - 2);
    let rounded = (a / step).round() * step;
    // 99.96 rounds to 100: one digit fewer after the point.
    if rounded >= 10f64.powi(magnitude + 1) {
        magnitude += 1;
    }
    if rounded >= 1000.0 {
        return thousands(x);
    }
    let decimals = (2 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A whole number with thousands separated by commas.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// How many times faster `ours` is than `theirs` in `unit` (above 1: ours is faster).
pub fn speedup(ours: f64, theirs: f64, unit: Unit) -> f64 {
    if unit.higher_is_better() {
        ours / theirs
    } else {
        theirs / ours
    }
}

/// A figure as a cell: the median, then its spread in brackets.
fn cell(m: &Measured) -> String {
    match m.range {
        Some((a, b)) => format!("{} [{}–{}]", sig(m.median), sig(a), sig(b)),
        None => sig(m.median),
    }
}

/// What the run was, for the block's header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The command that made it.
    pub command: String,
    /// The options given to every `cargo bench`.
    pub criterion_options: String,
    /// Whether it was `--quick`.
    pub quick: bool,
    /// `YYYY-MM-DD HH:MM` UTC when it started.
    pub date: String,
    /// CPU, cores, memory, kernel.
    pub machine: String,
    /// rustc's and Python's versions.
    pub toolchain: String,
    /// How long it took, the load, others' CPU time.
    pub conditions: String,
    /// `None` when `python3` was found; otherwise the note to print.
    pub python_missing: Option<String>,
    /// Benches that failed or timed out, with why.
    pub failures: Vec<String>,
}

/// The figures of one workload: each entry with its figure or why it has none.
#[derive(Debug)]
pub struct WorkloadFigures {
    /// The workload.
    pub workload: &'static Workload,
    /// Its entries in the map's order.
    pub entries: Vec<(&'static Entry, Result<Measured, String>)>,
}

impl WorkloadFigures {
    /// Collects the figures of `workload` from `results`.
    pub fn collect(workload: &'static Workload, results: &Results) -> WorkloadFigures {
        let entries = map::entries_of(workload.key)
            .map(|e| (e, results.figure(e, workload.unit)))
            .collect();
        WorkloadFigures { workload, entries }
    }

    /// The summary cell of `col`.
    pub fn primary(&self, col: Col) -> Option<&(&'static Entry, Result<Measured, String>)> {
        self.entries.iter().find(|(e, _)| e.col == col && e.primary)
    }

    fn primary_figure(&self, col: Col) -> Option<&Measured> {
        self.primary(col).and_then(|(_, m)| m.as_ref().ok())
    }

    /// The best figure among the peer columns' rows, with its entry.
    pub fn best_peer(&self) -> Option<(&'static Entry, &Measured)> {
        let unit = self.workload.unit;
        self.entries
            .iter()
            .filter(|(e, _)| e.col.is_peer())
            .filter_map(|(e, m)| Some((*e, m.as_ref().ok()?)))
            .max_by(|(_, a), (_, b)| {
                // The best is the one multiproc is least faster than.
                speedup(1.0, a.median, unit)
                    .total_cmp(&speedup(1.0, b.median, unit))
                    .reverse()
            })
    }

    /// multiproc's speed-up over Python's cell, if both have figures.
    pub fn vs_python(&self) -> Option<f64> {
        let ours = self.primary_figure(Col::Multiproc)?;
        let python = self.primary_figure(Col::Python)?;
        Some(speedup(ours.median, python.median, self.workload.unit))
    }

    /// multiproc's speed-up over the best peer, and which it is.
    pub fn vs_best_peer(&self) -> Option<(f64, &'static Entry)> {
        let ours = self.primary_figure(Col::Multiproc)?;
        let (entry, best) = self.best_peer()?;
        Some((speedup(ours.median, best.median, self.workload.unit), entry))
    }
}

/// Everything the block shows.
#[derive(Debug)]
pub struct Report<'a> {
    /// The run.
    pub run: &'a RunInfo,
    /// Every workload's figures, in order.
    pub workloads: Vec<WorkloadFigures>,
    /// Ids the run produced that the map does not know, each with its figure as the run gives
    /// it.
    pub unmapped: Vec<(String, String)>,
    /// Everything that is wrong: missing figures, unmapped ids, unreadable files, failed
    /// benches.
    pub problems: Vec<String>,
    /// The relative path from the markdown file to the SVG directory.
    pub svg_dir: &'a str,
}

/// The SVG files of a report: (file name, contents).
pub fn charts(report: &Report<'_>) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for wf in &report.workloads {
        let w = wf.workload;
        let bars: Vec<Bar> = wf
            .entries
            .iter()
            .map(|(e, m)| Bar {
                col: e.col,
                label: e.label.to_owned(),
                value: m.as_ref().ok().map(|m| (m.median, m.range)),
            })
            .collect();
        files.push((
            format!("bars_{}.svg", w.key),
            svg::bars(&format!("{}: {}", w.name, w.title), w.unit, &bars),
        ));
    }
    for (key, title) in DISTRIBUTIONS {
        let members: Vec<&WorkloadFigures> = report
            .workloads
            .iter()
            .filter(|wf| wf.workload.distribution == Some(key))
            .collect();
        let Some(first) = members.first() else {
            continue;
        };
        let several = members.len() > 1;
        let rows: Vec<Samples> = members
            .iter()
            .flat_map(|wf| {
                wf.entries.iter().map(move |(e, m)| {
                    let m = m.as_ref().ok();
                    let label = if several {
                        format!("{} ({})", e.label, wf.workload.name)
                    } else {
                        e.label.to_owned()
                    };
                    Samples {
                        col: e.col,
                        label,
                        samples: m.map(|m| m.samples.clone()).unwrap_or_default(),
                        single: m
                            .filter(|m| m.samples.is_empty())
                            .map(|m| (m.median, m.range)),
                    }
                })
            })
            // A row shown under one start method of W8 is not repeated under another.
            .collect();
        files.push((
            format!("dist_{key}.svg"),
            svg::distribution(title, first.workload.unit, &rows),
        ));
    }
    files
}

/// The generated block, without the marker lines.
pub fn render(report: &Report<'_>) -> String {
    let run = report.run;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!-- Written by `cargo run --release -p multiproc-benches --bin report`: edits \
         between the report markers are overwritten by its next run. -->\n"
    );
    let _ = writeln!(
        s,
        "## Comparison of every workload, one run{}\n",
        if run.quick {
            " (quick mode: not for comparison)"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "- **When:** {} UTC.", run.date);
    let _ = writeln!(s, "- **Machine:** {}.", run.machine);
    let _ = writeln!(s, "- **Toolchain:** {}.", run.toolchain);
    let _ = writeln!(s, "- **Conditions:** {}.", run.conditions);
    let _ = writeln!(
        s,
        "- **Reproduce:** `{}` (each bench runs as `cargo bench -p multiproc-benches --bench \
         <name> -- {}`; {}).",
        run.command,
        run.criterion_options,
        row_per_process_note()
    );
    if let Some(note) = &run.python_missing {
        let _ = writeln!(s, "- **Python:** {note}");
    }
    let _ = writeln!(
        s,
        "\n**Cells** show the median, then in brackets the inter-quartile range (25th to 75th \
         percentile) of criterion's samples, each sample's time per iteration converted to the \
         unit; not criterion's confidence interval. Python's figures are one timed run each, \
         without a spread, except W9 (the median of several runs, [slowest–fastest]) and W9b \
         (the median of the calls, [inter-quartile range]). **Ratios** say how many times faster \
         multiproc's cell is than the other (above 1: multiproc is faster). The **best peer** is \
         the fastest row of another library working across processes (ipc-channel, \
         interprocess, iceoryx2, procspawn, raw_sync: any row of theirs below, not only the \
         cell shown); the raw floor and crossbeam between threads are references, not peers. \
         Each workload's list below says which row each cell shows (★).\n"
    );

    // The summary table.
    let _ = write!(s, "| workload | unit |");
    for col in Col::ALL {
        let _ = write!(s, " {} |", col.title());
    }
    let _ = writeln!(s, " × vs Python | × vs best peer |");
    let _ = writeln!(s, "|---|---|{}---|---|", "---|".repeat(Col::ALL.len()));
    for wf in &report.workloads {
        let w = wf.workload;
        let arrow = if w.unit.higher_is_better() {
            "↑"
        } else {
            "↓"
        };
        let _ = write!(
            s,
            "| **{}** {} | {} {arrow} |",
            w.name,
            w.title,
            w.unit.short()
        );
        for col in Col::ALL {
            match wf.primary(col) {
                None => s.push_str(" |"),
                Some((_, Ok(m))) if col == Col::Multiproc => {
                    let _ = write!(s, " **{}** |", cell(m));
                }
                Some((_, Ok(m))) => {
                    let _ = write!(s, " {} |", cell(m));
                }
                Some((_, Err(_))) => s.push_str(" *missing* |"),
            }
        }
        match wf.vs_python() {
            Some(r) => {
                let _ = write!(s, " {}× |", sig(r));
            }
            None => s.push_str(" |"),
        }
        match wf.vs_best_peer() {
            Some((r, e)) => {
                let _ = writeln!(s, " {}× ({}: {}) |", sig(r), e.col.title(), e.label);
            }
            None => s.push_str(" |\n"),
        }
    }

    // Every row, per workload, with its chart.
    let _ = writeln!(
        s,
        "\n### Every row\n\n\"× multiproc\" is how many times faster multiproc's ★ row is than \
         the row. The bench's module doc (`benches/benches/<bench>.rs`) says exactly what each \
         row does.\n"
    );
    for wf in &report.workloads {
        let w = wf.workload;
        let better = if w.unit.higher_is_better() {
            "higher is better"
        } else {
            "lower is better"
        };
        let _ = writeln!(
            s,
            "#### {}: {}\n\n{}, {better}; `cargo bench -p multiproc-benches --bench {}`.\n",
            w.name,
            w.title,
            w.unit.long(),
            w.bench
        );
        let _ = writeln!(
            s,
            "| column | row | id | figure | × multiproc | taken from |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        let ours = wf.primary_figure(Col::Multiproc);
        for (e, m) in &wf.entries {
            let star = if e.primary { " ★" } else { "" };
            let _ = write!(s, "| {} | {}{star} | `{}` |", e.col.title(), e.label, e.id);
            match m {
                Ok(m) => {
                    let ratio = ours.map_or(String::new(), |o| {
                        format!("{}×", sig(speedup(o.median, m.median, w.unit)))
                    });
                    let _ = writeln!(s, " {} | {ratio} | {} |", cell(m), m.how);
                }
                Err(why) => {
                    let _ = writeln!(s, " *missing* | | {why} |");
                }
            }
        }
        let _ = writeln!(
            s,
            "\n![{}: {}]({}/bars_{}.svg)\n",
            w.name, w.title, report.svg_dir, w.key
        );
    }

    let _ = writeln!(
        s,
        "### Latency distributions\n\nEvery criterion sample of the round-trip workloads (its \
         time per iteration, so a sample of many iterations is their mean), per row: the box \
         spans the quartiles, the thick line is the median, the whiskers reach the smallest and \
         largest sample. Python's figure is a diamond (with its range as a line, where it has one).\n"
    );
    for (key, title) in DISTRIBUTIONS {
        let _ = writeln!(s, "![{title}]({}/dist_{key}.svg)\n", report.svg_dir);
    }

    if !report.unmapped.is_empty() {
        let _ = writeln!(
            s,
            "### Ids the report does not know\n\nAdd them to `ENTRIES` in \
             `benches/src/report/map.rs`:\n"
        );
        for (id, figure) in &report.unmapped {
            let _ = writeln!(s, "- `{id}`: {figure}");
        }
        s.push('\n');
    }
    if !report.problems.is_empty() {
        let _ = writeln!(s, "### Problems in this run\n");
        for p in &report.problems {
            let _ = writeln!(s, "- {p}");
        }
        s.push('\n');
    }
    s
}

/// Whether `line` opens or closes a fenced code block.
fn is_fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

/// Puts `block` between the markers of `doc`: replaces what is between them, or, on the first
/// run, inserts the markers after the introduction (before the first `## ` heading outside a
/// code block; at the end if there is none).
///
/// # Errors
///
/// If the markers are there but not once each, in order.
pub fn splice(doc: &str, block: &str) -> Result<String, String> {
    let lines: Vec<&str> = doc.lines().collect();
    let begins: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim() == BEGIN)
        .collect();
    let ends: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim() == END)
        .collect();
    let generated = format!("{BEGIN}\n{}\n{END}", block.trim_end());
    let (before, after): (&[&str], &[&str]) = match (begins.as_slice(), ends.as_slice()) {
        ([b], [e]) if b < e => (&lines[..*b], &lines[e + 1..]),
        ([], []) => {
            let mut fenced = false;
            let mut at = lines.len();
            for (i, line) in lines.iter().enumerate() {
                if is_fence(line) {
                    fenced = !fenced;
                } else if !fenced && line.starts_with("## ") {
                    at = i;
                    break;
                }
            }
            let (before, after) = lines.split_at(at);
            let before = before.join("\n");
            let mut out = before.trim_end().to_owned();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&generated);
            out.push('\n');
            if !after.is_empty() {
                out.push('\n');
                out.push_str(&after.join("\n"));
                out.push('\n');
            }
            return Ok(out);
        }
        _ => {
            return Err(format!(
                "the markers {BEGIN} and {END} must appear once each, in that order"
            ))
        }
    };
    let mut out = before.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&generated);
    out.push('\n');
    if !after.is_empty() {
        out.push_str(&after.join("\n"));
        out.push('\n');
    }
    Ok(out)
}

/// The workloads' figures from `results`, in the table's order.
pub fn collect(results: &Results) -> Vec<WorkloadFigures> {
    WORKLOADS
        .iter()
        .map(|w| WorkloadFigures::collect(w, results))
        .collect()
}

/// How the benches of [`map::ROW_PER_PROCESS`] are run, for the header.
fn row_per_process_note() -> String {
    let names: Vec<String> = map::ROW_PER_PROCESS
        .iter()
        .map(|(bench, _)| format!("`{bench}`"))
        .collect();
    format!(
        "{} once per row, with `--exact <row>`, so that every row is measured first in a fresh \
         process (what a fork costs grows once criterion has analysed a row)",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(sig(2.137), "2.14");
        assert_eq!(sig(43.44), "43.4");
        assert_eq!(sig(123.4), "123");
        assert_eq!(sig(0.0771), "0.0771");
        assert_eq!(sig(99.96), "100");
        assert_eq!(sig(9.996), "10.0");
        assert_eq!(sig(121_212.0), "121,212");
        assert_eq!(sig(1000.0), "1,000");
        assert_eq!(sig(999.6), "1,000");
        assert_eq!(sig(0.09996), "0.100");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(speedup(2.0, 4.0, Unit::Micros("x")), 2.0);
        assert_eq!(speedup(2.0, 4.0, Unit::Mega("x")), 0.5);
    }

    #[test]
    fn splice_inserts_then_replaces() {
        let doc = "# Title\n\nIntro.\n\n```sh\n## not a heading\n```\n\n## First\n\nText.\n";
        let once = splice(doc, "one").unwrap();
        assert_eq!(
            once,
            "# Title\n\nIntro.\n\n```sh\n## not a heading\n```\n\n<!-- report:begin -->\none\n\
             <!-- report:end -->\n\n## First\n\nText.\n"
        );
        let twice = splice(&once, "two\n").unwrap();
        assert_eq!(twice, once.replace("\none\n", "\ntwo\n"));
        assert!(splice("a\n<!-- report:end -->\n<!-- report:begin -->\n", "x").is_err());
        assert!(splice("<!-- report:begin -->\n", "x").is_err());
        assert_eq!(
            splice("# T\n\nNo sections.\n", "x").unwrap(),
            "# T\n\nNo sections.\n\n<!-- report:begin -->\nx\n<!-- report:end -->\n"
        );
    }
}
