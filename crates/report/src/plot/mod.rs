//! Charts with plotters, PNG and SVG, with the DejaVu Sans font compiled in (no system fonts;
//! byte-identical output run to run): line charts of measurements against a column (optionally the
//! median and 25–75 % band over rows sharing x, dashed theory curves, reference lines), cumulative
//! spectra, temporal mode curves, and (in `heat`) heatmaps and the F7 regions map.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use gentk_spec::{Legend, Plot, PlotKind};

use crate::error::{ChartError, ReportError, Result};
use crate::table::{Cell, Table};

mod bars;
mod heat;
mod paths;
pub use heat::{gaussian_smooth, region};

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

pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub(crate) fn num(c: &Cell) -> Option<f64> {
    match c {
        Cell::F(v) => *v,
        Cell::I(v) => v.map(|x| x as f64),
        Cell::S(_) | Cell::B(_) => None,
    }
}

/// One selected row of a plot: its measure, the (column, value) pairs of the `group` columns and the
/// row itself.
pub(crate) struct Selected<'a> {
    pub measure: String,
    pub group: Vec<(String, String)>,
    pub row: &'a [Cell],
}

/// The values of a row's group columns joined by spaces (a bar category, a scatter group).
pub(crate) fn group_text(group: &[(String, String)]) -> String {
    group
        .iter()
        .map(|(_, v)| v.trim_matches('"'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What identifies a series of a line-type chart. Series are ordered by their default legend text
/// (`label`), which fixes their colours.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Default legend text: "measure", "measure (col = v, …)" or "measure mode k (trial t)".
    pub label: String,
    /// The measurement.
    pub measure: String,
    /// (column, value) of the group columns.
    pub group: Vec<(String, String)>,
    /// Mode charts: (mode numbered from 1, trial).
    pub mode: Option<(usize, String)>,
}

impl SeriesKey {
    fn new(measure: String, group: Vec<(String, String)>, mode: Option<(usize, String)>) -> Self {
        let label = match &mode {
            Some((k, trial)) => format!("{measure} mode {k} (trial {trial})"),
            None if group.is_empty() => measure.clone(),
            None => format!(
                "{measure} ({})",
                group
                    .iter()
                    .map(|(c, v)| format!("{c} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        SeriesKey {
            label,
            measure,
            group,
            mode,
        }
    }

    /// Whether the series belongs to one of the named measurements (not mode curves).
    fn is_one_of(&self, names: &[String]) -> bool {
        self.mode.is_none() && names.contains(&self.measure)
    }

    /// The legend text: the plot's `label` template with `{measure}` and `{<group column>}`
    /// replaced, or the default label.
    pub fn legend(&self, p: &Plot) -> String {
        let Some(template) = &p.label else {
            return self.label.clone();
        };
        let mut out = template.replace("{measure}", &self.measure);
        for (c, v) in &self.group {
            out = out.replace(&format!("{{{c}}}"), v.trim_matches('"'));
        }
        out
    }
}

/// Series of a line-type chart: key → sorted (x, y).
pub type Series = BTreeMap<SeriesKey, Vec<(f64, f64)>>;

/// Index of column `name` (error names the plot).
pub(crate) fn column(p: &Plot, t: &Table, name: &str) -> Result<usize, ChartError> {
    t.columns
        .iter()
        .position(|c| c == name)
        .ok_or_else(|| ChartError::NoColumn {
            plot: p.file.clone(),
            column: name.to_string(),
        })
}

/// The rows a plot shows: `filter` applied, restricted to `measures` (when listed), with their
/// group labels.
pub(crate) fn select<'a>(p: &Plot, t: &'a Table) -> Result<Vec<Selected<'a>>, ChartError> {
    let mi = column(p, t, "measure")?;
    let groups: Vec<(String, usize)> = p
        .group_columns()
        .into_iter()
        .map(|c| column(p, t, c).map(|i| (c.to_string(), i)))
        .collect::<Result<_, _>>()?;
    // A filter value keeps rows equal to it; a list keeps rows equal to any of its items.
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => format!("{}", *i as f64),
        toml::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    };
    let filters: Vec<(usize, Vec<String>)> = p
        .filter
        .iter()
        .map(|(c, v)| {
            let wants = match v {
                toml::Value::Array(items) => items.iter().map(text).collect(),
                one => vec![text(one)],
            };
            column(p, t, c).map(|i| (i, wants))
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for r in &t.rows {
        if filters.iter().any(|(i, wants)| {
            let have = match &r[*i] {
                Cell::S(Some(s)) => s.trim_matches('"').to_string(),
                Cell::F(Some(v)) => format!("{v}"),
                Cell::I(Some(v)) => format!("{}", *v as f64),
                other => other.to_string(),
            };
            !wants.contains(&have)
        }) {
            continue;
        }
        let m = r[mi].to_string();
        if !p.measures.is_empty() && !p.measures.contains(&m) {
            continue;
        }
        out.push(Selected {
            measure: m,
            group: groups
                .iter()
                .map(|(c, i)| (c.clone(), r[*i].to_string()))
                .collect(),
            row: r,
        });
    }
    Ok(out)
}

/// The series of a plot from a table.
pub fn series(p: &Plot, t: &Table) -> Result<Series, ChartError> {
    let (xi, vi) = (column(p, t, &p.x)?, column(p, t, "value")?);
    let mut out = Series::new();
    for sel in select(p, t)? {
        let r = sel.row;
        let (Some(x), Some(y)) = (num(&r[xi]), num(&r[vi])) else {
            continue;
        };
        // An accuracy axis draws 1/ε, so accuracy grows to the right on a log axis.
        let x = if p.x_accuracy { 1.0 / x } else { x };
        let key = if p.kind == PlotKind::Modes {
            // One curve per (mode, trial): x = step. Modes are numbered from 1 in charts (the
            // table's `index` is 0-based).
            let (ii, ti) = (column(p, t, "index")?, column(p, t, "trial")?);
            let mode = num(&r[ii]).map_or(0, |k| (k as i64 + 1).max(0) as usize);
            SeriesKey::new(sel.measure, Vec::new(), Some((mode, r[ti].to_string())))
        } else {
            SeriesKey::new(sel.measure, sel.group, None)
        };
        out.entry(key).or_default().push((x, y));
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        if p.kind == PlotKind::Cumulative {
            // Cumulative spectrum: fraction of the total reached by the first k values. Over the
            // 0-based `index` the point of value i is drawn at x = i + 1, the number of modes used.
            let total: f64 = v.iter().map(|q| q.1).sum();
            let shift = if p.x == "index" { 1.0 } else { 0.0 };
            let mut acc = 0.0;
            for q in v.iter_mut() {
                acc += q.1;
                q.1 = if total != 0.0 { acc / total } else { f64::NAN };
                q.0 += shift;
            }
        }
        if let Some(xm) = p.x_max {
            v.retain(|q| q.0 <= xm);
        }
    }
    Ok(out)
}

/// A compact tick label: plain decimals in [1e-3, 1e4), otherwise `2.5e-7` style, trailing zeros
/// trimmed (plotters' default prints log-axis ticks at full length).
pub fn tick(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    if (1e-3..1e4).contains(&v.abs()) {
        return trim(format!("{v:.3}"));
    }
    let s = format!("{v:.1e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim(m.to_string())),
        None => s,
    }
}

/// The corner whose legend box would cover the least of the drawn data: each series' points and
/// its segments (sampled), in the chart's own (log or linear) coordinates scaled to [0, 1]. The
/// box is as wide as a typical legend and as tall as its `entries` lines; ties keep the order
/// upper right, upper left, lower right, lower left, middle right.
pub(crate) fn emptiest_corner(
    p: &Plot,
    data: &Series,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
    entries: usize,
) -> Legend {
    let unit = |v: f64, lo: f64, hi: f64, log: bool| {
        if log {
            (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let mut samples: Vec<(f64, f64)> = Vec::new();
    for pts in data.values() {
        let q: Vec<(f64, f64)> = pts
            .iter()
            .filter(|q| (!p.log_x || q.0 > 0.0) && (!p.log_y || q.1 > 0.0))
            .map(|&(x, y)| (unit(x, x0, x1, p.log_x), unit(y, y0, y1, p.log_y)))
            .collect();
        samples.extend(q.iter().copied());
        for w in q.windows(2) {
            samples.extend((1..8).map(|k| {
                let f = k as f64 / 8.0;
                (
                    w[0].0 + f * (w[1].0 - w[0].0),
                    w[0].1 + f * (w[1].1 - w[0].1),
                )
            }));
        }
    }
    let (w, h) = (0.45, (0.06 * entries as f64 + 0.05).min(0.9));
    let corners = [
        (Legend::UpperRight, 1.0 - w, 1.0 - h),
        (Legend::UpperLeft, 0.0, 1.0 - h),
        (Legend::LowerRight, 1.0 - w, 0.0),
        (Legend::LowerLeft, 0.0, 0.0),
        (Legend::MiddleRight, 1.0 - w, 0.5 - h / 2.0),
    ];
    let covered = |(bx, by): (f64, f64)| {
        samples
            .iter()
            .filter(|&&(x, y)| x >= bx && x <= bx + w && y >= by && y <= by + h)
            .count()
    };
    corners
        .iter()
        .min_by_key(|c| covered((c.1, c.2)))
        .map_or(Legend::UpperRight, |c| c.0)
}

/// The legend corner of a chart: the spec's, else the emptiest one for this data.
pub(crate) fn legend_position(p: &Plot, auto: Legend) -> SeriesLabelPosition {
    match p.legend.unwrap_or(auto) {
        Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
        Legend::LowerRight => SeriesLabelPosition::LowerRight,
        Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
        Legend::MiddleRight => SeriesLabelPosition::MiddleRight,
        Legend::UpperRight => SeriesLabelPosition::UpperRight,
        // Drawn by `draw` in its own strip right of the chart.
        Legend::Outside => SeriesLabelPosition::UpperRight,
    }
}

/// Width kept right of the plot area for an outside legend.
const OUTSIDE_LEGEND: u32 = 190;

/// The every-other pieces of the segment a→b cut into `n` equal parts (a dashed reference line).
fn broken(a: (f64, f64), b: (f64, f64), n: usize) -> impl Iterator<Item = Vec<(f64, f64)>> {
    let at = move |k: usize| {
        let f = k as f64 / n as f64;
        (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1))
    };
    (0..n).step_by(2).map(move |k| vec![at(k), at(k + 1)])
}

/// `v` rounded to 0 when it is float noise relative to the axis span (0 for log axes: no snapping).
/// A linear axis's tick: whole numbers in [1e4, 1e6) in full (27400 and 27600 stay apart, where
/// `2.7e4` would name both), else [`tick`].
fn linear_tick(v: f64) -> String {
    if (1e4..1e6).contains(&v.abs()) && (v - v.round()).abs() < 1e-6 * v.abs() {
        format!("{v:.0}")
    } else {
        tick(v)
    }
}

fn snap(v: f64, span: f64) -> f64 {
    if v.abs() < 1e-9 * span { 0.0 } else { v }
}

/// Most labels a log axis carries; more decades are labelled every `stride`-th.
const MAX_LOG_LABELS: i32 = 12;

/// A log axis over [lo, hi]: its first decade exponent and the label stride (every decade gets a
/// tick; every `stride`-th, counted from the lowest, a label, so both ends of the data are named).
fn decade_stride(lo: f64, hi: f64) -> (i32, i32) {
    let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
    let n = (b - a + 1).max(1);
    (a, (n + MAX_LOG_LABELS - 1) / MAX_LOG_LABELS)
}

/// Tick positions of a log axis: every decade in [lo, hi] (bold), and 2× and 5× of each decade
/// (light) when there are few decades.
fn decade_points(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
    let bold: Vec<f64> = (a..=b).map(|d| 10f64.powi(d)).collect();
    let light = if b - a <= 6 {
        (a - 1..=b)
            .flat_map(|d| [2.0, 5.0].map(|m| m * 10f64.powi(d)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    } else {
        Vec::new()
    };
    (bold, light)
}

/// The label of a log-axis tick: the decade's value on the label stride, else none.
fn log_tick(v: f64, (first, stride): (i32, i32)) -> String {
    let d = v.log10().round() as i32;
    let on_decade = (v / 10f64.powi(d) - 1.0).abs() < 1e-9;
    if on_decade && (d - first).rem_euclid(stride) == 0 {
        tick(10f64.powi(d))
    } else {
        String::new()
    }
}

/// An accuracy axis's tick: x = 1/ε is drawn, labelled 1 − ε in percent ("99.9 %"); empty where
/// the log axis leaves its tick empty.
fn accuracy_tick(log_label: String, v: f64) -> String {
    if log_label.is_empty() || v < 1.0 {
        return log_label;
    }
    let digits = (v.log10().round() as usize).saturating_sub(2);
    format!("{:.*} %", digits, 100.0 * (1.0 - 1.0 / v))
}

/// The median value of the rows a chart's `hline_where` selects (among its measures), as its
/// dashed reference line.
fn data_hline(p: &Plot, t: &Table) -> Result<Option<f64>, ChartError> {
    if p.hline_where.is_empty() {
        return Ok(p.hline);
    }
    let sel = Plot {
        filter: p.hline_where.clone(),
        ..p.clone()
    };
    let vi = column(p, t, "value")?;
    let vals: Vec<(f64, f64)> = select(&sel, t)?
        .iter()
        .filter_map(|s| num(&s.row[vi]))
        .map(|v| (0.0, v))
        .collect();
    Ok(quartiles(&vals).first().map(|q| q.1).or(p.hline))
}

/// (x, median, 25 %, 75 %) of the points sharing each x (linear interpolation between order
/// statistics, numpy's default).
pub fn quartiles(pts: &[(f64, f64)]) -> Vec<(f64, f64, f64, f64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let x = pts[i].0;
        let mut ys: Vec<f64> = pts[i..]
            .iter()
            .take_while(|q| q.0 == x)
            .map(|q| q.1)
            .collect();
        i += ys.len();
        ys.sort_by(f64::total_cmp);
        let q = |f: f64| {
            let pos = f * (ys.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            ys[lo] + (pos - lo as f64) * (ys[hi] - ys[lo])
        };
        out.push((x, q(0.5), q(0.25), q(0.75)));
    }
    out
}

/// The first x at which the (median) curve crosses `value`, linearly interpolated.
pub fn crossing(pts: &[(f64, f64)], value: f64) -> Option<f64> {
    let med: Vec<(f64, f64)> = quartiles(pts).iter().map(|q| (q.0, q.1)).collect();
    med.windows(2).find_map(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        ((y0 - value) * (y1 - value) <= 0.0 && y1 != y0)
            .then(|| x0 + (value - y0) * (x1 - x0) / (y1 - y0))
    })
}

fn bounds(p: &Plot, data: &Series) -> Result<(f64, f64, f64, f64), ChartError> {
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
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: "has no finite points".into(),
        });
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
    if let Some([lo, hi]) = p.y_range {
        (y0, y1) = (lo, hi);
    }
    Ok((x0, x1, y0, y1))
}

fn draw<DB, X, Y>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    data: &Series,
    vlines: &[f64],
    xs: X,
    ys: Y,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
    // Linear-axis ticks within 1e-9 of the span from zero are zero (not "-1.4e-17").
    let span = |lo: f64, hi: f64, log: bool| if log { 0.0 } else { (hi - lo).abs() };
    let box_ = bounds(p, data)?;
    let (xspan, yspan) = {
        let (x0, x1, y0, y1) = box_;
        (span(x0, x1, p.log_x), span(y0, y1, p.log_y))
    };
    let (xdec, ydec) = (decade_stride(box_.0, box_.1), decade_stride(box_.2, box_.3));
    let entries = data
        .keys()
        .filter(|k| k.mode.as_ref().is_none_or(|(_, trial)| trial == "0"))
        .count();
    let auto = emptiest_corner(p, data, box_, entries);
    root.fill(&WHITE).map_err(e)?;
    // An outside legend gets its own strip right of the chart, under the full-width title.
    let (area, legend_area) = if p.legend == Some(Legend::Outside) {
        let inner = root.titled(&p.title, ("sans-serif", 24)).map_err(e)?;
        let w = inner.dim_in_pixel().0;
        let (l, r) = inner.split_horizontally(w.saturating_sub(OUTSIDE_LEGEND));
        (l, Some(r))
    } else {
        (root.clone(), None)
    };
    let mut builder = ChartBuilder::on(&area);
    if legend_area.is_none() {
        builder.caption(&p.title, ("sans-serif", 24));
    }
    let mut chart = builder
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(xs, ys)
        .map_err(e)?;
    let mut entries: Vec<(String, RGBColor, bool)> = Vec::new();
    chart
        .configure_mesh()
        .x_desc(if p.x_label.is_empty() {
            p.x.as_str()
        } else {
            p.x_label.as_str()
        })
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&|v| {
            if p.x_accuracy {
                accuracy_tick(log_tick(*v, xdec), *v)
            } else if p.log_x {
                log_tick(*v, xdec)
            } else {
                linear_tick(snap(*v, xspan))
            }
        })
        .y_label_formatter(&|v| {
            if p.log_y {
                log_tick(*v, ydec)
            } else {
                linear_tick(snap(*v, yspan))
            }
        })
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(e)?;
    if let Some(yh) = p.hline {
        let (xa, xb) = (chart.x_range().start, chart.x_range().end);
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(
                broken((xa, yh), (xb, yh), 60)
                    .map(|seg| PathElement::new(seg, grey.stroke_width(1))),
            )
            .map_err(e)?;
    }
    for &xv in vlines {
        let (ya, yb) = (chart.y_range().start, chart.y_range().end);
        chart
            .draw_series(
                broken((xv, ya), (xv, yb), 80)
                    .map(|seg| PathElement::new(seg, BLACK.stroke_width(1))),
            )
            .map_err(e)?;
    }
    // With color_by_group, a series' colour is its group's rank among the groups drawn.
    let groups: Vec<&Vec<(String, String)>> = {
        let mut g: Vec<_> = data.keys().map(|k| &k.group).collect();
        g.dedup();
        g.sort();
        g.dedup();
        g
    };
    for (i, (key, pts)) in data.iter().enumerate() {
        // Mode curves: colour by mode, one legend entry per mode (its first trial), no markers.
        let mode = key.mode.as_ref().map(|(k, _)| *k);
        let slot = if p.color_by_group {
            groups.iter().position(|g| **g == key.group).unwrap_or(i)
        } else {
            i
        };
        let c =
            PALETTE[(mode.map_or(slot, |k| k.saturating_sub(1)) + p.color_offset) % PALETTE.len()];
        let pts: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|q| (!p.log_x || q.0 > 0.0) && (!p.log_y || q.1 > 0.0))
            .collect();
        let thin = key.is_one_of(&p.thin);
        let width = if mode.is_some() || thin { 1 } else { 2 };
        let pts: Vec<(f64, f64)> = if p.band {
            let q = quartiles(&pts);
            if q.len() > 1 {
                let mut poly: Vec<(f64, f64)> = q.iter().map(|r| (r.0, r.2)).collect();
                poly.extend(q.iter().rev().map(|r| (r.0, r.3)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.2).filled())))
                    .map_err(e)?;
            }
            q.iter().map(|r| (r.0, r.1)).collect()
        } else {
            pts
        };
        let dashed = key.is_one_of(&p.dashed);
        let style = c.stroke_width(width);
        let series = if dashed {
            chart
                .draw_series(DashedLineSeries::new(pts.iter().copied(), 8, 5, style))
                .map_err(e)?
        } else {
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))
                .map_err(e)?
        };
        let first_trial = key.mode.as_ref().is_none_or(|(_, trial)| trial == "0");
        if first_trial {
            let text = match mode {
                // One measure: its name is the chart's subject, the legend names the modes
                // (one curve per trial, all in the mode's colour).
                Some(k) if p.measures.len() == 1 => format!("mode {k}"),
                Some(k) => format!("{}, mode {k}", key.measure),
                None => key.legend(p),
            };
            entries.push((text.clone(), c, dashed));
            series.label(text).legend(move |(x, y)| {
                if dashed {
                    PathElement::new(vec![(x, y), (x + 8, y)], c.stroke_width(2))
                } else {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                }
            });
        }
        if mode.is_none() && !thin {
            chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, 3, c.filled())))
                .map_err(e)?;
        }
    }
    if let Some(la) = legend_area {
        for (i, (text, c, dashed)) in entries.iter().enumerate() {
            let y = 40 + 24 * i as i32;
            let len = if *dashed { 8 } else { 22 };
            la.draw(&PathElement::new(
                vec![(10, y), (10 + len, y)],
                c.stroke_width(2),
            ))
            .map_err(e)?;
            la.draw(&Text::new(text.clone(), (40, y - 8), ("sans-serif", 15)))
                .map_err(e)?;
        }
    } else {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(legend_position(p, auto))
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

fn draw_any<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    data: &Series,
    vlines: &[f64],
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let (x0, x1, y0, y1) = bounds(p, data)?;
    // Log axes tick every decade (plotters' own choice skips decades and can leave the lowest
    // ones of a wide range unlabelled).
    let log = |lo: f64, hi: f64| {
        let (bold, light) = decade_points(lo, hi);
        (lo..hi)
            .log_scale()
            .with_key_points(bold)
            .with_light_points(light)
    };
    match (p.log_x, p.log_y) {
        (false, false) => draw(root, p, data, vlines, x0..x1, y0..y1),
        (true, false) => draw(root, p, data, vlines, log(x0, x1), y0..y1),
        (false, true) => draw(root, p, data, vlines, x0..x1, log(y0, y1)),
        (true, true) => draw(root, p, data, vlines, log(x0, x1), log(y0, y1)),
    }
}

