//! Verification charts of F1: grouped bars (one category per `group` value, one bar per measure,
//! height = the worst — largest — value over the remaining rows, e.g. over gains) and a scatter of one
//! measure against another per point with a y = x line (measured vs predicted ranks).

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::{PALETTE, column, group_text, num, select, tick};
use crate::error::ChartError;
use crate::table::Table;
use gentk_spec::Plot;

/// Bar heights: categories (in first-seen order), measures (in `measures` order, else first-seen)
/// and values[category][measure] (NaN when absent).
pub struct Bars {
    /// Category labels (group values).
    pub categories: Vec<String>,
    /// Bar labels (measures).
    pub measures: Vec<String>,
    /// Worst value per (category, measure).
    pub values: Vec<Vec<f64>>,
}

/// Collects the bars of a plot.
pub fn bars(p: &Plot, t: &Table) -> Result<Bars, ChartError> {
    let vi = column(p, t, "value")?;
    let mut categories: Vec<String> = Vec::new();
    let mut measures: Vec<String> = p.measures.clone();
    let mut worst: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for sel in select(p, t)? {
        let cat = group_text(&sel.group);
        let ci = categories
            .iter()
            .position(|c| *c == cat)
            .unwrap_or_else(|| {
                categories.push(cat);
                categories.len() - 1
            });
        let mi = measures
            .iter()
            .position(|m| *m == sel.measure)
            .unwrap_or_else(|| {
                measures.push(sel.measure.clone());
                measures.len() - 1
            });
        if let Some(v) = num(&sel.row[vi]) {
            let e = worst.entry((ci, mi)).or_insert(f64::NEG_INFINITY);
            *e = e.max(v);
        }
    }
    if categories.is_empty() {
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: "selects no rows".into(),
        });
    }
    let values = (0..categories.len())
        .map(|c| {
            (0..measures.len())
                .map(|m| worst.get(&(c, m)).copied().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    Ok(Bars {
        categories,
        measures,
        values,
    })
}

/// Draws grouped bars on a log10 scale (bars rise from the bottom decade; exact zeros are marked "0"
/// there instead); rotated category labels and a legend panel on the right.
pub fn draw_bars<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    b: &Bars,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
    let logs: Vec<f64> = b
        .values
        .iter()
        .flatten()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.log10())
        .collect();
    let (lo, hi) = logs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, &v| {
            (a.0.min(v), a.1.max(v))
        });
    if !lo.is_finite() {
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: "has no positive bar".into(),
        });
    }
    // Whole decades with one spare below, so every bar (and the "0" marks) has room.
    let (y0, y1) = (lo.floor() - 1.0, hi.ceil().max(lo.floor() + 1.0));
    root.fill(&WHITE).map_err(e)?;
    let (main, side) = root.split_horizontally(root.dim_in_pixel().0 as i32 - 230);
    let nc = b.categories.len();
    let cats = b.categories.clone();
    let mut chart = ChartBuilder::on(&main)
        .caption(&p.title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(110)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..nc as f64 - 0.5, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(nc)
        .x_label_formatter(&|_| String::new())
        .y_labels((y1 - y0) as usize + 1)
        .y_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-9 {
                format!("1e{}", v.round() as i64)
            } else {
                String::new()
            }
        })
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(e)?;
    // Category labels: one line per group column, centred under the category.
    let centred = TextStyle::from(("sans-serif", 14).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ),
    );
    for (ci, cat) in cats.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(ci as f64, y0));
        for (li, line) in cat.split(' ').enumerate() {
            root.draw(&Text::new(
                line.to_string(),
                (px, py + 8 + 17 * li as i32),
                centred.clone(),
            ))
            .map_err(e)?;
        }
    }
    let nb = b.measures.len();
    let width = 0.8 / nb as f64;
    let font = ("sans-serif", 14).into_font();
    for (mi, name) in b.measures.iter().enumerate() {
        let c = PALETTE[mi % PALETTE.len()];
        let x_of = |ci: usize| ci as f64 - 0.4 + width * mi as f64;
        chart
            .draw_series(
                b.values
                    .iter()
                    .enumerate()
                    .filter(|(_, row)| row[mi].is_finite() && row[mi] > 0.0)
                    .map(|(ci, row)| {
                        Rectangle::new(
                            [(x_of(ci), y0), (x_of(ci) + width * 0.9, row[mi].log10())],
                            c.filled(),
                        )
                    }),
            )
            .map_err(e)?;
        chart
            .draw_series(
                b.values
                    .iter()
                    .enumerate()
                    .filter(|(_, row)| row[mi] == 0.0)
                    .map(|(ci, _)| Text::new("0".to_string(), (x_of(ci), y0 + 0.25), font.clone())),
            )
            .map_err(e)?;
        let y = 60 + 26 * mi as i32;
        side.draw(&Rectangle::new([(8, y), (24, y + 16)], c.filled()))
            .map_err(e)?;
        side.draw(&Text::new(name.clone(), (30, y + 1), font.clone()))
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

/// Scatter points per group label: (x = measures[0], y = measures[1]) of the same point (same
/// derived seed and iteration).
pub fn scatter(p: &Plot, t: &Table) -> Result<BTreeMap<String, Vec<(f64, f64)>>, ChartError> {
    let [mx, my] = p.measures.as_slice() else {
        return Err(ChartError::Keys {
            plot: p.file.clone(),
            needs: "a scatter needs measures = [x measure, y measure]".into(),
        });
    };
    let (vi, si, ii) = (
        column(p, t, "value")?,
        column(p, t, "seed")?,
        column(p, t, "iteration")?,
    );
    type Key = (String, String, String);
    let mut xs: BTreeMap<Key, f64> = BTreeMap::new();
    let mut ys: BTreeMap<Key, f64> = BTreeMap::new();
    for sel in select(p, t)? {
        let key = (
            group_text(&sel.group),
            sel.row[si].to_string(),
            sel.row[ii].to_string(),
        );
        if let Some(v) = num(&sel.row[vi]) {
            if &sel.measure == mx {
                xs.insert(key, v);
            } else if &sel.measure == my {
                ys.insert(key, v);
            }
        }
    }
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (k, x) in xs {
        if let Some(y) = ys.get(&k) {
            out.entry(k.0.clone()).or_default().push((x, *y));
        }
    }
    if out.is_empty() {
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: format!("no point has both `{mx}` and `{my}`"),
        });
    }
    Ok(out)
}

/// Draws a scatter with the y = x diagonal (dashed grey).
pub fn draw_scatter<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    data: &BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
    let all: Vec<f64> = data.values().flatten().flat_map(|q| [q.0, q.1]).collect();
    let (lo, hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, &v| {
            (a.0.min(v), a.1.max(v))
        });
    let pad = 0.05 * (hi - lo).max(1e-12);
    let (a, b) = (lo - pad, hi + pad);
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&p.title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(a..b, a..b)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(e)?;
    let grey = RGBColor(120, 120, 120);
    chart
        .draw_series(DashedLineSeries::new(
            [(a, a), (b, b)],
            8,
            5,
            grey.stroke_width(1),
        ))
        .map_err(e)?
        .label("y = x")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], grey.stroke_width(1)));
    for (i, (label, pts)) in data.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(pts.iter().map(|&q| Circle::new(q, 5, c.filled())))
            .map_err(e)?
            .label(label.clone())
            .legend(move |(x, y)| Circle::new((x + 7, y), 5, c.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(super::legend_position(p, gentk_spec::Legend::UpperRight))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
