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
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &t.rows {
        let m = r[mi].to_string();
        if !p.measures.is_empty() && !p.measures.contains(&m) {
            continue;
        }
        let (Some(x), Some(y)) = (num(&r[xi]), num(&r[vi])) else {
            continue;
        };
        let label = if groups.is_empty() {
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
    }
    Ok(out)
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
    for (i, (label, pts)) in data.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|q| (!p.log_x || q.0 > 0.0) && (!p.log_y || q.1 > 0.0))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(e)?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&q| Circle::new(q, 3, c.filled())))
            .map_err(e)?;
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
    let data = series(p, t).map_err(err)?;
    let size = (960u32, 600u32);
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
