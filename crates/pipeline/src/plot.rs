//! Charts with plotters: line plots of a measurement against a sweep key, PNG and SVG, with the
//! DejaVu Sans font compiled in (no system fonts; byte-identical output run to run).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::error::{PipelineError, Result};
use crate::spec::Plot;
use crate::table::{Cell, Table};

static FONTS: Once = Once::new();

fn register_fonts() {
    FONTS.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn num(c: &Cell) -> Option<f64> {
    match c {
        Cell::F(v) => *v,
        Cell::I(v) => v.map(|x| x as f64),
        Cell::S(_) => None,
    }
}

/// Series (label → sorted (x, y)) of a plot from a table.
pub fn series(
    p: &Plot,
    t: &Table,
) -> std::result::Result<BTreeMap<String, Vec<(f64, f64)>>, String> {
    let col = |name: &str| {
        t.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("plot `{}`: no column `{name}`", p.file))
    };
    let (xi, vi, mi) = (col(&p.x)?, col("value")?, col("measure")?);
    // `group` may list several columns separated by commas (e.g. "model.arch,model.dt").
    let groups: Vec<(String, usize)> = match p.group.as_deref() {
        Some(g) => g
            .split(',')
            .map(|c| c.trim())
            .map(|c| col(c).map(|i| (c.to_string(), i)))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let filters: Vec<(usize, String)> = p
        .filter
        .iter()
        .map(|(c, v)| {
            let want = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => format!("{}", *i as f64),
                toml::Value::Float(f) => format!("{f}"),
                other => other.to_string(),
            };
            col(c).map(|i| (i, want))
        })
        .collect::<Result<_, _>>()?;
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &t.rows {
        if filters.iter().any(|(i, want)| {
            let have = match &r[*i] {
                Cell::S(Some(s)) => s.trim_matches('"').to_string(),
                Cell::F(Some(v)) => format!("{v}"),
                Cell::I(Some(v)) => format!("{}", *v as f64),
                other => other.to_string(),
            };
            &have != want
        }) {
            continue;
        }
        let m = r[mi].to_string();
        if !p.measures.is_empty() && !p.measures.contains(&m) {
            continue;
        }
        let (Some(x), Some(y)) = (num(&r[xi]), num(&r[vi])) else {
            continue;
        };
        let label = if p.kind == "modes" {
            // One curve per (mode, trial): x = step.
            let (ii, ti) = (col("index")?, col("trial")?);
            format!("{m} mode {} (trial {})", r[ii], r[ti])
        } else if groups.is_empty() {
            m
        } else {
            let parts: Vec<String> = groups
                .iter()
                .map(|(c, i)| format!("{c} = {}", r[*i]))
                .collect();
            format!("{m} ({})", parts.join(", "))
        };
        out.entry(label).or_default().push((x, y));
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        if p.kind == "cumulative" {
            // Cumulative spectrum: fraction of the total reached by the first k values.
            let total: f64 = v.iter().map(|q| q.1).sum();
            let mut acc = 0.0;
            for q in v.iter_mut() {
                acc += q.1;
                q.1 = if total != 0.0 { acc / total } else { f64::NAN };
            }
        }
        if let Some(xm) = p.x_max {
            v.retain(|q| q.0 <= xm);
        }
    }
    Ok(out)
}

/// A viridis-like colour for t ∈ [0, 1].
fn colormap(t: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.0, (68.0, 1.0, 84.0)),
        (0.25, (59.0, 82.0, 139.0)),
        (0.5, (33.0, 145.0, 140.0)),
        (0.75, (94.0, 201.0, 98.0)),
        (1.0, (253.0, 231.0, 37.0)),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let i = STOPS.iter().position(|s| s.0 >= t).unwrap_or(4).max(1);
    let (a, b) = (STOPS[i - 1], STOPS[i]);
    let f = (t - a.0) / (b.0 - a.0);
    let mix = |x: f64, y: f64| (x + f * (y - x)).round() as u8;
    RGBColor(mix(a.1.0, b.1.0), mix(a.1.1, b.1.1), mix(a.1.2, b.1.2))
}

/// Heatmap cells: (x, y, value) of the first plotted measure, x and y sweep columns.
fn heat_cells(p: &Plot, t: &Table) -> std::result::Result<Vec<(f64, f64, f64)>, String> {
    let col = |name: &str| {
        t.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("plot `{}`: no column `{name}`", p.file))
    };
    let yname =
        p.y.as_deref()
            .ok_or_else(|| format!("plot `{}`: a heatmap needs `y` (a sweep column)", p.file))?;
    let (xi, yi, vi, mi) = (col(&p.x)?, col(yname)?, col("value")?, col("measure")?);
    let want = p.measures.first().cloned();
    Ok(t.rows
        .iter()
        .filter(|r| want.as_ref().is_none_or(|m| &r[mi].to_string() == m))
        .filter_map(|r| Some((num(&r[xi])?, num(&r[yi])?, num(&r[vi])?)))
        .collect())
}