/// What a chart shows, computed once from the table and drawn to both backends.
enum Content {
    /// Line-type charts: series and vertical reference lines.
    Lines(Series, Vec<f64>),
    /// A heatmap grid.
    Heat(heat::Grid),
    /// A regions grid.
    Regions(heat::Grid),
    /// Grouped bars.
    Bars(bars::Bars),
    /// Scatter of two measures per point.
    Scatter(BTreeMap<String, Vec<(f64, f64)>>),
    /// Output trajectories per trial.
    Paths(paths::Paths),
    /// Line-type panels side by side: each panel's plot (its caption as title, its value as a
    /// filter) and content.
    Panels(Vec<(Plot, Content)>),
}

/// One chart per value of `p.panels` among the rows the chart draws (its measures and filters),
/// in the table's order of first appearance.
fn panels(p: &Plot, t: &Table) -> Result<Vec<(Plot, Content)>, ChartError> {
    let col = p.panels.as_deref().unwrap_or_default();
    let ci = t
        .columns
        .iter()
        .position(|c| c == col)
        .ok_or_else(|| ChartError::NoColumn {
            plot: p.file.clone(),
            column: col.to_string(),
        })?;
    let mut values: Vec<&Cell> = Vec::new();
    for sel in select(p, t)? {
        if !values.contains(&&sel.row[ci]) {
            values.push(&sel.row[ci]);
        }
    }
    values
        .into_iter()
        .map(|v| {
            let value = match v {
                Cell::F(Some(x)) => toml::Value::Float(*x),
                Cell::I(Some(x)) => toml::Value::Integer(*x),
                Cell::B(Some(x)) => toml::Value::Boolean(*x),
                other => toml::Value::String(other.to_string()),
            };
            let shown = v.to_string();
            let caption = p.panel_label.as_deref().map_or_else(
                || format!("{col} = {shown}"),
                |l| l.replace("{value}", &shown),
            );
            let mut filter = p.filter.clone();
            filter.insert(col.to_string(), value);
            let one = Plot {
                panels: None,
                title: caption,
                filter,
                ..p.clone()
            };
            let c = content(&one, t)?;
            Ok((one, c))
        })
        .collect()
}

