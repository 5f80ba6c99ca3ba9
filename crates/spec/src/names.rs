//! The closed vocabularies of a spec — architectures, operators, statistics, estimators, partial-trace
//! variants, optimizers, chart kinds, legend corners, colour maps — as enums. Each is declared once
//! with its spec spelling; serde, `as_str` (the spelling written into tables) and the lists quoted
//! in error messages all come from that one declaration.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spec spelling (also what tables record).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses a spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::unknown_variant(&s, Self::NAMES))
            }
        }
    };
}

names! {
    /// Model architecture (`model.arch`).
    Arch {
        /// kpflow's leaky RNN (dt, tanh).
        LeakyRnn = "leaky-rnn",
        /// The leaky RNN without the tanh.
        LinearRnn = "linear-rnn",
        /// PyTorch `nn.RNN` (tanh).
        Rnn = "rnn",
        /// PyTorch `nn.GRU`.
        Gru = "gru",
        /// Deep ReLU MLP (depth as time).
        MlpRelu = "mlp-relu",
        /// Residual tanh MLP (depth as time).
        MlpResidual = "mlp-residual",
        /// Single attention block + MLP.
        Attention = "attention",
    }
}

impl Arch {
    /// Recurrent cells (trainable by BPTT).
    pub fn is_recurrent(self) -> bool {
        matches!(
            self,
            Arch::LeakyRnn | Arch::LinearRnn | Arch::Rnn | Arch::Gru
        )
    }
    /// MLPs (depth as time).
    pub fn is_mlp(self) -> bool {
        matches!(self, Arch::MlpRelu | Arch::MlpResidual)
    }
    /// Cells with an Euler step dt (K = dt² G ⊗ I).
    pub fn is_leaky(self) -> bool {
        matches!(self, Arch::LeakyRnn | Arch::LinearRnn)
    }
    /// Cells whose recurrent weight `rnn.weight_hh_l0` is one square H x H matrix.
    pub fn has_square_recurrent_weight(self) -> bool {
        matches!(self, Arch::LeakyRnn | Arch::LinearRnn | Arch::Rnn)
    }
}

names! {
    /// What a measurement applies to (`measure.operator`).
    Operator {
        /// K by its Kronecker core.
        K = "k",
        /// K = J_θ J_θ* (the autodiff reference).
        KAutodiff = "k_autodiff",
        /// NTK_S = P K P*.
        Ntk = "ntk",
        /// P P*.
        PpStar = "pp_star",
        /// The output NTK (I ⊗ W_out) NTK_S (I ⊗ W_out)ᵀ.
        OutputNtk = "output_ntk",
        /// The NTK of the readout's outputs (a classifier's logits) at the last step, over every
        /// model and readout parameter: J_f J_fᵀ with J_f = [W_out P J_θ | ∂f/∂θ_out] (F13-extras).
        LogitNtk = "logit_ntk",
        /// P⁻¹ (adjoint checks).
        PInv = "p_inv",
        /// J_θ (adjoint checks).
        JTheta = "j_theta",
        /// The whole weight-site Gram G on (trial, step).
        Gram = "gram",
        /// P (its Gram P*P for PSD statistics; ‖P‖_F² for fro2).
        P = "p",
        /// The task's inputs.
        Data = "data",
        /// The training run (loss at checkpoints).
        Training = "training",
        /// The rollout's activity [z_t; x_t].
        Activity = "activity",
        /// R = (I − W_hh)⁻¹ of the model.
        Resolvent = "resolvent",
        /// R = (I − g W)⁻¹ of a Gaussian surrogate W.
        ResolventGaussian = "resolvent_gaussian",
        /// The rollout's states.
        States = "states",
        /// The closed-form filter of z_{t+1} = g z_t + x_t.
        ScalarFilter = "scalar_filter",
        /// The readout's output ŷ on the analysed trials (and the task's target Y).
        Output = "output",
    }
}

impl Operator {
    /// Operators measured without applying an NTK operator (cheap, exact).
    pub fn is_direct(self) -> bool {
        matches!(
            self,
            Operator::Activity
                | Operator::Resolvent
                | Operator::ResolventGaussian
                | Operator::States
                | Operator::ScalarFilter
        )
    }
}

