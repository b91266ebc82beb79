//! Charts as inline SVG (no scripts, no network): scatter (with the y = x line and a
//! colour per series), bar, line, histogram, CDF and box plot. Every point, bar or box is
//! one element with class `mark`, inside a plot with two axes, ticks and labels.

use std::collections::BTreeMap;
use std::fmt::Write;

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::{Chart, QueryResult};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
/// Scatter plots keep at most this many points (every k-th, deterministically).
pub const MAX_POINTS: usize = 5000;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// A column as numbers (NULLs and non-numbers left out as `None`).
fn numbers(result: &QueryResult, column: &str) -> Result<Vec<Option<f64>>, String> {
    let index = result
        .schema
        .index_of(column)
        .map_err(|_| format!("no column '{column}' in query '{}'", result.name))?;
    let mut out = Vec::new();
    for batch in &result.batches {
        let col = batch.column(index);
        let as_f64 = match col.data_type() {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => cast(
                &cast(col, &DataType::Int64).map_err(|e| e.to_string())?,
                &DataType::Float64,
            ),
            _ => cast(col, &DataType::Float64),
        }
        .map_err(|e| format!("column '{column}' is not numeric: {e}"))?;
        let values = as_f64
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast to Float64");
        out.extend(
            (0..values.len()).map(|i| {
                (!values.is_null(i) && values.value(i).is_finite()).then(|| values.value(i))
            }),
        );
    }
    Ok(out)
}

/// A column as text.
fn texts(result: &QueryResult, column: &str) -> Result<Vec<String>, String> {
    let index = result
        .schema
        .index_of(column)
        .map_err(|_| format!("no column '{column}' in query '{}'", result.name))?;
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in &result.batches {
        let fmt = ArrayFormatter::try_new(batch.column(index).as_ref(), &options)
            .map_err(|e| e.to_string())?;
        out.extend((0..batch.num_rows()).map(|i| fmt.value(i).to_string()));
    }
    Ok(out)
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// About five round tick values covering [lo, hi].
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 20 {
        out.push(t);
        t += step;
    }
    out
}

