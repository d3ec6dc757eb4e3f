//! What a run produced: criterion's JSON files (`<CRITERION_HOME>/<group>/<row>/new/
//! {benchmark,estimates,sample}.json`) and Python's recorded figures, and the figure each
//! known id gives in its workload's unit.

use super::map::{self, Entry, Source, Unit};
use crate::python::{Figure, FigureValue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One criterion row, as its JSON files give it.
#[derive(Debug, Clone)]
pub struct CriterionRow {
    /// `group/function` (and `/value` if any): criterion's full id.
    pub id: String,
    /// The median time per iteration, ns (`estimates.json`).
    pub median_ns: f64,
    /// Each sample's time per iteration, ns (`sample.json`: times / iters).
    pub samples_ns: Vec<f64>,
    /// Iterations over all samples.
    pub iterations: f64,
    /// Items one iteration moves (criterion's `Throughput::Elements`), if set.
    pub elements: Option<f64>,
    /// Bytes one iteration moves (`Throughput::Bytes`), if set.
    pub bytes: Option<f64>,
    /// The directory its files are in.
    pub dir: PathBuf,
}

/// Everything a run produced, by id.
#[derive(Debug, Default)]
pub struct Results {
    /// criterion's rows.
    pub criterion: BTreeMap<String, CriterionRow>,
    /// Python's figures.
    pub python: BTreeMap<String, Figure>,
    /// What could not be read, or was found twice.
    pub errors: Vec<String>,
}

fn number(v: &Value, path: &[&str]) -> Option<f64> {
    let mut v = v;
    for key in path {
        v = v.get(key)?;
    }
    v.as_f64()
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads one row from its `new` directory.
fn read_row(new: &Path) -> Result<CriterionRow, String> {
    let bench = read_json(&new.join("benchmark.json"))?;
    let id = match bench.get("full_id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => {
            let part = |k: &str| bench.get(k).and_then(Value::as_str).map(str::to_owned);
            let group =
                part("group_id").ok_or_else(|| format!("{}: no group_id", new.display()))?;
            [Some(group), part("function_id"), part("value_str")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("/")
        }
    };
    let throughput = bench.get("throughput").cloned().unwrap_or(Value::Null);
    let kind = |k: &str| throughput.get(k).and_then(Value::as_f64);
    let elements = kind("Elements").or_else(|| {
        throughput
            .get("ElementsAndBytes")
            .and_then(|t| t.get("elements"))
            .and_then(Value::as_f64)
    });
    let bytes = kind("Bytes").or_else(|| kind("BytesDecimal")).or_else(|| {
        throughput
            .get("ElementsAndBytes")
            .and_then(|t| t.get("bytes"))
            .and_then(Value::as_f64)
    });
    let estimates = read_json(&new.join("estimates.json"))?;
    let median_ns = number(&estimates, &["median", "point_estimate"])
        .ok_or_else(|| format!("{id}: estimates.json has no median"))?;
    let sample = read_json(&new.join("sample.json"))?;
    let list = |k: &str| -> Result<Vec<f64>, String> {
        sample
            .get(k)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{id}: sample.json has no {k}"))?
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| format!("{id}: sample.json: {k}")))
            .collect()
    };
    let (iters, times) = (list("iters")?, list("times")?);
    if iters.len() != times.len() || iters.is_empty() {
        return Err(format!("{id}: sample.json's iters and times disagree"));
    }
    let samples_ns = iters.iter().zip(&times).map(|(i, t)| t / i).collect();
    Ok(CriterionRow {
        id,
        median_ns,
        samples_ns,
        iterations: iters.iter().sum(),
        elements,
        bytes,
        dir: new.to_owned(),
    })
}

/// Every `new/benchmark.json` under `dir`.
fn find_rows(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").is_file() {
            out.push(path);
        } else if path.file_name().is_none_or(|n| n != "report") {
            find_rows(&path, out);
        }
    }
}

/// How many criterion rows `dir` holds so far (for progress).
pub fn count_rows(dir: &Path) -> usize {
    let mut rows = Vec::new();
    find_rows(dir, &mut rows);
    rows.len()
}

