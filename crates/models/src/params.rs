//! Parameters as one flat f64 vector with a named layout (name → offset, shape), in PyTorch's
//! row-major tensor layout, so a state_dict maps onto it one tensor per entry.

use faer::{MatMut, MatRef};

use crate::error::{ModelError, Result};

/// One named tensor of a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamEntry {
    /// PyTorch-style name (e.g. `rnn.weight_hh_l0`).
    pub name: String,
    /// Offset into the flat vector.
    pub offset: usize,
    /// Shape (row-major), e.g. `[H, H]` or `[H]`.
    pub shape: Vec<usize>,
}

impl ParamEntry {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True for an empty tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Index range in the flat vector.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The named-slice layout of a flat parameter vector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamLayout {
    entries: Vec<ParamEntry>,
    total: usize,
}

impl ParamLayout {
    /// Layout from (name, shape) pairs, packed in order.
    pub fn new<S: Into<String>>(tensors: impl IntoIterator<Item = (S, Vec<usize>)>) -> Self {
        let mut entries = Vec::new();
        let mut offset = 0;
        for (name, shape) in tensors {
            let e = ParamEntry {
                name: name.into(),
                offset,
                shape,
            };
            offset += e.len();
            entries.push(e);
        }
        ParamLayout {
            entries,
            total: offset,
        }
    }
    /// Entries in order.
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }
    /// Total number of parameters n_θ.
    pub fn len(&self) -> usize {
        self.total
    }
    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Result<&ParamEntry> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ModelError::UnknownParam {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }
    /// All names in order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
    /// A 0/1 mask over the flat vector selecting the named tensors (a parameter subset).
    pub fn mask(&self, names: &[&str]) -> Result<Vec<bool>> {
        let mut m = vec![false; self.total];
        for n in names {
            let e = self.get(n)?;
            m[e.range()].iter_mut().for_each(|x| *x = true);
        }
        Ok(m)
    }
}

/// A layout with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    layout: ParamLayout,
    values: Vec<f64>,
}

impl Params {
    /// Zeros in `layout`.
    pub fn zeros(layout: ParamLayout) -> Self {
        let values = vec![0.0; layout.len()];
        Params { layout, values }
    }
    /// Values in `layout` (length checked).
    pub fn from_values(layout: ParamLayout, values: Vec<f64>) -> Result<Self> {
        crate::error::check_size("parameter vector", "layout", layout.len(), values.len())?;
        Ok(Params { layout, values })
    }
    /// The layout.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }
    /// The flat vector.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    /// The flat vector, mutable.
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }
    /// One tensor's values.
    pub fn tensor(&self, name: &str) -> Result<&[f64]> {
        let r = self.layout.get(name)?.range();
        Ok(&self.values[r])
    }
    /// One tensor's values, mutable.
    pub fn tensor_mut(&mut self, name: &str) -> Result<&mut [f64]> {
        let r = self.layout.get(name)?.range();
        Ok(&mut self.values[r])
    }
    /// A 2-D tensor as a row-major matrix view.
    pub fn matrix(&self, name: &str) -> Result<MatRef<'_, f64>> {
        let e = self.layout.get(name)?;
        let (r, c) = matrix_dims(e);
        Ok(MatRef::from_row_major_slice(&self.values[e.range()], r, c))
    }
    /// A 2-D tensor as a mutable row-major matrix view.
    pub fn matrix_mut(&mut self, name: &str) -> Result<MatMut<'_, f64>> {
        let e = self.layout.get(name)?.clone();
        let (r, c) = matrix_dims(&e);
        Ok(MatMut::from_row_major_slice_mut(
            &mut self.values[e.range()],
            r,
            c,
        ))
    }
    /// Whether a tensor exists.
    pub fn has(&self, name: &str) -> bool {
        self.layout.get(name).is_ok()
    }
}

/// A row-major matrix view of the tensor `e` inside a flat vector (tangents, gradients).
pub fn tensor_matrix<'a>(flat: &'a [f64], e: &ParamEntry) -> MatRef<'a, f64> {
    let (r, c) = matrix_dims(e);
    MatRef::from_row_major_slice(&flat[e.range()], r, c)
}

/// A mutable row-major matrix view of the tensor `e` inside a flat vector.
pub fn tensor_matrix_mut<'a>(flat: &'a mut [f64], e: &ParamEntry) -> MatMut<'a, f64> {
    let (r, c) = matrix_dims(e);
    MatMut::from_row_major_slice_mut(&mut flat[e.range()], r, c)
}

fn matrix_dims(e: &ParamEntry) -> (usize, usize) {
    match e.shape.as_slice() {
        [r, c] => (*r, *c),
        [n] => (*n, 1),
        _ => (e.len(), 1),
    }
}