names! {
    /// What is computed (`measure.statistic`).
    Statistic {
        /// tr A.
        Trace = "trace",
        /// ‖A‖_F².
        Fro2 = "fro2",
        /// ‖A‖_F.
        Fro = "fro",
        /// PR(A) = tr(A)²/‖A‖_F².
        EffRank = "eff_rank",
        /// PR of the partial trace keeping hidden.
        EffRankSpace = "eff_rank_space",
        /// PR of the partial trace keeping (batch, time).
        EffRankTime = "eff_rank_time",
        /// Largest eigenvalues.
        TopEigs = "top_eigs",
        /// All eigenvalues (dense).
        Spectrum = "spectrum",
        /// Top eigenvectors of the temporal compression as [B, T] curves.
        TemporalModes = "temporal_modes",
        /// The same scaled by λ² (kpflow's weighted modes).
        TemporalModesWeighted = "temporal_modes_weighted",
        /// Top-k temporal modes weighted by their share λ_i²/Σ_{j≤k} λ_j² (the transformer
        /// study's panel C, PAPER §9.9).
        WeightedModes = "weighted_modes",
        /// F13: the trace of NTK_S by each of `methods` at every budget and rerun, against the
        /// direct trace; rows `trace_estimate`, `rel_error`, `trace_direct`, `speedup`.
        TraceEstimate = "trace_estimate",
        /// All eigenvalues of the temporal compress_mean.
        TimeSpectrum = "time_spectrum",
        /// ⟨q, A q⟩/⟨q, q⟩ of the target direction.
        TargetRayleigh = "target_rayleigh",
        /// cos_F with the NTK at initialisation.
        AlignmentInit = "alignment_init",
        /// cos_F(NTK_S, P P*).
        AlignmentPpStar = "alignment_pp_star",
        /// Participation ratio of data.
        DataPr = "data_pr",
        /// The input PR's expectation for i.i.d. Gaussian inputs, d·N/(N + d + 1) with N = B·T
        /// sites and d input features (PAPER §12.3 F12's dashed check).
        DataPrGaussian = "data_pr_gaussian",
        /// Fourier features beyond f64 resolution: how many frequencies 2^j have no fractional
        /// bits left in 2^j·x at the median |x| (PAPER §10.4), so sin/cos(2π2^j x) are aliasing
        /// noise.
        AliasedFrequencies = "aliased_frequencies",
        /// Training loss.
        Loss = "loss",
        /// Kronecker-core error.
        KronError = "kron_error",
        /// 1 − PR/H of the spatial partial trace.
        BiasSpace = "bias_space",
        /// 1 − PR/(B·T) of the temporal partial trace.
        BiasTime = "bias_time",
        /// 1 − PR(R Rᵀ)/n.
        Bias = "bias",
        /// kpflow's 1 − cos_F(R Rᵀ, I).
        BiasCompat = "bias_compat",
        /// ρ(W).
        SpectralRadius = "spectral_radius",
        /// max ‖z_t‖.
        MaxNorm = "max_norm",
        /// Filter weights w_t.
        Weights = "weights",
        /// max |⟨Ax, y⟩ − ⟨x, A*y⟩|/(‖Ax‖‖y‖).
        AdjointDefect = "adjoint_defect",
        /// ‖P P⁻¹ − I‖_F/√n.
        InverseError = "inverse_error",
        /// Off-block mass of K between hidden units.
        BlockDefect = "block_defect",
        /// Spread of K's per-unit blocks.
        BlockSpread = "block_spread",
        /// ‖K‖_F/(dt²√H‖G‖_F).
        CoreNormRatio = "core_norm_ratio",
        /// Core alignment cos_F(C_h A, G) with the Gram of the model's weight sites (PAPER F4's
        /// align_exact).
        CoreAlignExact = "align_exact",
        /// Core alignment cos_F(C_h A, G) with kpflow's V_k = [z_t; x_t] (F4's align_kp).
        CoreAlignKpflow = "align_kp",
        /// Target-mode alignment a_i = (‖u_iᵀ Ŷ‖/σ_i)², i = 1..k, over the target's SVD
        /// Y = U Σ Vᵀ (degenerate pairs fixed to the channel axes, PAPER §7.4; F10).
        TargetModeAlignment = "target_mode_alignment",
        /// ⟨q, A q⟩/‖q‖² of the state direction q = u_k ⊗ W_outᵀ v_k whose readout is target mode
        /// k (F10's ρ₃).
        ModeRayleigh = "mode_rayleigh",
        /// The readout's outputs ŷ[b, t, c] (index = channel c) over the last `size` steps.
        Outputs = "outputs",
        /// The targets Y[b, t, c] of the analysed trials (index = channel c; F9's target panels).
        Targets = "targets",
        /// Mode energy ρ_k(y) = Σ_{i≤k} ⟨u_i, y⟩²/‖y‖² of the targets over the top temporal modes
        /// u_i of C_h(A), k = 1..`k` (F9).
        ModeEnergy = "mode_energy",
        /// Target alignment (yᵀ C_h(A) y/yᵀy)/tr A with C_h = kpflow's compress_mean over hidden
        /// units, (I ⊗ 1ᵀ) A (I ⊗ 1)/H, and y the targets (F11's "Target-NTK Alignment").
        TargetAlignment = "target_alignment",
    }
}

