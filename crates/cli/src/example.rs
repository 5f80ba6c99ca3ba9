//! `gentk example-files DIR`: a tiny worked example for `gentk inspect` — `weights.safetensors` (a
//! kpflow-style BasicRNN state_dict in float32: `rnn.weight_ih_l0`, `rnn.weight_hh_l0`, their tied
//! copies `rnn.cell.weight_ih`/`rnn.cell.weight_hh`, `Wout.weight`, `Wout.bias`) and
//! `inputs.safetensors` (`inputs` [B, T, I] in float32), laid out as `safetensors.torch.save_file`
//! writes them.

use std::path::{Path, PathBuf};

use gentk_models::names::{B_OUT, TIED_W_HH, TIED_W_IH, W_HH, W_IH, W_OUT};
use gentk_models::{LeakyRnn, LeakyRnnConfig, Readout, StepModel};

/// float32 safetensors bytes, as PyTorch writes them.
fn f32_safetensors(tensors: &[(&str, Vec<usize>, Vec<f64>)]) -> Vec<u8> {
    let owned: Vec<(String, Vec<usize>, Vec<f64>)> = tensors
        .iter()
        .map(|(n, s, v)| (n.to_string(), s.clone(), v.clone()))
        .collect();
    gentk_models::weights::write_tensors_f32(&owned)
}

/// Writes the two files into `dir` and returns their paths.
pub fn write_example(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (nx, h, ny, b, t) = (3, 16, 3, 4, 20);
    let m = LeakyRnn::init(LeakyRnnConfig::new(nx, h), 1.5, 1)?;
    let r = Readout::init(h, ny, true, 1)?;
    let p = m.params();
    let (wih, whh) = (p.tensor(W_IH)?.to_vec(), p.tensor(W_HH)?.to_vec());
    let weights = f32_safetensors(&[
        (B_OUT, vec![ny], r.params().tensor(B_OUT)?.to_vec()),
        (W_OUT, vec![ny, h], r.params().tensor(W_OUT)?.to_vec()),
        (TIED_W_HH, vec![h, h], whh.clone()),
        (TIED_W_IH, vec![h, nx], wih.clone()),
        (W_HH, vec![h, h], whh),
        (W_IH, vec![h, nx], wih),
    ]);
    let x: Vec<f64> = (0..b * t * nx).map(|i| ((i as f64) * 0.37).sin()).collect();
    let inputs = f32_safetensors(&[("inputs", vec![b, t, nx], x)]);
    let (wp, xp) = (
        dir.join("weights.safetensors"),
        dir.join("inputs.safetensors"),
    );
    std::fs::write(&wp, weights)?;
    std::fs::write(&xp, inputs)?;
    Ok((wp, xp))
}