impl Results {
    /// Reads every row under `criterion_home` and the figures in `python_record` (absent:
    /// none).
    pub fn read(criterion_home: &Path, python_record: &Path) -> Results {
        let mut results = Results::default();
        let mut dirs = Vec::new();
        find_rows(criterion_home, &mut dirs);
        dirs.sort();
        for dir in dirs {
            match read_row(&dir) {
                Ok(row) => {
                    if let Some(old) = results.criterion.get(&row.id) {
                        results.errors.push(format!(
                            "criterion id {} found twice ({} and {})",
                            row.id,
                            old.dir.display(),
                            row.dir.display()
                        ));
                    } else {
                        results.criterion.insert(row.id.clone(), row);
                    }
                }
                Err(e) => results.errors.push(e),
            }
        }
        if python_record.exists() {
            // Line by line, so that one bad figure does not hide the others.
            match std::fs::read_to_string(python_record) {
                Ok(text) => {
                    for (i, line) in text.lines().enumerate() {
                        if line.trim().is_empty() {
                            continue;
                        }
                        match Figure::parse(line) {
                            Ok(f) if results.python.contains_key(&f.id) => results
                                .errors
                                .push(format!("Python figure {} recorded twice", f.id)),
                            Ok(f) => {
                                results.python.insert(f.id.clone(), f);
                            }
                            Err(e) => results.errors.push(format!(
                                "{}:{}: {e}",
                                python_record.display(),
                                i + 1
                            )),
                        }
                    }
                }
                Err(e) => results
                    .errors
                    .push(format!("cannot read {}: {e}", python_record.display())),
            }
        }
        results
    }

    /// Ids found in the run that the map does not know, each with its figure as the run gives
    /// it (criterion's median time per iteration, or the script's figure).
    pub fn unmapped(&self) -> Vec<(String, String)> {
        use super::markdown::sig;
        let criterion = self.criterion.values().map(|row| {
            let figure = format!("median {} ns per iteration (criterion)", sig(row.median_ns));
            (row.id.clone(), figure)
        });
        let python = self.python.values().map(|f| {
            let figure = match f.value {
                FigureValue::Nanos(ns) => format!("{} ns per operation (Python)", sig(ns)),
                FigureValue::PerSecond(r) => format!("{} per second (Python)", sig(r)),
            };
            (f.id.clone(), figure)
        });
        criterion
            .chain(python)
            .filter(|(id, _)| map::entry(id).is_none())
            .collect()
    }

    /// The figure of `entry` in `unit`.
    ///
    /// # Errors
    ///
    /// Why there is none: no result for the id, no throughput where the unit needs one, a
    /// Python figure in the wrong kind of unit, or a figure that is not finite and positive.
    pub fn figure(&self, entry: &Entry, unit: Unit) -> Result<Measured, String> {
        let measured = match entry.source() {
            Source::Criterion => {
                let row = self
                    .criterion
                    .get(entry.id)
                    .ok_or_else(|| "no criterion result".to_owned())?;
                criterion_figure(row, unit)?
            }
            Source::Python => {
                let f = self
                    .python
                    .get(entry.id)
                    .ok_or_else(|| "no Python figure recorded".to_owned())?;
                python_figure(f, unit)?
            }
        };
        if !(measured.median.is_finite() && measured.median > 0.0) {
            return Err(format!("not a finite positive figure: {}", measured.median));
        }
        Ok(measured)
    }
}

/// A figure in its workload's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The median (criterion) or the script's figure (Python).
    pub median: f64,
    /// The spread, low to high, if there is one.
    pub range: Option<(f64, f64)>,
    /// Each sample, in the unit (criterion's rows only).
    pub samples: Vec<f64>,
    /// How it was taken, in a few words.
    pub how: String,
}