impl Statistic {
    /// Statistics whose rows record a partial-trace variant.
    pub fn records_variant(self) -> bool {
        matches!(
            self,
            Statistic::EffRankSpace
                | Statistic::EffRankTime
                | Statistic::BiasSpace
                | Statistic::BiasTime
        )
    }
}

names! {
    /// A randomized trace estimator compared by `trace_estimate` (PAPER §5.2); Hutch++ alone
/// estimates the related terms of `logit_ntk` (F13-extras).
    TraceMethod {
        /// Hutchinson on NTK_S (one NTK matvec per probe).
        Hutchinson = "hutchinson",
        /// Hutch++ with the trace paper's split (q = ⌊m/6⌋ sketch, the rest residual probes).
        Hutchpp = "hutchpp",
        /// One-sided, forward passes J only (probes in parameter space).
        Fhutch = "fhutch",
        /// One-sided, adjoint passes Jᵀ only (probes in state space).
        Rhutch = "rhutch",
    }
}

names! {
    /// The precision the NTK operators run in (`model.precision`): `f64` (the default) or `f32`
    /// (single-precision data and GEMMs inside P, P*, K and NTK_S; f64 inputs, outputs and
    /// estimator reductions; training, rollouts, J_θ and P⁻¹ stay f64).
    #[derive(Default)]
    Precision {
        /// Double precision throughout.
        #[default]
        F64 = "f64",
        /// Single precision inside the operators.
        F32 = "f32",
    }
}

impl Precision {
    /// Whether this is the default (omitted from cache keys, so f64 entries keep their keys).
    pub fn is_f64(&self) -> bool {
        *self == Precision::F64
    }
}

names! {
    /// The attention block's positional term (`model.positional`, PAPER §6.5).
    PositionalKind {
        /// None (the main panels).
        Off = "off",
        /// A learned [max_len, D] table, 0.02·N(0, 1) (a trained tensor).
        Learned = "learned",
        /// Fixed Vaswani sinusoids, the first `model.pe_components` channels kept.
        Sinusoidal = "sinusoidal",
    }
}

names! {
    /// Which student weights a `[teacher]` setup draws afresh (× model.gain) and trains (PAPER §6.4).
    TeacherCase {
        /// A fresh orthogonal W_h; W_h trained.
        W = "W",
        /// Fresh xavier-normal input weights W_in; W_in and b_in trained.
        Win = "Win",
    }
}

names! {
    /// How a `[target]` is built from the model at initialisation (F9's cases).
    TargetCase {
        /// The top temporal NTK mode u₁ of C_h(NTK_S) itself (no trial scaling): a target wholly
        /// in the dominant mode (gentk's control for claim 4).
        TopMode = "top_mode",
        /// Case I: the top temporal NTK mode u₁ of C_h(NTK_S), trials scaled −0.5 (first half) and
        /// 0.3 (second half).
        Preferred = "preferred",
        /// Case II: (ŷ_I + ŷ_III)/√2 of the unit-RMS preferred and nullspace targets.
        Mix = "mix",
        /// Case III: zero except the last 20 steps, where trial b has 10 + b (× −3 for b ≥ 5).
        Nullspace = "nullspace",
    }
}

