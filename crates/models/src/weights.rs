//! safetensors import/export with PyTorch `state_dict` names (`rnn.weight_ih_l0`, …, `Wout.weight`).
//! Reading accepts f32 or f64; writing is f64. Loading is all-or-nothing: every tensor is checked
//! (name, shape, dtype, finiteness, tied copies) before a model is built.

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::cells::{
    Gru, GruConfig, LeakyRnn, LeakyRnnConfig, TanhRnn, TanhRnnConfig, gru, leaky, tanh_rnn,
};
use crate::error::{ModelError, Result};
use crate::params::{ParamLayout, Params};
use crate::readout::{B_OUT, Readout, W_OUT};
use crate::rollout::{Recurrent, StepModel};

/// One tensor read from a file: shape and values (converted to f64).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// Values.
    pub values: Vec<f64>,
}

/// All tensors of a file, by name.
pub type StateDict = BTreeMap<String, Tensor>;

fn tensor_err(name: &str, reason: impl Into<String>) -> ModelError {
    ModelError::Tensor {
        tensor: name.to_string(),
        reason: reason.into(),
    }
}

/// Parses a safetensors buffer (f32/f64 tensors only; non-finite values are errors naming the tensor).
pub fn read_state_dict(bytes: &[u8]) -> Result<StateDict> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| ModelError::File(format!("not a safetensors file: {e}")))?;
    let mut out = StateDict::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64)
                .collect(),
            other => {
                return Err(tensor_err(
                    &name,
                    format!("dtype {other:?} is not supported (use float32 or float64)"),
                ));
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(tensor_err(
                &name,
                format!("non-finite value at flat index {i}"),
            ));
        }
        out.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok(out)
}

/// Serialises named f64 tensors (in name order) to safetensors bytes.
pub fn write_tensors(tensors: &[(String, Vec<usize>, Vec<f64>)]) -> Result<Vec<u8>> {
    write_tensors_with_metadata(tensors, None)
}

/// Safetensors bytes of **float32** tensors, as `safetensors.torch.save_file` writes a PyTorch
/// state_dict (8-byte little-endian header size, JSON header padded to 8 bytes, raw little-endian
/// data). Used for interop fixtures and the CLI's example files; gentk itself writes f64.
pub fn write_tensors_f32(tensors: &[(String, Vec<usize>, Vec<f64>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, shape, vals)) in tensors.iter().enumerate() {
        let start = data.len();
        vals.iter()
            .for_each(|v| data.extend((*v as f32).to_le_bytes()));
        let shape_s = shape
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",");
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{shape_s}],\"data_offsets\":[{start},{}]}}",
            data.len()
        ));
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// A training checkpoint as one safetensors file: model and readout tensors under their state_dict
/// names, with `iteration`, `loss` (exact, as f64 bits in hex and as text) and `arch` in the header
/// metadata.
pub fn checkpoint_bytes(cp: &crate::train::Checkpoint, arch: &str) -> Result<Vec<u8>> {
    let mut t = params_tensors(&cp.model);
    t.extend(params_tensors(&cp.readout));
    let meta = std::collections::HashMap::from([
        ("iteration".to_string(), cp.iteration.to_string()),
        ("loss".to_string(), format!("{}", cp.loss)),
        (
            "loss_bits".to_string(),
            format!("{:016x}", cp.loss.to_bits()),
        ),
        ("arch".to_string(), arch.to_string()),
    ]);
    write_tensors_with_metadata(&t, Some(meta))
}

/// The header metadata of a safetensors buffer (empty when it has none).
pub fn read_metadata(bytes: &[u8]) -> Result<std::collections::HashMap<String, String>> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| ModelError::File(format!("not a safetensors file: {e}")))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