fn draw_heatmap<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    cells: &[(f64, f64, f64)],
) -> std::result::Result<(), String>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    let mut xs: Vec<f64> = cells.iter().map(|c| c.0).collect();
    let mut ys: Vec<f64> = cells.iter().map(|c| c.1).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    ys.sort_by(f64::total_cmp);
    ys.dedup();
    if xs.is_empty() || ys.is_empty() {
        return Err(format!("plot `{}` has no cells", p.file));
    }
    let (lo, hi) = cells
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, c| {
            (a.0.min(c.2), a.1.max(c.2))
        });
    root.fill(&WHITE).map_err(e)?;
    let (main, bar) = root.split_horizontally(820);
    let mut chart = ChartBuilder::on(&main)
        .caption(&p.title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..xs.len() as f64 - 0.5, -0.5..ys.len() as f64 - 0.5)
        .map_err(e)?;
    let (xs2, ys2) = (xs.clone(), ys.clone());
    let fmt = |v: f64| {
        if v.abs() >= 1e-3 && v.abs() < 1e4 {
            format!("{v:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            format!("{v:.1e}")
        }
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(if p.x_label.is_empty() {
            p.x.as_str()
        } else {
            p.x_label.as_str()
        })
        .y_desc(p.y_label.as_str())
        .x_labels(xs.len().min(12))
        .y_labels(ys.len().min(12))
        .x_label_formatter(&|v| {
            xs2.get(v.round().max(0.0) as usize)
                .map_or(String::new(), |x| fmt(*x))
        })
        .y_label_formatter(&|v| {
            ys2.get(v.round().max(0.0) as usize)
                .map_or(String::new(), |y| fmt(*y))
        })
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(e)?;
    let norm = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    chart
        .draw_series(cells.iter().filter_map(|&(x, y, v)| {
            let i = xs.iter().position(|q| *q == x)? as f64;
            let j = ys.iter().position(|q| *q == y)? as f64;
            Some(Rectangle::new(
                [(i - 0.5, j - 0.5), (i + 0.5, j + 0.5)],
                colormap(norm(v)).filled(),
            ))
        }))
        .map_err(e)?;
    // Colour bar with its value range.
    let mut cb = ChartBuilder::on(&bar)
        .margin_top(60)
        .margin_bottom(70)
        .margin_right(10)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, lo..hi.max(lo + 1e-300))
        .map_err(e)?;
    cb.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc("value")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    let steps = 100;
    cb.draw_series((0..steps).map(|k| {
        let (a, b) = (
            lo + (hi - lo) * k as f64 / steps as f64,
            lo + (hi - lo) * (k + 1) as f64 / steps as f64,
        );
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            colormap(k as f64 / (steps - 1) as f64).filled(),
        )
    }))
    .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

