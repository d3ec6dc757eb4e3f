//! A small SVG writer and the report's two charts: bars per workload on a log scale, and the
//! distribution of criterion's samples per implementation (a box with the points over it).

use super::map::{Col, Unit};
use super::markdown::sig;
use super::results::quantile;
use std::fmt::Write;

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG document being written.
struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    fn new(width: f64, height: f64) -> Svg {
        Svg {
            width,
            height,
            body: String::new(),
        }
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, style: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" {style}/>"#,
            w.max(0.0)
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {style}/>"#
        );
    }

    fn circle(&mut self, x: f64, y: f64, r: f64, style: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}" {style}/>"#
        );
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, size: f64, style: &str, text: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{size}" {style}>{}</text>"#,
            esc(text)
        );
    }

    /// The chart's title and, under it, what it shows.
    fn heading(&mut self, title: &str, subtitle: &str) {
        self.text(12.0, 20.0, "start", 15.0, r#"font-weight="bold""#, title);
        self.text(12.0, 37.0, "start", 11.0, r##"fill="#555""##, subtitle);
    }

    /// Marks a row at height `mid` that has no figure.
    fn missing(&mut self, axis: &LogAxis, mid: f64) {
        self.text(
            axis.x0 + 4.0,
            mid + 4.0,
            "start",
            11.0,
            r##"fill="#c00""##,
            "missing",
        );
    }

    fn finish(self) -> String {
        format!(
            concat!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" "#,
                r#"viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif">"#,
                "\n",
                r#"<rect width="100%" height="100%" fill="white"/>"#,
                "\n{body}</svg>\n"
            ),
            w = self.width,
            h = self.height,
            body = self.body
        )
    }
}

/// A logarithmic axis over whole decades covering the values.
struct LogAxis {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LogAxis {
    fn new(values: impl IntoIterator<Item = f64>, x0: f64, x1: f64) -> LogAxis {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
            min = min.min(v);
            max = max.max(v);
        }
        if !min.is_finite() {
            (min, max) = (1.0, 10.0);
        }
        let lo = min.log10().floor();
        let mut hi = max.log10().ceil();
        if hi <= lo {
            hi = lo + 1.0;
        }
        LogAxis { lo, hi, x0, x1 }
    }

    fn x(&self, v: f64) -> f64 {
        let t = (v.max(10f64.powf(self.lo)).log10() - self.lo) / (self.hi - self.lo);
        self.x0 + t * (self.x1 - self.x0)
    }