names! {
    /// How a statistic is estimated (`measure.estimator`).
    Estimator {
        /// Dense and exact (size-limited).
        Exact = "exact",
        /// Seeded, budgeted randomized estimators.
        Randomized = "randomized",
    }
}

names! {
    /// Partial-trace variant of space/time ranks (`measure.variant`).
    Variant {
        /// Σ_k (I ⊗ e_kᵀ) A (I ⊗ e_k).
        Textbook = "textbook",
        /// kpflow's (I ⊗ 1ᵀ) A (I ⊗ 1).
        CompressSum = "compress_sum",
        /// The same divided by the traced size.
        CompressMean = "compress_mean",
    }
}

names! {
    /// Training optimizer (`train.optimizer`).
    OptimizerKind {
        /// SGD with momentum (PyTorch semantics).
        Sgd = "sgd",
        /// Adam (PyTorch semantics).
        Adam = "adam",
    }
}

names! {
    /// Chart kind (`plot.kind`).
    PlotKind {
        /// Measurements against a column.
        Line = "line",
        /// Running sum / total per series.
        Cumulative = "cumulative",
        /// x and y sweep columns, colour = value.
        Heatmap = "heatmap",
        /// Temporal mode curves, one per (mode, trial).
        Modes = "modes",
        /// F7's four-region map.
        Regions = "regions",
        /// Grouped log-scale bars.
        Bars = "bars",
        /// Two measures against each other per point.
        Scatter = "scatter",
        /// Output trajectories: per trial, channel `channels[0]` against `channels[1]` along the
        /// `x` column (the step), segments coloured from dark to bright with time.
        Paths = "paths",
    }
}

names! {
    /// Training loss (`train.loss`).
    TrainLoss {
        /// Mean squared error (default).
        Mse = "mse",
        /// Softmax cross-entropy on one-hot targets (a classifier's logits).
        CrossEntropy = "cross_entropy",
    }
}

// `names!` declares the enum, so `#[derive(Default)]` cannot be attached.
#[allow(clippy::derivable_impls)]
impl Default for TrainLoss {
    fn default() -> Self {
        TrainLoss::Mse
    }
}

impl TrainLoss {
    /// The default (skipped when a spec is serialised, so cache keys stay as they were).
    pub fn is_mse(&self) -> bool {
        *self == TrainLoss::Mse
    }
}

names! {
    /// The table a chart draws from (`plot.table`).
    PlotTable {
        /// `table.parquet`: the deterministic results.
        Results = "results",
        /// `timings.parquet`: measured wall times (not reproducible).
        Timings = "timings",
    }
}

// `names!` declares the enum, so `#[derive(Default)]` cannot be attached.
#[allow(clippy::derivable_impls)]
impl Default for PlotTable {
    fn default() -> Self {
        PlotTable::Results
    }
}

impl PlotTable {
    /// The default (skipped when a spec is serialised, so cache keys stay as they were).
    pub fn is_results(&self) -> bool {
        *self == PlotTable::Results
    }
}

names! {
    /// Legend corner of line charts (`plot.legend`).
    Legend {
        /// Upper right (default).
        UpperRight = "upper-right",
        /// Upper left.
        UpperLeft = "upper-left",
        /// Lower right.
        LowerRight = "lower-right",
        /// Lower left.
        LowerLeft = "lower-left",
        /// Middle right.
        MiddleRight = "middle-right",
        /// Right of the plot area (for charts whose data fill every corner).
        Outside = "outside",
    }
}

names! {
    /// Heatmap colour map (`plot.colormap`).
    Colormap {
        /// matplotlib's viridis (default).
        Viridis = "viridis",
        /// matplotlib's magma.
        Magma = "magma",
        /// matplotlib's inferno.
        Inferno = "inferno",
        /// matplotlib's plasma.
        Plasma = "plasma",
        /// matplotlib's cividis (F11's alignment maps).
        Cividis = "cividis",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_names_list_the_choices() {
        for s in Statistic::ALL {
            assert_eq!(Statistic::parse(s.as_str()), Some(*s));
        }
        #[derive(Deserialize)]
        struct W {
            #[allow(dead_code)]
            op: Operator,
        }
        let e = toml::from_str::<W>("op = \"ntks\"").err().unwrap();
        assert!(e.message().contains("unknown variant `ntks`"), "{e}");
        assert!(e.message().contains("`pp_star`"), "{e}");
    }
}
