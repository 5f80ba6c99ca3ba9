//! The parameter operator K through its Kronecker core (PAPER.md §3.7): K = Σ_w 𝒟_w (S_w S_wᵀ ⊗ I_H) 𝒟_w,
//! applied to a block of probes as two GEMMs per group of weights that share a D factor and steps
//! (Y = 𝒟 Q, M = Sᵀ Y, Z = S M, out += 𝒟 Z), never forming an n x n matrix. Cost per probe
//! 4·N_w·d_w·H per group.

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::{gemm, gemm_par, with_buffer, with_scratch};
use gentk_linalg::scalar::narrow_mat;
use gentk_linalg::{LinearOp, Real, Shape};
use gentk_models::rollout::for_columns;
use gentk_models::{Rollout, SiteFactor, StepModel, WeightSite};

use crate::error::{NtkError, Result};

/// Weights sharing one D factor and one set of steps, with their site vectors side by side.
#[derive(Debug, Clone)]
pub struct SiteGroup {
    /// Tensor names in the group (with gate-row ranges when partial).
    pub params: Vec<String>,
    /// Steps at which the group acts.
    pub steps: std::ops::Range<usize>,
    /// Concatenated site vectors, (B·|steps|) x Σ d.
    pub sites: Mat<f64>,
    /// The shared D factor.
    pub factor: SiteFactor,
    /// The state channels the group writes (None: all).
    pub channels: Option<std::ops::Range<usize>>,
    /// Sᵀ stored column-major (the second GEMM of every application reads it).
    sites_t: Mat<f64>,
    /// A diagonal factor transposed to H x N (site r's diagonal is column r, contiguous), so the
    /// per-probe scaling passes stream through memory.
    factor_t: Option<Mat<f64>>,
}

impl SiteGroup {
    /// The Gram matrix G = S Sᵀ over this group's sites (dense, (B·|steps|)²).
    pub fn gram(&self) -> Mat<f64> {
        let n = self.sites.nrows();
        let mut g = Mat::zeros(n, n);
        gemm_par(
            g.as_mut(),
            self.sites.as_ref(),
            self.sites.transpose(),
            1.0,
            false,
        );
        g
    }
}

/// The matrices one application of a group reads, in the scalar the core runs in: the f64 group
/// itself, or its f32 copy ([`LowGroup`]).
trait GroupMats<T> {
    fn sites(&self) -> &Mat<T>;
    fn sites_t(&self) -> &Mat<T>;
    fn factor_t(&self) -> Option<&Mat<T>>;
}

impl GroupMats<f64> for SiteGroup {
    fn sites(&self) -> &Mat<f64> {
        &self.sites
    }
    fn sites_t(&self) -> &Mat<f64> {
        &self.sites_t
    }
    fn factor_t(&self) -> Option<&Mat<f64>> {
        self.factor_t.as_ref()
    }
}

/// A site group's matrices rounded to f32 (the single-precision mode).
struct LowGroup {
    sites: Mat<f32>,
    sites_t: Mat<f32>,
    factor_t: Option<Mat<f32>>,
}

impl GroupMats<f32> for LowGroup {
    fn sites(&self) -> &Mat<f32> {
        &self.sites
    }
    fn sites_t(&self) -> &Mat<f32> {
        &self.sites_t
    }
    fn factor_t(&self) -> Option<&Mat<f32>> {
        self.factor_t.as_ref()
    }
}