    /// Grid lines (decades dark, 2 and 5 light) and decade labels from `top` to `bottom`.
    fn draw(&self, svg: &mut Svg, top: f64, bottom: f64, unit: &str) {
        let mut decade = self.lo;
        while decade <= self.hi {
            let base = 10f64.powf(decade);
            let x = self.x(base);
            svg.line(x, top, x, bottom, r##"stroke="#999" stroke-width="0.8""##);
            let label = if decade >= 0.0 {
                super::markdown::thousands(base)
            } else {
                format!("{base:.0$}", (-decade) as usize)
            };
            svg.text(x, bottom + 14.0, "middle", 11.0, r##"fill="#333""##, &label);
            if decade < self.hi {
                for m in [2.0, 5.0] {
                    let x = self.x(base * m);
                    svg.line(x, top, x, bottom, r##"stroke="#ddd" stroke-width="0.6""##);
                    // A single decade gets its 2 and 5 labelled too.
                    if self.hi - self.lo <= 1.0 {
                        svg.text(
                            x,
                            bottom + 14.0,
                            "middle",
                            10.0,
                            r##"fill="#777""##,
                            &sig(base * m),
                        );
                    }
                }
            }
            decade += 1.0;
        }
        svg.text(
            (self.x0 + self.x1) / 2.0,
            bottom + 30.0,
            "middle",
            11.0,
            r##"fill="#333""##,
            &format!("{unit} (log scale)"),
        );
    }
}

/// One bar: who, what, and the figure (or why there is none).
#[derive(Debug, Clone)]
pub struct Bar {
    /// The column.
    pub col: Col,
    /// The row's label.
    pub label: String,
    /// The median and its spread, or `None` when missing.
    pub value: Option<(f64, Option<(f64, f64)>)>,
}

const LABEL_W: f64 = 330.0;
const WIDTH: f64 = 860.0;
const RIGHT: f64 = 70.0;

/// A horizontal bar chart on a log scale, one bar per row, with the spread as a whisker.
pub fn bars(title: &str, unit: Unit, bars: &[Bar]) -> String {
    let row_h = 22.0;
    let top = 48.0;
    let bottom = top + row_h * bars.len() as f64;
    let mut svg = Svg::new(WIDTH, bottom + 44.0);
    let better = if unit.higher_is_better() {
        "higher is better"
    } else {
        "lower is better"
    };
    svg.heading(
        title,
        &format!(
            "{}, {better}; median, whisker: the spread (see the table)",
            unit.long()
        ),
    );
    let values = bars.iter().filter_map(|b| b.value).flat_map(|(m, r)| {
        let (a, b) = r.unwrap_or((m, m));
        [m, a, b]
    });
    let axis = LogAxis::new(values, LABEL_W + 10.0, WIDTH - RIGHT);
    axis.draw(&mut svg, top - 4.0, bottom, &unit.long());
    for (i, bar) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let mid = y + row_h / 2.0;
        let label = format!("{}: {}", bar.col.title(), bar.label);
        svg.text(LABEL_W, mid + 4.0, "end", 11.0, r##"fill="#222""##, &label);
        match bar.value {
            Some((median, range)) => {
                let x = axis.x(median);
                svg.rect(
                    axis.x0,
                    y + 4.0,
                    x - axis.x0,
                    row_h - 8.0,
                    &format!(r#"fill="{}" fill-opacity="0.85""#, bar.col.colour()),
                );
                if let Some((a, b)) = range {
                    let (xa, xb) = (axis.x(a), axis.x(b));
                    let style = r##"stroke="#111" stroke-width="1.2""##;
                    svg.line(xa, mid, xb, mid, style);
                    svg.line(xa, mid - 4.0, xa, mid + 4.0, style);
                    svg.line(xb, mid - 4.0, xb, mid + 4.0, style);
                }
                let end = range.map_or(x, |(a, b)| axis.x(a.max(b))).max(x);
                svg.text(
                    end + 4.0,
                    mid + 4.0,
                    "start",
                    10.0,
                    r##"fill="#222""##,
                    &sig(median),
                );
            }
            None => svg.missing(&axis, mid),
        }
    }
    svg.finish()
}

/// One implementation's samples for [`distribution`].
#[derive(Debug, Clone)]
pub struct Samples {
    /// The column.
    pub col: Col,
    /// The row's label.
    pub label: String,
    /// criterion's samples in the unit (empty for a Python figure).
    pub samples: Vec<f64>,
    /// A single figure (Python's), drawn as a diamond, with its range (if it has one) as a
    /// line.
    pub single: Option<(f64, Option<(f64, f64)>)>,
}

/// A distribution chart on a log scale: per row, every sample as a point, a box from the
/// first to the third quartile with the median marked, whiskers from the smallest to the
/// largest sample; a single figure (Python's one run) as a diamond.
pub fn distribution(title: &str, unit: Unit, rows: &[Samples]) -> String {
    let row_h = 30.0;
    let top = 62.0;
    let bottom = top + row_h * rows.len() as f64;
    let mut svg = Svg::new(WIDTH, bottom + 44.0);
    svg.heading(
        title,
        &format!(
            "{}, {} is better. Points: criterion's samples (each one's time per iteration).",
            unit.long(),
            if unit.higher_is_better() {
                "higher"
            } else {
                "lower"
            }
        ),
    );
    svg.text(
        12.0,
        51.0,
        "start",
        11.0,
        r##"fill="#555""##,
        "Box: the quartiles, thick line: the median, whiskers: min to max. Diamond: Python's \
         figure (a line: its range).",
    );
    let values = rows.iter().flat_map(|r| {
        let single = r.single.into_iter().flat_map(|(v, range)| {
            let (a, b) = range.unwrap_or((v, v));
            [v, a, b]
        });
        r.samples.iter().copied().chain(single)
    });
    let axis = LogAxis::new(values, LABEL_W + 10.0, WIDTH - RIGHT);
    axis.draw(&mut svg, top - 4.0, bottom, &unit.long());
    for (i, row) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let mid = y + row_h / 2.0;
        let colour = row.col.colour();
        svg.text(
            LABEL_W,
            mid + 4.0,
            "end",
            11.0,
            r##"fill="#222""##,
            &format!("{}: {}", row.col.title(), row.label),
        );
        if i % 2 == 1 {
            svg.rect(
                axis.x0,
                y,
                axis.x1 - axis.x0,
                row_h,
                r##"fill="#f4f4f4" fill-opacity="0.6""##,
            );
        }
        let mut sorted = row.samples.clone();
        sorted.sort_by(f64::total_cmp);
        if !sorted.is_empty() {
            let (q1, q2, q3) = (
                quantile(&sorted, 0.25),
                quantile(&sorted, 0.5),
                quantile(&sorted, 0.75),
            );
            let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
            let style = format!(r#"stroke="{colour}" stroke-width="1""#);
            svg.line(axis.x(min), mid, axis.x(q1), mid, &style);
            svg.line(axis.x(q3), mid, axis.x(max), mid, &style);
            svg.line(axis.x(min), mid - 5.0, axis.x(min), mid + 5.0, &style);
            svg.line(axis.x(max), mid - 5.0, axis.x(max), mid + 5.0, &style);
            svg.rect(
                axis.x(q1),
                mid - 9.0,
                axis.x(q3) - axis.x(q1),
                18.0,
                &format!(r#"fill="{colour}" fill-opacity="0.15" stroke="{colour}""#),
            );
            svg.line(
                axis.x(q2),
                mid - 9.0,
                axis.x(q2),
                mid + 9.0,
                &format!(r#"stroke="{colour}" stroke-width="2.5""#),
            );
            // The points, spread vertically by a fixed sequence (no randomness: the same data
            // draws the same chart).
            for (k, v) in row.samples.iter().enumerate() {
                let jitter = ((k as f64 * 0.618_034).fract() - 0.5) * 14.0;
                svg.circle(
                    axis.x(*v),
                    mid + jitter,
                    1.8,
                    &format!(r#"fill="{colour}" fill-opacity="0.55""#),
                );
            }
            svg.text(
                axis.x(max) + 4.0,
                mid + 4.0,
                "start",
                10.0,
                r##"fill="#222""##,
                &sig(q2),
            );
        }
        if let Some((v, range)) = row.single {
            let x = axis.x(v);
            if let Some((a, b)) = range {
                let style = format!(r#"stroke="{colour}" stroke-width="1.5""#);
                svg.line(axis.x(a), mid, axis.x(b), mid, &style);
            }
            let _ = writeln!(
                svg.body,
                r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
                x,
                mid - 6.0,
                x + 6.0,
                mid,
                x,
                mid + 6.0,
                x - 6.0,
                mid
            );
            svg.text(
                x + 9.0,
                mid + 4.0,
                "start",
                10.0,
                r##"fill="#222""##,
                &sig(v),
            );
        }
        if sorted.is_empty() && row.single.is_none() {
            svg.missing(&axis, mid);
        }
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_covers_whole_decades() {
        let a = LogAxis::new([2.0, 300.0], 0.0, 300.0);
        assert_eq!((a.lo, a.hi), (0.0, 3.0));
        assert_eq!(a.x(1.0), 0.0);
        assert_eq!(a.x(10.0), 100.0);
        assert_eq!(a.x(1000.0), 300.0);
        let one = LogAxis::new([10.0], 0.0, 100.0);
        assert_eq!((one.lo, one.hi), (1.0, 2.0));
    }

    #[test]
    fn charts_are_well_formed() {
        let svg = bars(
            "W1 <test> & more",
            Unit::Micros("round trip"),
            &[
                Bar {
                    col: Col::Multiproc,
                    label: "pipe()".into(),
                    value: Some((2.0, Some((1.5, 2.5)))),
                },
                Bar {
                    col: Col::Python,
                    label: "Pipe()".into(),
                    value: None,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("W1 &lt;test&gt; &amp; more") && svg.contains("missing"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        let svg = distribution(
            "W1",
            Unit::Micros("round trip"),
            &[Samples {
                col: Col::Multiproc,
                label: "pipe()".into(),
                samples: vec![1.0, 2.0, 3.0],
                single: None,
            }],
        );
        assert_eq!(svg.matches("<circle").count(), 3);
        // Decade labels are plain numbers.
        assert!(
            svg.contains(">1</text>") && svg.contains(">10</text>"),
            "{svg}"
        );
        let small = bars(
            "t",
            Unit::Nanos("x"),
            &[Bar {
                col: Col::Raw,
                label: "r".into(),
                value: Some((0.05, None)),
            }],
        );
        assert!(
            small.contains(">0.01</text>") && small.contains(">0.1</text>"),
            "{small}"
        );
    }
}