/// The `q` quantile (0 to 1) of sorted values, interpolated linearly between neighbours.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty());
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn criterion_figure(row: &CriterionRow, unit: Unit) -> Result<Measured, String> {
    let per_iteration = match unit {
        Unit::GibPerSec => row.bytes,
        _ => row.elements,
    };
    let convert = |ns: f64| {
        unit.from_iteration(ns, per_iteration)
            .ok_or_else(|| format!("no throughput to give {}", unit.long()))
    };
    let median = convert(row.median_ns)?;
    let mut samples = row
        .samples_ns
        .iter()
        .map(|&ns| convert(ns))
        .collect::<Result<Vec<_>, _>>()?;
    samples.sort_by(f64::total_cmp);
    let range = (quantile(&samples, 0.25), quantile(&samples, 0.75));
    Ok(Measured {
        median,
        range: Some(range),
        how: format!(
            "{} samples, {} iterations",
            row.samples_ns.len(),
            super::markdown::thousands(row.iterations)
        ),
        samples,
    })
}

fn python_figure(f: &Figure, unit: Unit) -> Result<Measured, String> {
    let convert = |x: f64| match f.value {
        FigureValue::Nanos(_) => unit.from_nanos(x),
        FigureValue::PerSecond(_) => unit.from_per_second(x),
    };
    let raw = match f.value {
        FigureValue::Nanos(x) | FigureValue::PerSecond(x) => x,
    };
    let median = convert(raw)
        .ok_or_else(|| format!("a Python figure in the wrong unit for {}", unit.long()))?;
    let range = f.range.and_then(|(a, b)| {
        let (a, b) = (convert(a)?, convert(b)?);
        Some((a.min(b), a.max(b)))
    });
    let mut how = f.note.clone().unwrap_or_else(|| "one run".to_owned());
    if let (Some(spread), Some(_)) = (&f.spread, range) {
        how = format!("{how}; range: {spread}");
    }
    Ok(Measured {
        median,
        range,
        samples: Vec::new(),
        how,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&[1.0, 3.0], 0.25), 1.5);
        assert_eq!(quantile(&[7.0], 0.75), 7.0);
    }

    /// A criterion row written as criterion writes it (the layout of its 0.8 files), read back
    /// and converted: a throughput row in M items/s, its IQR ordered low to high.
    #[test]
    fn reads_criterion_files() {
        let home = std::env::temp_dir().join(format!("multiproc-report-{}", std::process::id()));
        let new = home.join("w2_one_way_64B/multiproc_pipe/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"w2_one_way_64B","function_id":"multiproc_pipe","value_str":null,
                "throughput":{"Elements":1},"full_id":"w2_one_way_64B/multiproc_pipe",
                "directory_name":"w2_one_way_64B/multiproc_pipe","title":"w2_one_way_64B/multiproc_pipe"}"#,
        )
        .unwrap();
        std::fs::write(
            new.join("estimates.json"),
            r#"{"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":190.0,
                "upper_bound":210.0},"point_estimate":200.0,"standard_error":1.0}}"#,
        )
        .unwrap();
        // Per-iteration times 100, 200, 200, 400 ns.
        std::fs::write(
            new.join("sample.json"),
            r#"{"sampling_mode":"Linear","iters":[1.0,2.0,3.0,4.0],"times":[100.0,400.0,600.0,1600.0]}"#,
        )
        .unwrap();
        let results = Results::read(&home, &home.join("none.jsonl"));
        std::fs::remove_dir_all(&home).unwrap();
        assert!(results.errors.is_empty(), "{:?}", results.errors);
        let row = &results.criterion["w2_one_way_64B/multiproc_pipe"];
        assert_eq!(row.samples_ns, [100.0, 200.0, 200.0, 400.0]);
        let entry = map::entry("w2_one_way_64B/multiproc_pipe").unwrap();
        let m = results.figure(entry, Unit::Mega("msgs")).unwrap();
        assert_eq!(m.median, 5.0); // 1 message per 200 ns
                                   // Samples 10, 5, 5, 2.5 M/s: quartiles interpolated between 2.5 and 5, and 5 and 10.
        assert_eq!(m.range, Some((4.375, 6.25)));
        // An entry without results says so; a Python entry too.
        let other = map::entry("w2_one_way_64B/ipc_channel").unwrap();
        assert!(results.figure(other, Unit::Mega("msgs")).is_err());
        assert!(results.unmapped().is_empty());
    }
}
