//! The attention block's weight sites in the common [`WeightSite`] form: each weight's site variable
//! over the N = B·T tokens and the channel block of the pre-activation state it writes, so the
//! Kronecker core of gentk-ntk applies K = ⊕_j G_j ⊗ I to it as to any RNN.

use std::sync::Arc;

use faer::Mat;

use super::config::names::*;
use super::forward::{AttentionBlock, AttentionTape};
use crate::rollout::{SiteFactor, WeightSite};

impl AttentionBlock {
    /// The site variable of tensor `name` (N x fan_in; a bias has ones, the learned positional
    /// table one-hot positions, N x T), None for a tensor the block does not have.
    pub fn site_of(&self, tape: &AttentionTape, name: &str) -> Option<Arc<Mat<f64>>> {
        let n = tape.tokens();
        let m = |x: &Mat<f64>| Some(Arc::new(x.clone()));
        match name {
            W_IN => m(&tape.x_in),
            B_IN => Some(Arc::new(Mat::from_fn(n, 1, |_, _| 1.0))),
            POS if self.t.pos.is_some() => Some(Arc::new(Mat::from_fn(n, tape.time, |r, c| {
                if r % tape.time == c { 1.0 } else { 0.0 }
            }))),
            W_Q | W_K | W_V => m(&tape.h0),
            W_O => m(&tape.a),
            W_1 => m(&tape.u1),
            W_2 => m(&tape.u2),
            W_3 => m(&tape.h2),
            _ => None,
        }
    }

    /// Every weight acting on V with its site variables and channel block of the pre-activation
    /// state u = [h0 | q | k | v | attn_out | h1 | h2] (W_3 acts after V and has none). Every
    /// token is a site of every weight (`steps` = 0..T), with D = I.
    pub fn weight_sites(&self, tape: &AttentionTape) -> Vec<WeightSite> {
        let c = self.config().channels();
        let mut v = vec![(W_IN, c.h0()), (B_IN, c.h0())];
        if self.t.pos.is_some() {
            v.push((POS, c.h0()));
        }
        v.extend([
            (W_Q, c.q()),
            (W_K, c.k()),
            (W_V, c.v()),
            (W_O, c.attn_out()),
            (W_1, c.h1()),
            (W_2, c.h2()),
        ]);
        // Sites that share a variable share one allocation.
        let (h0, x) = (self.site_of(tape, W_Q), self.site_of(tape, W_IN));
        v.into_iter()
            .filter_map(|(name, ch)| {
                let sites = match name {
                    W_Q | W_K | W_V => h0.clone(),
                    W_IN => x.clone(),
                    _ => self.site_of(tape, name),
                }?;
                Some(WeightSite {
                    param: name.into(),
                    rows: 0..ch.len(),
                    steps: 0..tape.time,
                    sites,
                    factor: SiteFactor::Scalar(1.0),
                    channels: Some(ch),
                })
            })
            .collect()
    }
}