fn write_tensors_with_metadata(
    tensors: &[(String, Vec<usize>, Vec<f64>)],
    meta: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (n, s, b) in &bytes {
        let view =
            TensorView::new(Dtype::F64, s.clone(), b).map_err(|e| tensor_err(n, e.to_string()))?;
        views.push((n.clone(), view));
    }
    safetensors::serialize(views, meta).map_err(|e| ModelError::File(e.to_string()))
}

/// The tensors of a parameter set, in layout order.
pub fn params_tensors(p: &Params) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    p.layout()
        .entries()
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.shape.clone(),
                p.values()[e.range()].to_vec(),
            )
        })
        .collect()
}

/// Saves a recurrent model (and optional readout) as an f64 safetensors buffer.
pub fn save_model(model: &dyn Recurrent, readout: Option<&Readout>) -> Result<Vec<u8>> {
    let mut t = params_tensors(model.params());
    if let Some(r) = readout {
        t.extend(params_tensors(r.params()));
    }
    write_tensors(&t)
}

/// Saves any parameter set (MLP, attention block, readout …) as f64 safetensors.
pub fn save_params(p: &Params) -> Result<Vec<u8>> {
    write_tensors(&params_tensors(p))
}

/// Loads a parameter set of a known layout from safetensors bytes: every tensor of the layout must be
/// present with its shape, and no other tensor may be (all-or-nothing).
pub fn load_params(bytes: &[u8], layout: ParamLayout) -> Result<Params> {
    let sd = read_state_dict(bytes)?;
    if let Some(k) = sd.keys().find(|k| layout.get(k).is_err()) {
        return Err(tensor_err(
            k,
            format!("unexpected tensor (expected {})", layout.names().join(", ")),
        ));
    }
    params_from_state_dict(&sd, layout)
}

/// Fills `layout` from the state dict, checking every shape; returns the names it consumed.
pub fn params_from_state_dict(sd: &StateDict, layout: ParamLayout) -> Result<Params> {
    let mut p = Params::zeros(layout);
    let entries = p.layout().entries().to_vec();
    for e in &entries {
        let t = sd
            .get(&e.name)
            .ok_or_else(|| tensor_err(&e.name, "missing"))?;
        if t.shape != e.shape {
            return Err(tensor_err(
                &e.name,
                format!("expected shape {:?}, got {:?}", e.shape, t.shape),
            ));
        }
        p.values_mut()[e.range()].copy_from_slice(&t.values);
    }
    Ok(p)
}

/// Which recurrent architecture a weight file holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arch {
    /// kpflow's BasicRNN (leaky, weight-based) with step dt.
    LeakyRnn {
        /// Euler step.
        dt: f64,
    },
    /// PyTorch nn.RNN (tanh).
    Rnn,
    /// PyTorch nn.GRU.
    Gru,
}

/// A model loaded from a state dict.
pub struct LoadedModel {
    /// The recurrent cell.
    pub model: Box<dyn Recurrent>,
    /// The readout, when `Wout.weight` is present.
    pub readout: Option<Readout>,
}

fn dims2(sd: &StateDict, name: &str) -> Result<(usize, usize)> {
    let t = sd.get(name).ok_or_else(|| tensor_err(name, "missing"))?;
    match t.shape[..] {
        [r, c] => Ok((r, c)),
        _ => Err(tensor_err(
            name,
            format!("expected a 2-D tensor, got shape {:?}", t.shape),
        )),
    }
}