fn same_factor(a: &SiteFactor, b: &SiteFactor) -> bool {
    match (a, b) {
        (SiteFactor::Scalar(x), SiteFactor::Scalar(y)) => x.to_bits() == y.to_bits(),
        (SiteFactor::Diagonal(x), SiteFactor::Diagonal(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// Groups weight sites by (D factor, steps, channels), concatenating their sites; `subset` keeps only the named
/// tensors.
pub fn site_groups(sites: Vec<WeightSite>, subset: Option<&[&str]>) -> Vec<SiteGroup> {
    struct Pending {
        params: Vec<String>,
        steps: std::ops::Range<usize>,
        parts: Vec<Arc<Mat<f64>>>,
        factor: SiteFactor,
        channels: Option<std::ops::Range<usize>>,
    }
    let mut groups: Vec<Pending> = Vec::new();
    for w in sites {
        if let Some(s) = subset
            && !s.contains(&w.param.as_str())
        {
            continue;
        }
        let label = format!("{}[rows {}..{}]", w.param, w.rows.start, w.rows.end);
        if let Some(g) = groups.iter_mut().find(|g| {
            g.steps == w.steps && g.channels == w.channels && same_factor(&g.factor, &w.factor)
        }) {
            g.params.push(label);
            g.parts.push(w.sites);
        } else {
            groups.push(Pending {
                params: vec![label],
                steps: w.steps,
                parts: vec![w.sites],
                factor: w.factor,
                channels: w.channels,
            });
        }
    }
    groups
        .into_iter()
        .map(|p| {
            let Pending {
                params,
                steps,
                parts,
                factor,
                channels,
            } = p;
            let rows = parts[0].nrows();
            let d: usize = parts.iter().map(|p| p.ncols()).sum();
            let mut sites = Mat::zeros(rows, d);
            let mut off = 0;
            for p in &parts {
                sites
                    .as_mut()
                    .subcols_mut(off, p.ncols())
                    .copy_from(p.as_ref());
                off += p.ncols();
            }
            let sites_t = sites.transpose().to_owned();
            let factor_t = match &factor {
                SiteFactor::Scalar(_) => None,
                SiteFactor::Diagonal(d) => Some(d.transpose().to_owned()),
            };
            SiteGroup {
                factor_t,
                params,
                steps,
                sites,
                factor,
                channels,
                sites_t,
            }
        })
        .collect()
}

/// K by the Kronecker-core fast path.
pub struct KroneckerCore {
    groups: Vec<SiteGroup>,
    /// The groups in f32 when the core runs in single precision.
    low: Option<Vec<LowGroup>>,
    batch: usize,
    time: usize,
    hidden: usize,
    shape: Shape,
}

impl KroneckerCore {
    /// K of a rollout (subset: only these tensors; None = all parameters acting on the state).
    pub fn new(model: &dyn StepModel, ro: &Rollout, subset: Option<&[&str]>) -> Result<Self> {
        if let Some(names) = subset {
            let lay = model.params().layout();
            for n in names {
                lay.get(n).map_err(NtkError::Model)?;
            }
        }
        Ok(Self::from_sites(
            model.weight_sites(ro),
            subset,
            ro.batch,
            ro.time,
            ro.hidden,
        ))
    }

    /// K from weight sites over a `[batch, time, hidden]` state (any model that lists its sites:
    /// the recurrent cells through [`KroneckerCore::new`], the attention block's pre-activation
    /// state with one channel block per weight).
    pub fn from_sites(
        sites: Vec<WeightSite>,
        subset: Option<&[&str]>,
        batch: usize,
        time: usize,
        hidden: usize,
    ) -> Self {
        KroneckerCore {
            groups: site_groups(sites, subset),
            low: None,
            batch,
            time,
            hidden,
            shape: Shape::state(batch, time, hidden),
        }
    }

    /// The same K applied in single precision: f32 copies of the site matrices and D factors,
    /// f32 GEMMs, f64 in and out.
    pub fn single_precision(mut self) -> Self {
        self.low = Some(
            self.groups
                .iter()
                .map(|g| LowGroup {
                    sites: narrow_mat(g.sites.as_ref()),
                    sites_t: narrow_mat(g.sites_t.as_ref()),
                    factor_t: g.factor_t.as_ref().map(|f| narrow_mat(f.as_ref())),
                })
                .collect(),
        );
        self
    }

    /// Whether K runs in single precision.
    pub fn is_single_precision(&self) -> bool {
        self.low.is_some()
    }

    /// K on a column-major f32 block (k probes): the single-precision core, or the f64 core on
    /// each widened probe when the core was not built with [`KroneckerCore::single_precision`].
    pub fn apply_f32(&self, x: MatRef<'_, f32>, y: MatMut<'_, f32>) {
        match self.low.as_deref() {
            Some(low) => for_columns(x, y, |q, out| self.apply_one(low, q, out)),
            None => for_columns(x, y, |q, out| {
                self.apply_converted::<_, f64, _>(&self.groups, q, out)
            }),
        }
    }

    /// [`KroneckerCore::apply_one`] in scalar `T` on a probe held in scalar `X`: the probe is
    /// converted into a pooled buffer and the result converted back.
    fn apply_converted<X: Real, T: Real, G: GroupMats<T>>(
        &self,
        mats: &[G],
        q: &[X],
        out: &mut [X],
    ) {
        with_scratch(2 * q.len(), |buf: &mut [T]| {
            let (qt, ot) = buf.split_at_mut(q.len());
            qt.iter_mut().zip(q).for_each(|(d, v)| *d = T::of(v.wide()));
            self.apply_one(mats, qt, ot);
            out.iter_mut()
                .zip(&*ot)
                .for_each(|(d, v)| *d = X::of(v.wide()));
        })
    }

    /// The groups (site matrices and D factors), e.g. for the Gram G and its modes.
    pub fn groups(&self) -> &[SiteGroup] {
        &self.groups
    }

    /// Flops of K on one probe (2 per multiply-add): 4·N_w·d_w·H_w per group (site rows N_w, site
    /// columns d_w, channels H_w; PAPER.md §5.12), the D factors' O(N·H) passes left out.
    pub fn flops_per_probe(&self) -> u64 {
        self.groups
            .iter()
            .map(|g| {
                let hc = g.channels.as_ref().map_or(self.hidden, |c| c.len());
                4 * (g.sites.nrows() * g.sites.ncols() * hc) as u64
            })
            .sum()
    }

    /// K q for one probe (flattened `[B, T, H]`) into `out` (overwritten). Works on Qᵀ, the probe's
    /// memory seen as an H x N column-major matrix, so no copies: (K_w q)ᵀ = 𝒟(((𝒟 Qᵀ) S) Sᵀ).
    /// Intermediates come from the per-thread buffer pool.
    fn apply_one<T: Real, G: GroupMats<T>>(&self, mats: &[G], q: &[T], out: &mut [T]) {
        let (h, tt, bsz) = (self.hidden, self.time, self.batch);
        out.iter_mut().for_each(|v| *v = T::default());
        for (g, gm) in self.groups.iter().zip(mats) {
            let ns = g.steps.len();
            let nw = bsz * ns;
            let full = g.steps.start == 0 && g.steps.end == tt;
            let ch = g.channels.clone().unwrap_or(0..h);
            let hc = ch.len();
            let d = g.sites.ncols();
            let scalar = matches!(g.factor, SiteFactor::Scalar(_));
            let lens = [
                if full || ns == 1 { 0 } else { h * nw },
                if scalar { 0 } else { hc * nw },
                hc * d,
                if scalar && full { 0 } else { hc * nw },
            ];
            with_buffer(lens.iter().sum(), |buf: &mut [T]| {
                let (gbuf, rest) = buf.split_at_mut(lens[0]);
                let (sbuf, rest) = rest.split_at_mut(lens[1]);
                let (mbuf, zbuf) = rest.split_at_mut(lens[2]);
                // Column r of Qᵀ restricted to the group's sites: (b, t) = (r / ns, start + r % ns).
                let qt = if full {
                    MatRef::from_column_major_slice(q, h, nw)
                } else if ns == 1 {
                    MatRef::from_column_major_slice_with_stride(
                        &q[g.steps.start * h..],
                        h,
                        bsz,
                        tt * h,
                    )
                } else {
                    for (r, col) in gbuf.chunks_exact_mut(h).enumerate() {
                        let s = ((r / ns) * tt + g.steps.start + r % ns) * h;
                        col.copy_from_slice(&q[s..s + h]);
                    }
                    MatRef::from_column_major_slice(&*gbuf, h, nw)
                }
                .subrows(ch.start, hc);
                let yt = match gm.factor_t() {
                    Some(dt) => {
                        for (r, col) in sbuf.chunks_exact_mut(hc).enumerate() {
                            let dr = &dt.col_as_slice(r)[ch.clone()];
                            match qt.col(r).try_as_col_major() {
                                Some(qc) => {
                                    let qc = qc.as_slice();
                                    for i in 0..hc {
                                        col[i] = dr[i] * qc[i];
                                    }
                                }
                                None => {
                                    for i in 0..hc {
                                        col[i] = dr[i] * qt[(i, r)];
                                    }
                                }
                            }
                        }
                        MatRef::from_column_major_slice(&*sbuf, hc, nw)
                    }
                    None => qt,
                };
                let scale = T::of(match g.factor {
                    SiteFactor::Scalar(c) => c * c,
                    SiteFactor::Diagonal(_) => 1.0,
                });
                let mut mt = MatMut::from_column_major_slice_mut(mbuf, hc, d);
                gemm(mt.as_mut(), yt, gm.sites().as_ref(), T::of(1.0), false);
                if scalar && full {
                    gemm(
                        MatMut::from_column_major_slice_mut(out, h, nw).subrows_mut(ch.start, hc),
                        mt.as_ref(),
                        gm.sites_t().as_ref(),
                        scale,
                        true,
                    );
                    return;
                }
                gemm(
                    MatMut::from_column_major_slice_mut(&mut *zbuf, hc, nw),
                    mt.as_ref(),
                    gm.sites_t().as_ref(),
                    scale,
                    false,
                );
                for (r, zc) in zbuf.chunks_exact(hc).enumerate() {
                    let s = (r / ns) * tt + g.steps.start + r % ns;
                    let col = &mut out[s * h + ch.start..s * h + ch.end];
                    match gm.factor_t() {
                        None => col.iter_mut().zip(zc).for_each(|(v, z)| *v += *z),
                        Some(dt) => {
                            let dr = &dt.col_as_slice(r)[ch.clone()];
                            for i in 0..hc {
                                col[i] += dr[i] * zc[i];
                            }
                        }
                    }
                }
            });
        }
    }

    /// K on a block: probes in parallel (each probe's result is independent of the others, so the
    /// bits do not depend on the thread count), two GEMMs per site group and probe.
    fn apply(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        match self.low.as_deref() {
            None => for_columns(x, y, |q, out| self.apply_one(&self.groups, q, out)),
            Some(low) => for_columns(x, y, |q, out| {
                self.apply_converted::<_, f32, _>(low, q, out)
            }),
        }
    }
}

impl LinearOp for KroneckerCore {
    fn shape_in(&self) -> &Shape {
        &self.shape
    }
    fn shape_out(&self) -> &Shape {
        &self.shape
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.apply(x, y)
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.apply(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}