fn bounds(
    p: &Plot,
    data: &BTreeMap<String, Vec<(f64, f64)>>,
) -> std::result::Result<(f64, f64, f64, f64), String> {
    let pts: Vec<(f64, f64)> = data
        .values()
        .flatten()
        .copied()
        .filter(|q| (!p.log_x || q.0 > 0.0) && (!p.log_y || q.1 > 0.0))
        .collect();
    let (mut x0, mut x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, q| {
        (a.0.min(q.0), a.1.max(q.0))
    });
    let (mut y0, mut y1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, q| {
        (a.0.min(q.1), a.1.max(q.1))
    });
    if !(x0.is_finite() && x1.is_finite() && y0.is_finite() && y1.is_finite()) {
        return Err(format!("plot `{}` has no finite points", p.file));
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if p.log_y {
        // Whole decades, so the log axis always has labelled ticks.
        y0 = 10f64.powf(y0.log10().floor());
        y1 = 10f64.powf(y1.log10().ceil());
        if y1 <= y0 {
            y1 = y0 * 10.0;
        }
    } else {
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        let pad = 0.05 * (y1 - y0);
        y0 -= pad;
        y1 += pad;
    }
    if !p.log_x {
        let pad = 0.02 * (x1 - x0);
        x0 -= pad;
        x1 += pad;
    }
    Ok((x0, x1, y0, y1))
}

fn draw<DB, X, Y>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    data: &BTreeMap<String, Vec<(f64, f64)>>,
    xs: X,
    ys: Y,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&p.title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(xs, ys)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(if p.x_label.is_empty() {
            p.x.as_str()
        } else {
            p.x_label.as_str()
        })
        .y_desc(p.y_label.as_str())
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(e)?;
    if let Some(yh) = p.hline {
        let (xa, xb) = (chart.x_range().start, chart.x_range().end);
        let grey = RGBColor(120, 120, 120);
        let n = 60;
        // Dashed: short segments.
        chart
            .draw_series((0..n).step_by(2).map(|k| {
                let (a, b) = (
                    xa + (xb - xa) * k as f64 / n as f64,
                    xa + (xb - xa) * (k + 1) as f64 / n as f64,
                );
                PathElement::new(vec![(a, yh), (b, yh)], grey.stroke_width(1))
            }))
            .map_err(e)?;
    }
    for (i, (label, pts)) in data.iter().enumerate() {
        // Mode curves: colour by mode, one legend entry per mode (its first trial), no markers.
        let mode = (p.kind == "modes").then(|| {
            label
                .split(" mode ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|k| k.parse::<usize>().ok())
                .unwrap_or(0)
        });
        let c = PALETTE[mode.unwrap_or(i) % PALETTE.len()];
        let pts: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|q| (!p.log_x || q.0 > 0.0) && (!p.log_y || q.1 > 0.0))
            .collect();
        let width = if mode.is_some() { 1 } else { 2 };
        let series = chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(width)))
            .map_err(e)?;
        if mode.is_none() || label.ends_with("(trial 0)") {
            let text = if mode.is_some() {
                label.trim_end_matches(" (trial 0)").to_string() + " (all trials)"
            } else {
                label.clone()
            };
            series.label(text).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
            });
        }
        if mode.is_none() {
            chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, 3, c.filled())))
                .map_err(e)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

fn draw_any<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    data: &BTreeMap<String, Vec<(f64, f64)>>,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let (x0, x1, y0, y1) = bounds(p, data)?;
    match (p.log_x, p.log_y) {
        (false, false) => draw(root, p, data, x0..x1, y0..y1),
        (true, false) => draw(root, p, data, (x0..x1).log_scale(), y0..y1),
        (false, true) => draw(root, p, data, x0..x1, (y0..y1).log_scale()),
        (true, true) => draw(root, p, data, (x0..x1).log_scale(), (y0..y1).log_scale()),
    }
}

/// Writes a chart's PNG and SVG (each to a temporary file, then renamed into place).
pub fn write(p: &Plot, t: &Table, dir: &Path) -> Result<()> {
    register_fonts();
    let err = |m: String| PipelineError::Chart {
        path: dir.join(&p.file),
        message: m,
    };
    let size = (960u32, 600u32);
    if p.kind == "heatmap" {
        let cells = heat_cells(p, t).map_err(err)?;
        let png = dir.join(format!("{}.png", p.file));
        std::fs::create_dir_all(dir).map_err(crate::error::io(dir))?;
        let tmp = dir.join(format!(".{}.tmp{}.png", p.file, std::process::id()));
        draw_heatmap(
            BitMapBackend::new(&tmp, size).into_drawing_area(),
            p,
            &cells,
        )
        .map_err(err)?;
        std::fs::rename(&tmp, &png).map_err(crate::error::io(&png))?;
        let mut svg = String::new();
        draw_heatmap(
            SVGBackend::with_string(&mut svg, size).into_drawing_area(),
            p,
            &cells,
        )
        .map_err(err)?;
        return crate::runner::write_atomic(&dir.join(format!("{}.svg", p.file)), svg.as_bytes());
    }
    let data = series(p, t).map_err(err)?;
    let png = dir.join(format!("{}.png", p.file));
    std::fs::create_dir_all(dir).map_err(crate::error::io(dir))?;
    let tmp = dir.join(format!(".{}.tmp{}.png", p.file, std::process::id()));
    draw_any(BitMapBackend::new(&tmp, size).into_drawing_area(), p, &data).map_err(err)?;
    std::fs::rename(&tmp, &png).map_err(crate::error::io(&png))?;
    let mut svg = String::new();
    draw_any(
        SVGBackend::with_string(&mut svg, size).into_drawing_area(),
        p,
        &data,
    )
    .map_err(err)?;
    crate::runner::write_atomic(&dir.join(format!("{}.svg", p.file)), svg.as_bytes())?;
    Ok(())
}
