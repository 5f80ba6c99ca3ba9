//! Grid charts over two sweep columns: a heatmap of one measurement (a matplotlib colour map, with a
//! colour bar) and the F7 "dynamical regions" map, which smooths two rank maps and classifies each
//! cell as high/low in space and time.

use plotters::prelude::*;

use super::{num, tick};
use crate::error::ChartError;
use crate::table::Table;
use gentk_spec::{Colormap, Plot};

/// Region colours of F7 (PAPER §12.3): both high, space high/time low, space low/time high, both low.
const REGIONS: [(RGBColor, &str); 4] = [
    (RGBColor(0xdd, 0x6e, 0x42), "space high, time high"),
    (RGBColor(0xe8, 0xda, 0xb2), "space high, time low"),
    (RGBColor(0x4f, 0x6d, 0x7a), "space low, time high"),
    (RGBColor(0x1a, 0x14, 0x23), "space low, time low"),
];

/// The colour of t ∈ [0, 1] in the plot's colour map (matplotlib's viridis by default; magma,
/// inferno, plasma), from colorous's 256-entry tables of matplotlib's maps.
pub fn colormap(name: Option<Colormap>, t: f64) -> RGBColor {
    let g = match name {
        None | Some(Colormap::Viridis) => colorous::VIRIDIS,
        Some(Colormap::Magma) => colorous::MAGMA,
        Some(Colormap::Inferno) => colorous::INFERNO,
        Some(Colormap::Plasma) => colorous::PLASMA,
        Some(Colormap::Cividis) => colorous::CIVIDIS,
    };
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let c = g.eval_continuous(t);
    RGBColor(c.r, c.g, c.b)
}

/// A measurement on the (x, y) grid: sorted distinct axis values and values[j][i] (NaN where absent;
/// several rows in one cell — seeds — are averaged).
pub struct Grid {
    /// Distinct x values, ascending.
    pub xs: Vec<f64>,
    /// Distinct y values, ascending.
    pub ys: Vec<f64>,
    /// values[j][i] at (xs[i], ys[j]).
    pub values: Vec<Vec<f64>>,
}

/// The grid of measurement `measure` (the first listed when `None`).
pub fn grid(p: &Plot, t: &Table, measure: Option<&str>) -> Result<Grid, ChartError> {
    let col = |name: &str| {
        t.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| ChartError::NoColumn {
                plot: p.file.clone(),
                column: name.to_string(),
            })
    };
    let yname = p.y.as_deref().ok_or_else(|| ChartError::Keys {
        plot: p.file.clone(),
        needs: "a heatmap needs `y` (a sweep column)".into(),
    })?;
    let (xi, yi, vi) = (col(&p.x)?, col(yname)?, col("value")?);
    let want = measure
        .map(str::to_string)
        .or_else(|| p.measures.first().cloned());
    // The rows of that one measure that pass the chart's filters.
    let one = Plot {
        measures: want.iter().cloned().collect(),
        ..p.clone()
    };
    let cells: Vec<(f64, f64, f64)> = super::select(&one, t)?
        .into_iter()
        .filter_map(|sel| Some((num(&sel.row[xi])?, num(&sel.row[yi])?, num(&sel.row[vi])?)))
        .collect();
    let mut xs: Vec<f64> = cells.iter().map(|c| c.0).collect();
    let mut ys: Vec<f64> = cells.iter().map(|c| c.1).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    ys.sort_by(f64::total_cmp);
    ys.dedup();
    if xs.is_empty() || ys.is_empty() {
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: format!("no cells for measure {:?}", want.unwrap_or_default()),
        });
    }
    let mut sum = vec![vec![(0.0, 0usize); xs.len()]; ys.len()];
    for (x, y, v) in cells {
        let i = xs.iter().position(|q| *q == x).unwrap_or(0);
        let j = ys.iter().position(|q| *q == y).unwrap_or(0);
        sum[j][i].0 += v;
        sum[j][i].1 += 1;
    }
    let values = sum
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|(s, n)| if n > 0 { s / n as f64 } else { f64::NAN })
                .collect()
        })
        .collect();
    Ok(Grid { xs, ys, values })
}

