//! Output trajectories (F10's `learned_dyn`): for each trial, one output channel against another
//! along the steps, drawn as segments whose colour brightens with time (the chart's colour map
//! from its dark end at the first drawn step to its bright end at the last).

use std::collections::BTreeMap;

use plotters::prelude::*;

use gentk_spec::Plot;

use super::{column, heat::colormap, num, select, tick};
use crate::error::ChartError;
use crate::table::Table;

/// Per trial, the (step, x, y) points of a paths chart, ordered by step.
pub type Paths = BTreeMap<String, Vec<(f64, f64, f64)>>;

/// The trajectories of a paths chart: rows of its one measure, `index` = channel.
pub fn paths(p: &Plot, t: &Table) -> Result<Paths, ChartError> {
    let Some([cx, cy]) = p.channels else {
        return Err(ChartError::Keys {
            plot: p.file.clone(),
            needs: "a paths chart needs channels = [x, y]".into(),
        });
    };
    let (si, vi, ii, ti) = (
        column(p, t, &p.x)?,
        column(p, t, "value")?,
        column(p, t, "index")?,
        column(p, t, "trial")?,
    );
    // (trial, step) → (x, y) as the two channels' rows arrive.
    let mut at: BTreeMap<(String, i64), (Option<f64>, Option<f64>)> = BTreeMap::new();
    for sel in select(p, t)? {
        let r = sel.row;
        let (Some(step), Some(ch), Some(v)) = (num(&r[si]), num(&r[ii]), num(&r[vi])) else {
            continue;
        };
        let e = at.entry((r[ti].to_string(), step as i64)).or_default();
        if ch as i64 == cx {
            e.0 = Some(v);
        } else if ch as i64 == cy {
            e.1 = Some(v);
        }
    }
    let mut out = Paths::new();
    for ((trial, step), xy) in at {
        if let (Some(x), Some(y)) = xy {
            out.entry(trial).or_default().push((step as f64, x, y));
        }
    }
    if out.is_empty() {
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: format!("no step has both channel {cx} and channel {cy}"),
        });
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(out)
}

/// A segment ending at a step: (step, start point, end point).
type Segment = (f64, (f64, f64), (f64, f64));

/// Draws the trajectories, one colour-graded polyline per trial.
pub fn draw_paths<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    data: &Paths,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
    let pts = || data.values().flatten();
    let bounds = |f: fn(&(f64, f64, f64)) -> f64| {
        let (lo, hi) = pts()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
                (a.0.min(v), a.1.max(v))
            });
        let pad = 0.05 * (hi - lo).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let (xr, yr) = (bounds(|q| q.1), bounds(|q| q.2));
    // plotters' linear ticks are multiples of a step with rounding error: show a tick that is
    // zero relative to the axis span (−5.6e-17) as 0.
    let (xs, ys) = (xr.end - xr.start, yr.end - yr.start);
    let xt = move |v: &f64| tick(if v.abs() < 1e-9 * xs { 0.0 } else { *v });
    let yt = move |v: &f64| tick(if v.abs() < 1e-9 * ys { 0.0 } else { *v });
    let (s0, s1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |a, q| {
        (a.0.min(q.0), a.1.max(q.0))
    });
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&p.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(xr, yr)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&xt)
        .y_label_formatter(&yt)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(e)?;
    // Late segments drawn last, so the endpoints stay visible where trials overlap.
    let span = (s1 - s0).max(1.0);
    let mut segs: Vec<Segment> = data
        .values()
        .flat_map(|v| {
            v.windows(2)
                .map(|w| (w[1].0, (w[0].1, w[0].2), (w[1].1, w[1].2)))
        })
        .collect();
    segs.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(segs.into_iter().map(|(step, a, b)| {
            let c = colormap(p.colormap, 0.15 + 0.85 * (step - s0) / span);
            PathElement::new(vec![a, b], c.stroke_width(2))
        }))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