/// Builds a model from a PyTorch-style state dict. Sizes are inferred from `rnn.weight_hh_l0` and
/// `rnn.weight_ih_l0`; biases are optional; kpflow's tied copies `rnn.cell.weight_ih`/`_hh` are
/// accepted when equal to the `_l0` tensors; any other key is an error naming it.
pub fn load_model(sd: &StateDict, arch: Arch) -> Result<LoadedModel> {
    let (hr, hc) = dims2(sd, tanh_rnn::W_HH)?;
    let (ir, nx) = dims2(sd, tanh_rnn::W_IH)?;
    let h = hc;
    let gate_rows = if matches!(arch, Arch::Gru) { 3 * h } else { h };
    if hr != gate_rows {
        return Err(tensor_err(
            tanh_rnn::W_HH,
            format!("expected shape [{gate_rows}, {h}], got [{hr}, {hc}]"),
        ));
    }
    if ir != gate_rows {
        return Err(tensor_err(
            tanh_rnn::W_IH,
            format!("expected {gate_rows} rows (hidden size {h}), got {ir}"),
        ));
    }
    let mut consumed: Vec<String> = Vec::new();
    let model: Box<dyn Recurrent> = match arch {
        Arch::LeakyRnn { dt } => {
            let mut cfg = LeakyRnnConfig::new(nx, h);
            cfg.dt = dt;
            cfg.bias = sd.contains_key(leaky::BIAS);
            let mut m = LeakyRnn::zeros(cfg)?;
            *m.params_mut() = params_from_state_dict(sd, LeakyRnn::layout(m.config()))?;
            Box::new(m)
        }
        Arch::Rnn => {
            let cfg = TanhRnnConfig {
                input: nx,
                hidden: h,
                bias_ih: sd.contains_key(tanh_rnn::B_IH),
                bias_hh: sd.contains_key(tanh_rnn::B_HH),
            };
            let mut m = TanhRnn::zeros(cfg)?;
            *m.params_mut() = params_from_state_dict(sd, TanhRnn::layout(m.config()))?;
            Box::new(m)
        }
        Arch::Gru => {
            let (bi, bh) = (sd.contains_key(gru::B_IH), sd.contains_key(gru::B_HH));
            if bi != bh {
                let missing = if bi { gru::B_HH } else { gru::B_IH };
                return Err(tensor_err(
                    missing,
                    "missing (nn.GRU has both biases or neither)",
                ));
            }
            let cfg = GruConfig {
                input: nx,
                hidden: h,
                bias: bi,
            };
            let mut m = Gru::zeros(cfg)?;
            *m.params_mut() = params_from_state_dict(sd, Gru::layout(m.config()))?;
            Box::new(m)
        }
    };
    consumed.extend(
        model
            .params()
            .layout()
            .names()
            .iter()
            .map(|s| s.to_string()),
    );
    // kpflow BasicRNN keeps tied copies of the cell weights.
    for (tied, orig) in [
        (crate::names::TIED_W_IH, tanh_rnn::W_IH),
        (crate::names::TIED_W_HH, tanh_rnn::W_HH),
    ] {
        if let Some(t) = sd.get(tied) {
            let o = &sd[orig];
            if t.shape != o.shape || t.values != o.values {
                return Err(tensor_err(tied, format!("tied copy differs from `{orig}`")));
            }
            consumed.push(tied.to_string());
        }
    }
    let readout = if let Some(w) = sd.get(W_OUT) {
        let [ny, hh] = w.shape[..] else {
            return Err(tensor_err(
                W_OUT,
                format!("expected a 2-D tensor, got shape {:?}", w.shape),
            ));
        };
        if hh != h {
            return Err(tensor_err(
                W_OUT,
                format!("expected {h} columns (hidden size), got {hh}"),
            ));
        }
        let p = params_from_state_dict(sd, Readout::layout(h, ny, sd.contains_key(B_OUT)))?;
        consumed.extend([W_OUT.to_string(), B_OUT.to_string()]);
        Some(Readout::from_params(p)?)
    } else {
        if sd.contains_key(B_OUT) {
            return Err(tensor_err(W_OUT, "missing while `Wout.bias` is present"));
        }
        None
    };
    if let Some(k) = sd.keys().find(|k| !consumed.contains(k)) {
        return Err(tensor_err(
            k,
            format!(
                "unexpected tensor for arch {arch:?} (expected {})",
                consumed.join(", ")
            ),
        ));
    }
    Ok(LoadedModel { model, readout })
}