/// Gaussian smoothing with standard deviation `sigma` cells, truncated at 4σ, reflecting at the
/// edges (scipy.ndimage.gaussian_filter's default `reflect` mode), separable in x then y.
pub fn gaussian_smooth(v: &[Vec<f64>], sigma: f64) -> Vec<Vec<f64>> {
    if sigma <= 0.0 || v.is_empty() {
        return v.to_vec();
    }
    let r = (4.0 * sigma + 0.5) as isize;
    let w: Vec<f64> = (-r..=r)
        .map(|k| (-(k as f64).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let reflect = |i: isize, n: isize| -> usize {
        // scipy "reflect": (d c b a | a b c d | d c b a), repeated for long kernels.
        let period = 2 * n;
        let m = i.rem_euclid(period);
        (if m < n { m } else { period - 1 - m }) as usize
    };
    let smooth1 = |row: &[f64]| -> Vec<f64> {
        let n = row.len() as isize;
        (0..n)
            .map(|i| {
                (-r..=r)
                    .zip(&w)
                    .map(|(k, wk)| wk * row[reflect(i + k, n)])
                    .sum::<f64>()
                    / total
            })
            .collect()
    };
    let rows: Vec<Vec<f64>> = v.iter().map(|r| smooth1(r)).collect();
    let (ny, nx) = (rows.len(), rows[0].len());
    let cols: Vec<Vec<f64>> = (0..nx)
        .map(|i| smooth1(&(0..ny).map(|j| rows[j][i]).collect::<Vec<_>>()))
        .collect();
    (0..ny)
        .map(|j| (0..nx).map(|i| cols[i][j]).collect())
        .collect()
}

/// Region index (into the F7 colours) of a (space, time) pair against `threshold`.
pub fn region(space: f64, time: f64, threshold: f64) -> usize {
    match (space > threshold, time > threshold) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}

/// Draws cells coloured by `colour(value)` on a categorical (xs, ys) grid into `area`.
fn draw_cells<DB, F>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    g: &Grid,
    colour: F,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    F: Fn(f64) -> RGBColor,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
    // Cells in value coordinates, each reaching halfway to its neighbours (so an int-rounded
    // linspace has no gaps), and axis ticks at round values chosen by plotters.
    let (xe, ye) = (cell_edges(&g.xs), cell_edges(&g.ys));
    let (x0, x1) = (xe[0], xe[xe.len() - 1]);
    let (y0, y1) = (ye[0], ye[ye.len() - 1]);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    let (xspan, yspan) = ((x1 - x0).abs(), (y1 - y0).abs());
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(if p.x_label.is_empty() {
            p.x.as_str()
        } else {
            p.x_label.as_str()
        })
        .y_desc(p.y_label.as_str())
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| tick(if v.abs() < 1e-9 * xspan { 0.0 } else { *v }))
        .y_label_formatter(&|v| tick(if v.abs() < 1e-9 * yspan { 0.0 } else { *v }))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(e)?;
    let mut rects = Vec::new();
    for (j, row) in g.values.iter().enumerate() {
        for (i, &v) in row.iter().enumerate() {
            if v.is_finite() {
                rects.push(Rectangle::new(
                    [(xe[i], ye[j]), (xe[i + 1], ye[j + 1])],
                    colour(v).filled(),
                ));
            }
        }
    }
    chart.draw_series(rects).map_err(e)?;
    Ok(())
}

/// Cell edges of sorted axis values: midpoints between neighbours, the outer edges half a
/// neighbour gap beyond the ends (±0.5 for a single value).
pub(crate) fn cell_edges(v: &[f64]) -> Vec<f64> {
    match v {
        [] => vec![-0.5, 0.5],
        [x] => vec![x - 0.5, x + 0.5],
        _ => {
            let n = v.len();
            let mut e = Vec::with_capacity(n + 1);
            e.push(v[0] - 0.5 * (v[1] - v[0]));
            e.extend(v.windows(2).map(|w| 0.5 * (w[0] + w[1])));
            e.push(v[n - 1] + 0.5 * (v[n - 1] - v[n - 2]));
            e
        }
    }
}

/// A heatmap of the first listed measurement with a labelled colour bar.
pub fn draw_heatmap<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    g: &Grid,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
    let (lo, hi) = g
        .values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, &v| {
            (a.0.min(v), a.1.max(v))
        });
    if !lo.is_finite() {
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: "no finite cells".into(),
        });
    }
    root.fill(&WHITE).map_err(e)?;
    let (main, bar) = root.split_horizontally(820);
    let cm = p.colormap;
    let norm = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    draw_cells(&main, p, g, |v| colormap(cm, norm(v)))?;
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
        .y_desc(p.colorbar_label.as_deref().unwrap_or("value"))
        .y_label_formatter(&|v| tick(*v))
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
            colormap(cm, k as f64 / (steps - 1) as f64).filled(),
        )
    }))
    .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// The regions map: measures[0] (space) and measures[1] (time), each smoothed by `smooth` cells and