fn content(p: &Plot, t: &Table) -> Result<Content, ChartError> {
    Ok(match p.kind {
        PlotKind::Heatmap => {
            let mut g = heat::grid(p, t, None)?;
            if p.log_color {
                for v in g.values.iter_mut().flatten() {
                    *v = if *v > 0.0 { v.log10() } else { f64::NAN };
                }
            }
            Content::Heat(g)
        }
        PlotKind::Regions => Content::Regions(heat::regions(p, t)?),
        PlotKind::Bars => Content::Bars(bars::bars(p, t)?),
        PlotKind::Scatter => Content::Scatter(bars::scatter(p, t)?),
        PlotKind::Line | PlotKind::Cumulative | PlotKind::Modes | PlotKind::Paths
            if p.panels.is_some() =>
        {
            Content::Panels(panels(p, t)?)
        }
        PlotKind::Paths => Content::Paths(paths::paths(p, t)?),
        PlotKind::Line | PlotKind::Cumulative | PlotKind::Modes => {
            let mut vlines: Vec<f64> = p
                .vline
                .into_iter()
                .chain(p.vlines.iter().copied())
                .collect();
            if let Some(w) = &p.vline_where {
                let only = Plot {
                    kind: PlotKind::Line,
                    measures: vec![w.measure.clone()],
                    group: None,
                    x_max: None,
                    ..p.clone()
                };
                let mut pts: Vec<(f64, f64)> = series(&only, t)?.into_values().flatten().collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                if pts.is_empty() {
                    return Err(ChartError::Empty {
                        plot: p.file.clone(),
                        what: format!("vline_where measure `{}` has no rows", w.measure),
                    });
                }
                // No crossing inside the sweep: no line (the chart stays truthful).
                vlines.extend(crossing(&pts, w.value));
            }
            Content::Lines(series(p, t)?, vlines)
        }
    })
}