fn label(v: f64) -> String {
    if v.abs() < 1e-12 {
        "0".to_string()
    } else if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A plot area mapping data ranges to pixels.
struct Plot {
    x: (f64, f64),
    y: (f64, f64),
}

impl Plot {
    fn new(x: (f64, f64), y: (f64, f64)) -> Plot {
        let pad = |(lo, hi): (f64, f64)| {
            if hi > lo {
                let p = (hi - lo) * 0.03;
                (lo - p, hi + p)
            } else {
                (lo - 1.0, hi + 1.0)
            }
        };
        Plot {
            x: pad(x),
            y: pad(y),
        }
    }

    fn px(&self, v: f64) -> f64 {
        LEFT + (v - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        HEIGHT - BOTTOM - (v - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    /// Axes with numeric ticks (the x axis's ticks left out when `x_ticks` is false).
    fn axes(&self, out: &mut String, x_label: &str, y_label: &str, x_ticks: bool) {
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
        let _ = write!(
            out,
            r##"<g class="axes" stroke="#333" fill="none"><line class="axis x" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/><line class="axis y" x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/></g>"##
        );
        out.push_str(r##"<g class="ticks" font-size="11" fill="#333">"##);
        if x_ticks {
            for t in ticks(self.x.0, self.x.1) {
                let x = self.px(t);
                let _ = write!(
                    out,
                    r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                    y0 + 5.0,
                    y0 + 18.0,
                    label(t)
                );
            }
        }
        for t in ticks(self.y.0, self.y.1) {
            let y = self.py(t);
            let _ = write!(
                out,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{x0}" y2="{y:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                x0 - 5.0,
                x0 - 8.0,
                y + 4.0,
                label(t)
            );
        }
        out.push_str("</g>");
        let _ = write!(
            out,
            r##"<text class="label x" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{}</text><text class="label y" transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" font-size="13">{}</text>"##,
            (x0 + x1) / 2.0,
            HEIGHT - 12.0,
            esc(x_label),
            (y0 + y1) / 2.0,
            esc(y_label)
        );
    }
}

fn open(title: &str, kind: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{0}</title><text class="title" x="{1}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{0}</text>"##,
        esc(title),
        WIDTH / 2.0
    )
}

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// One chart of `result` as SVG.
pub fn svg(chart: &Chart, result: &QueryResult) -> Result<String, String> {
    let title = chart
        .title
        .clone()
        .unwrap_or_else(|| format!("{} of {}", chart.kind, result.name));
    let need = |c: &Option<String>, what: &str| {
        c.clone()
            .ok_or_else(|| format!("a {} chart needs '{what}'", chart.kind))
    };
    match chart.kind.as_str() {
        "scatter" | "line" => {
            let xc = need(&chart.x, "x")?;
            let yc = need(&chart.y, "y")?;
            let xs = numbers(result, &xc)?;
            let ys = numbers(result, &yc)?;
            let series = match &chart.series {
                Some(s) => texts(result, s)?,
                None => vec![String::new(); xs.len()],
            };
            let mut points: Vec<(f64, f64, &str)> = xs
                .iter()
                .zip(&ys)
                .zip(&series)
                .filter_map(|((x, y), s)| Some(((*x)?, (*y)?, s.as_str())))
                .collect();
            let total = points.len();
            let mut note = String::new();
            if chart.kind == "scatter" && total > MAX_POINTS {
                let k = total.div_ceil(MAX_POINTS);
                points = points.into_iter().step_by(k).collect();
                note = format!("{} of {total} points shown (every {k}th)", points.len());
            }
            if chart.kind == "line" {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            let Some(xr) = range(points.iter().map(|p| p.0)) else {
                return Ok(empty(&title));
            };
            let yr = range(points.iter().map(|p| p.1)).expect("points");
            let (xr, yr) = if chart.kind == "scatter" {
                // The same range on both axes, so y = x is the diagonal.
                let r = (xr.0.min(yr.0), xr.1.max(yr.1));
                (r, r)
            } else {
                (xr, yr)
            };
            let plot = Plot::new(xr, yr);
            let mut out = open(&title, &chart.kind);
            plot.axes(&mut out, &xc, &yc, true);
            let names: Vec<&str> = {
                let mut n: Vec<&str> = points.iter().map(|p| p.2).collect();
                n.sort();
                n.dedup();
                n
            };
            let colour =
                |s: &str| COLOURS[names.iter().position(|n| *n == s).unwrap_or(0) % COLOURS.len()];
            if chart.kind == "scatter" {
                let _ = write!(
                    out,
                    r##"<line class="identity" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
                    plot.px(xr.0),
                    plot.py(xr.0),
                    plot.px(xr.1),
                    plot.py(xr.1)
                );
            } else {
                for name in &names {
                    let path: Vec<String> = points
                        .iter()
                        .filter(|p| p.2 == *name)
                        .map(|p| format!("{:.1},{:.1}", plot.px(p.0), plot.py(p.1)))
                        .collect();
                    let _ = write!(
                        out,
                        r##"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"##,
                        colour(name),
                        path.join(" ")
                    );
                }
            }
            for (x, y, s) in &points {
                let _ = write!(
                    out,
                    r##"<circle class="mark" cx="{:.1}" cy="{:.1}" r="{}" fill="{}" fill-opacity="0.6"/>"##,
                    plot.px(*x),
                    plot.py(*y),
                    if chart.kind == "scatter" { 2.5 } else { 3.0 },
                    colour(s)
                );
            }
            legend(&mut out, &names, &colour);
            if !note.is_empty() {
                let _ = write!(
                    out,
                    r##"<text class="note" x="{}" y="{}" text-anchor="end" font-size="11">{}</text>"##,
                    WIDTH - RIGHT,
                    HEIGHT - 30.0,
                    esc(&note)
                );
            }
            out.push_str("</svg>");
            Ok(out)
        }
        "bar" => {
            let xc = need(&chart.x, "x")?;
            let yc = need(&chart.y, "y")?;
            let labels = texts(result, &xc)?;
            let ys = numbers(result, &yc)?;
            let bars: Vec<(String, f64)> = labels
                .into_iter()
                .zip(ys)
                .filter_map(|(l, y)| Some((l, y?)))
                .collect();
            if bars.is_empty() {
                return Ok(empty(&title));
            }
            let lo = bars.iter().map(|b| b.1).fold(0.0, f64::min);
            let hi = bars.iter().map(|b| b.1).fold(0.0, f64::max);
            let plot = Plot::new((0.0, bars.len() as f64), (lo, hi));
            let mut out = open(&title, "bar");
            plot.axes(&mut out, &xc, &yc, false);
            let slot = (plot.px(1.0) - plot.px(0.0)).abs();
            for (i, (l, y)) in bars.iter().enumerate() {
                let x = plot.px(i as f64) + slot * 0.15;
                let (top, bottom) = (plot.py(y.max(0.0)), plot.py(y.min(0.0)));
                let _ = write!(
                    out,
                    r##"<rect class="mark" x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
                    slot * 0.7,
                    (bottom - top).max(0.5),
                    COLOURS[0],
                    esc(l),
                    label(*y),
                    x + slot * 0.35,
                    HEIGHT - BOTTOM + 16.0,
                    esc(&short(l))
                );
            }
            out.push_str("</svg>");
            Ok(out)
        }
        "histogram" => {
            let xc = need(&chart.x, "x")?;
            let xs: Vec<f64> = numbers(result, &xc)?.into_iter().flatten().collect();
            let Some((lo, hi)) = range(xs.iter().copied()) else {
                return Ok(empty(&title));
            };
            let bins = 20usize;
            let width = if hi > lo {
                (hi - lo) / bins as f64
            } else {
                1.0
            };
            let mut counts = vec![0usize; bins];
            for x in &xs {
                let i = (((x - lo) / width) as usize).min(bins - 1);
                counts[i] += 1;
            }
            let top = *counts.iter().max().unwrap_or(&1) as f64;
            let plot = Plot::new((lo, lo + width * bins as f64), (0.0, top));
            let mut out = open(&title, "histogram");
            plot.axes(&mut out, &xc, "count", true);
            for (i, c) in counts.iter().enumerate() {
                let x0 = plot.px(lo + width * i as f64);
                let x1 = plot.px(lo + width * (i + 1) as f64);
                let y = plot.py(*c as f64);
                let _ = write!(
                    out,
                    r##"<rect class="mark" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="#fff"><title>{c}</title></rect>"##,
                    (x1 - x0).max(0.5),
                    (plot.py(0.0) - y).max(0.0),
                    COLOURS[0]
                );
            }
            out.push_str("</svg>");
            Ok(out)
        }
        "cdf" => {
            let xc = need(&chart.x, "x")?;
            let mut xs: Vec<f64> = numbers(result, &xc)?.into_iter().flatten().collect();
            xs.sort_by(f64::total_cmp);
            let Some((lo, hi)) = range(xs.iter().copied()) else {
                return Ok(empty(&title));
            };
            let n = xs.len() as f64;
            let plot = Plot::new((lo, hi), (0.0, 1.0));
            let mut out = open(&title, "cdf");
            plot.axes(&mut out, &xc, "fraction", true);
            let mut path = format!("M{:.1},{:.1}", plot.px(lo), plot.py(0.0));
            for (i, x) in xs.iter().enumerate() {
                let _ = write!(
                    path,
                    " H{:.1} V{:.1}",
                    plot.px(*x),
                    plot.py((i + 1) as f64 / n)
                );
            }
            let _ = write!(
                out,
                r##"<path d="{path}" fill="none" stroke="{}" stroke-width="1.5"/>"##,
                COLOURS[0]
            );
            for (i, x) in xs.iter().enumerate() {
                let _ = write!(
                    out,
                    r##"<circle class="mark" cx="{:.1}" cy="{:.1}" r="1.5" fill="{}"/>"##,
                    plot.px(*x),
                    plot.py((i + 1) as f64 / n),
                    COLOURS[0]
                );
            }
            out.push_str("</svg>");
            Ok(out)
        }
        "box" => {
            let xc = need(&chart.x, "x")?;
            let yc = need(&chart.y, "y")?;
            let groups_text = texts(result, &xc)?;
            let ys = numbers(result, &yc)?;
            let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for (g, y) in groups_text.into_iter().zip(ys) {
                if let Some(y) = y {
                    groups.entry(g).or_default().push(y);
                }
            }
            if groups.is_empty() {
                return Ok(empty(&title));
            }
            let stats: Vec<(String, [f64; 5])> = groups
                .into_iter()
                .map(|(g, mut v)| {
                    v.sort_by(f64::total_cmp);
                    let q = |p: f64| {
                        let h = (v.len() - 1) as f64 * p;
                        let (i, f) = (h.floor() as usize, h - h.floor());
                        v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * f
                    };
                    let (q1, q2, q3) = (q(0.25), q(0.5), q(0.75));
                    let iqr = q3 - q1;
                    let lo = v
                        .iter()
                        .copied()
                        .find(|x| *x >= q1 - 1.5 * iqr)
                        .unwrap_or(q1);
                    let hi = v
                        .iter()
                        .rev()
                        .copied()
                        .find(|x| *x <= q3 + 1.5 * iqr)
                        .unwrap_or(q3);
                    (g, [lo, q1, q2, q3, hi])
                })
                .collect();
            let lo = stats.iter().map(|s| s.1[0]).fold(f64::INFINITY, f64::min);
            let hi = stats
                .iter()
                .map(|s| s.1[4])
                .fold(f64::NEG_INFINITY, f64::max);
            let plot = Plot::new((0.0, stats.len() as f64), (lo, hi));
            let mut out = open(&title, "box");
            plot.axes(&mut out, &xc, &yc, false);
            let slot = (plot.px(1.0) - plot.px(0.0)).abs();
            for (i, (g, [w0, q1, q2, q3, w1])) in stats.iter().enumerate() {
                let cx = plot.px(i as f64 + 0.5);
                let half = slot * 0.3;
                let _ = write!(
                    out,
                    r##"<g class="mark"><line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="#333"/><line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="#333"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.5" stroke="#333"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/><title>{}: median {}</title></g><text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
                    plot.py(*w0),
                    plot.py(*q1),
                    plot.py(*q3),
                    plot.py(*w1),
                    cx - half,
                    plot.py(*q3),
                    half * 2.0,
                    (plot.py(*q1) - plot.py(*q3)).max(0.5),
                    COLOURS[i % COLOURS.len()],
                    cx - half,
                    plot.py(*q2),
                    cx + half,
                    plot.py(*q2),
                    esc(g),
                    label(*q2),
                    HEIGHT - BOTTOM + 16.0,
                    esc(&short(g))
                );
            }
            out.push_str("</svg>");
            Ok(out)
        }
        other => Err(format!(
            "unknown chart type '{other}' (scatter, line, bar, histogram, cdf, box)"
        )),
    }
}

fn short(label: &str) -> String {
    if label.chars().count() > 18 {
        format!("{}…", label.chars().take(17).collect::<String>())
    } else {
        label.to_string()
    }
}

fn legend(out: &mut String, names: &[&str], colour: &dyn Fn(&str) -> &'static str) {
    if names.len() < 2 {
        return;
    }
    for (i, n) in names.iter().enumerate() {
        let y = TOP + 8.0 + 16.0 * i as f64;
        let _ = write!(
            out,
            r##"<g class="legend"><circle cx="{:.1}" cy="{y:.1}" r="4" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text></g>"##,
            LEFT + 14.0,
            colour(n),
            LEFT + 22.0,
            y + 4.0,
            esc(n)
        );
    }
}

fn empty(title: &str) -> String {
    format!(
        "{}<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text></svg>",
        open(title, "empty"),
        WIDTH / 2.0,
        HEIGHT / 2.0
    )
}