/// compared with `threshold`; four colours with a legend naming them.
pub fn regions(p: &Plot, t: &Table) -> Result<Grid, ChartError> {
    let [space, time] = p.measures.as_slice() else {
        return Err(ChartError::Keys {
            plot: p.file.clone(),
            needs: "a regions chart needs exactly two measures: [space rank, time rank]".into(),
        });
    };
    let threshold = p.threshold.ok_or_else(|| ChartError::Keys {
        plot: p.file.clone(),
        needs: "a regions chart needs `threshold`".into(),
    })?;
    let (s, tm) = (grid(p, t, Some(space))?, grid(p, t, Some(time))?);
    if s.xs != tm.xs || s.ys != tm.ys {
        return Err(ChartError::Empty {
            plot: p.file.clone(),
            what: "the two measures cover different grids".into(),
        });
    }
    let sigma = p.smooth.unwrap_or(0.0);
    let (ss, ts) = (
        gaussian_smooth(&s.values, sigma),
        gaussian_smooth(&tm.values, sigma),
    );
    let values = ss
        .iter()
        .zip(&ts)
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| region(x, y, threshold) as f64)
                .collect()
        })
        .collect();
    Ok(Grid {
        xs: s.xs,
        ys: s.ys,
        values,
    })
}

/// Draws a regions grid (values are region indices) with its legend.
pub fn draw_regions<DB>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    p: &Plot,
    g: &Grid,
) -> Result<(), ChartError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| ChartError::draw(x);
    root.fill(&WHITE).map_err(e)?;
    let (main, legend) = root.split_horizontally(720);
    draw_cells(&main, p, g, |v| REGIONS[(v as usize).min(3)].0)?;
    let font = ("sans-serif", 16).into_font();
    for (k, (c, label)) in REGIONS.iter().enumerate() {
        let y = 120 + 40 * k as i32;
        legend
            .draw(&Rectangle::new([(10, y), (36, y + 26)], c.filled()))
            .map_err(e)?;
        legend
            .draw(&Text::new(label.to_string(), (44, y + 4), font.clone()))
            .map_err(e)?;
    }
    let note = format!(
        "threshold {} (σ = {} cells)",
        p.threshold.unwrap_or(f64::NAN),
        p.smooth.unwrap_or(0.0)
    );
    legend
        .draw(&Text::new(note, (10, 300), ("sans-serif", 14).into_font()))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cells reach halfway to their neighbours, so an int-rounded linspace tiles without gaps.
    #[test]
    fn cell_edges_tile_the_axis() {
        assert_eq!(cell_edges(&[3.0, 6.0, 10.0]), [1.5, 4.5, 8.0, 12.0]);
        assert_eq!(cell_edges(&[2.0]), [1.5, 2.5]);
    }

    /// The maps' ends and middle are matplotlib's (its `_cm_listed` tables, as 8-bit RGB).
    #[test]
    fn colour_maps_are_matplotlibs() {
        let rgb = |c: RGBColor| (c.0, c.1, c.2);
        assert_eq!(rgb(colormap(None, 0.0)), (0x44, 0x01, 0x54));
        assert_eq!(
            rgb(colormap(Some(Colormap::Viridis), 1.0)),
            (0xfd, 0xe7, 0x25)
        );
        // Mid-map: matplotlib's entry 128 is (0.1276, 0.5669, 0.5506) → (32.5, 144.6, 140.4);
        // colorous interpolates its table, so within one unit.
        let m = rgb(colormap(Some(Colormap::Viridis), 0.5));
        assert!(
            m.0.abs_diff(33) <= 1 && m.1.abs_diff(145) <= 1 && m.2.abs_diff(140) <= 1,
            "{m:?}"
        );
        assert_eq!(
            rgb(colormap(Some(Colormap::Magma), 0.0)),
            (0x00, 0x00, 0x04)
        );
        assert_eq!(
            rgb(colormap(Some(Colormap::Magma), 1.0)),
            (0xfc, 0xfd, 0xbf)
        );
        assert_eq!(rgb(colormap(None, f64::NAN)), (0x44, 0x01, 0x54));
    }

    #[test]
    fn smoothing_preserves_constants_and_mass_direction() {
        let flat = vec![vec![3.0; 7]; 5];
        for row in gaussian_smooth(&flat, 1.5) {
            for v in row {
                assert!((v - 3.0).abs() < 1e-12);
            }
        }
        // An impulse spreads symmetrically and stays centred.
        let mut imp = vec![vec![0.0; 9]; 9];
        imp[4][4] = 1.0;
        let s = gaussian_smooth(&imp, 1.0);
        assert!((s[4][3] - s[4][5]).abs() < 1e-15 && (s[3][4] - s[5][4]).abs() < 1e-15);
        assert!(s[4][4] > s[4][3] && s[4][3] > s[4][2]);
        let total: f64 = s.iter().flatten().sum();
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }

    #[test]
    fn region_codes() {
        assert_eq!(region(40.0, 40.0, 30.0), 0);
        assert_eq!(region(40.0, 10.0, 30.0), 1);
        assert_eq!(region(10.0, 40.0, 30.0), 2);
        assert_eq!(region(10.0, 10.0, 30.0), 3);
    }
}