fn draw_content<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    c: &Content,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    match c {
        Content::Lines(data, vlines) => draw_any(root, p, data, vlines),
        Content::Panels(panels) => {
            let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
            root.fill(&WHITE).map_err(e)?;
            let inner = root.titled(&p.title, ("sans-serif", 26)).map_err(e)?;
            let grid = if p.stack_panels {
                (panels.len(), 1)
            } else {
                (1, panels.len())
            };
            for ((one, c), area) in panels.iter().zip(inner.split_evenly(grid)) {
                draw_content(area, one, c)?;
            }
            Ok(())
        }
        Content::Heat(g) => heat::draw_heatmap(root, p, g),
        Content::Regions(g) => heat::draw_regions(root, p, g),
        Content::Bars(b) => bars::draw_bars(root, p, b),
        Content::Scatter(d) => bars::draw_scatter(root, p, d),
        Content::Paths(d) => paths::draw_paths(root, p, d),
    }
}

/// Writes a chart's PNG and SVG into `dir`, each atomically.
pub fn write(p: &Plot, t: &Table, dir: &Path) -> Result<()> {
    register_fonts();
    let err = |source: ChartError| ReportError::Chart {
        path: dir.join(&p.file),
        source,
    };
    let with_line = Plot {
        hline: data_hline(p, t).map_err(err)?,
        ..p.clone()
    };
    let p = &with_line;
    let c = content(p, t).map_err(err)?;
    let size = match (&c, p.kind) {
        (Content::Panels(v), _) if p.stack_panels => (720u32, 80 + 340 * v.len().max(1) as u32),
        (Content::Panels(v), _) => (560 * v.len().max(1) as u32, 600u32),
        (_, PlotKind::Bars) => (1000u32, 720u32),
        _ => (960u32, 600u32),
    };
    crate::io::write_atomic_with(&dir.join(format!("{}.png", p.file)), |tmp| {
        draw_content(BitMapBackend::new(tmp, size).into_drawing_area(), p, &c).map_err(err)
    })?;
    let mut svg = String::new();
    draw_content(
        SVGBackend::with_string(&mut svg, size).into_drawing_area(),
        p,
        &c,
    )
    .map_err(err)?;
    crate::io::write_atomic(&dir.join(format!("{}.svg", p.file)), svg.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_and_crossing() {
        let pts = [(0.0, 1.0), (0.0, 3.0), (0.0, 2.0), (1.0, 5.0), (1.0, 7.0)];
        let q = quartiles(&pts);
        assert_eq!(q[0], (0.0, 2.0, 1.5, 2.5));
        assert_eq!(q[1], (1.0, 6.0, 5.5, 6.5));
        // Median 2 at x=0 and 6 at x=1 cross 3 at x = 0.25.
        assert!((crossing(&pts, 3.0).unwrap() - 0.25).abs() < 1e-15);
        assert_eq!(crossing(&pts, 10.0), None);
        assert_eq!(tick(1e11), "1e11");
        assert_eq!(tick(1.0000000001e-7), "1e-7");
        assert_eq!(tick(2.5e-7), "2.5e-7");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(0.125), "0.125");
        let p: Plot = toml::from_str(
            "file = \"f\"\nx = \"model.gain\"\nlabel = \"{measure}: g = {model.gain}, {model.arch}\"",
        )
        .unwrap();
        let key = SeriesKey::new(
            "w_t".into(),
            vec![
                ("model.gain".into(), "0.1".into()),
                ("model.arch".into(), "\"rnn\"".into()),
            ],
            None,
        );
        assert_eq!(key.label, "w_t (model.gain = 0.1, model.arch = \"rnn\")");
        assert_eq!(key.legend(&p), "w_t: g = 0.1, rnn");
    }

    /// F8's weights span 1e-19..1e11: every decade gets a tick, and labels (at most
    /// `MAX_LOG_LABELS`) reach both ends — plotters' own choice stopped at 1e-13.
    #[test]
    fn log_axes_tick_every_decade_and_label_both_ends() {
        let (lo, hi) = (1e-19, 1e11);
        let (bold, light) = decade_points(lo, hi);
        assert_eq!(bold.len(), 31);
        assert!(light.is_empty(), "no minor ticks over 30 decades");
        let dec = decade_stride(lo, hi);
        assert_eq!(dec, (-19, 3));
        let labels: Vec<String> = bold
            .iter()
            .map(|&v| log_tick(v, dec))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(labels.first().map(String::as_str), Some("1e-19"));
        assert_eq!(labels.last().map(String::as_str), Some("1e11"));
        assert!(labels.len() as i32 <= MAX_LOG_LABELS, "{labels:?}");
        // A narrow range labels every decade and adds 2× and 5× ticks.
        let (bold, light) = decade_points(1.0, 1000.0);
        assert_eq!(bold, [1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(light.len(), 6);
        let dec = decade_stride(1.0, 1000.0);
        assert!(bold.iter().all(|&v| !log_tick(v, dec).is_empty()));
        assert_eq!(log_tick(20.0, dec), "");
    }

    #[test]
    fn accuracy_axes_label_one_minus_epsilon_and_linear_axes_keep_whole_numbers() {
        // x = 1/ε: 100 → 99 %, 1e3 → 99.9 %, 1e5 → 99.999 %; empty log ticks stay empty.
        assert_eq!(accuracy_tick("100".into(), 100.0), "99 %");
        assert_eq!(accuracy_tick("1000".into(), 1000.0), "99.9 %");
        assert_eq!(accuracy_tick("1e5".into(), 1e5), "99.999 %");
        assert_eq!(accuracy_tick(String::new(), 200.0), "");
        assert_eq!(linear_tick(27400.0), "27400");
        assert_eq!(linear_tick(27450.5), "2.7e4");
        assert_eq!(linear_tick(0.25), "0.25");
    }

    #[test]
    fn the_legend_goes_to_the_emptiest_corner() {
        let p: Plot = toml::from_str("file = \"f\"\nx = \"index\"").unwrap();
        let series = |pts: Vec<(f64, f64)>| {
            let mut s = Series::new();
            s.insert(SeriesKey::new("m".into(), Vec::new(), None), pts);
            s
        };
        let b = (0.0, 10.0, 0.0, 1.0);
        // A saturating cumulative curve hugs the left edge and the top: lower right is empty.
        let rising: Vec<(f64, f64)> = (0..=10).map(|k| (k as f64, 1.0 - 0.7f64.powi(k))).collect();
        assert_eq!(
            emptiest_corner(&p, &series(rising.clone()), b, 3),
            Legend::LowerRight
        );
        // With a second, flat curve along the bottom (F2's P P*), the middle right is the only
        // empty place (the rising curve's knee reaches into the upper-left box).
        let mut both = series(rising);
        both.insert(
            SeriesKey::new("flat".into(), Vec::new(), None),
            (0..=10).map(|k| (k as f64, 0.01 * k as f64)).collect(),
        );
        assert_eq!(emptiest_corner(&p, &both, b, 3), Legend::MiddleRight);
        // A falling curve along the top-left to bottom-right diagonal: upper right is empty.
        let falling: Vec<(f64, f64)> = (0..=10).map(|k| (k as f64, 0.7f64.powi(k))).collect();
        assert_eq!(
            emptiest_corner(&p, &series(falling), b, 3),
            Legend::UpperRight
        );
        // Curves along the top and the bottom (F2b): the middle of the right edge is empty.
        let mut rails = series((0..=10).map(|k| (k as f64, 0.98)).collect());
        rails.insert(
            SeriesKey::new("low".into(), Vec::new(), None),
            (0..=10).map(|k| (k as f64, 0.03)).collect(),
        );
        assert_eq!(emptiest_corner(&p, &rails, b, 3), Legend::MiddleRight);
        // Data along the top only: a lower corner.
        let top: Vec<(f64, f64)> = (0..=10).map(|k| (k as f64, 0.95)).collect();
        assert_eq!(emptiest_corner(&p, &series(top), b, 3), Legend::LowerRight);
    }
}
