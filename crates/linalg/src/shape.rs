//! Tensor shapes with named axes. A vector of an operator's domain is the row-major flattening of a
//! tensor of this shape (e.g. `[batch, time, hidden]`, flat index `(b*T + t)*H + h`).

use std::fmt;

use crate::error::{LinalgError, Result};

/// One named axis of a tensor shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Axis {
    /// Axis name, e.g. `"batch"`, `"time"`, `"hidden"`.
    pub name: String,
    /// Number of entries along the axis.
    pub size: usize,
}

/// A row-major tensor shape: an ordered list of named axes (last axis fastest).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    axes: Vec<Axis>,
}

impl Shape {
    /// A shape from `(name, size)` pairs, outermost axis first.
    pub fn new<S: Into<String>>(axes: impl IntoIterator<Item = (S, usize)>) -> Self {
        Shape {
            axes: axes
                .into_iter()
                .map(|(n, size)| Axis {
                    name: n.into(),
                    size,
                })
                .collect(),
        }
    }

    /// A one-axis shape named `name`.
    pub fn flat(name: &str, size: usize) -> Self {
        Shape::new([(name, size)])
    }

    /// The `[batch, time, hidden]` state shape of a recurrent model.
    pub fn state(batch: usize, time: usize, hidden: usize) -> Self {
        Shape::new([("batch", batch), ("time", time), ("hidden", hidden)])
    }

    /// The axes, outermost first.
    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.axes.len()
    }

    /// Number of entries (product of the sizes; 1 for a scalar shape).
    pub fn numel(&self) -> usize {
        self.axes.iter().map(|a| a.size).product()
    }

    /// Sizes, outermost first.
    pub fn sizes(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.size).collect()
    }

    /// Position of the axis called `name`.
    pub fn position(&self, name: &str) -> Result<usize> {
        self.axes
            .iter()
            .position(|a| a.name == name)
            .ok_or_else(|| LinalgError::UnknownAxis {
                axis: name.to_string(),
                shape: self.clone(),
            })
    }

    /// Row-major strides, in entries.
    pub fn strides(&self) -> Vec<usize> {
        let mut s = vec![1; self.axes.len()];
        for i in (0..self.axes.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.axes[i + 1].size;
        }
        s
    }

    /// The sub-shape made of the axes whose positions are in `keep` (in this shape's order).
    pub fn select(&self, keep: &[usize]) -> Shape {
        Shape {
            axes: self
                .axes
                .iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, a)| a.clone())
                .collect(),
        }
    }

    /// Whether two shapes hold the same number of entries (axis names may differ).
    pub fn same_numel(&self, other: &Shape) -> bool {
        self.numel() == other.numel()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, a) in self.axes.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{}={}", a.name, a.size)?;
        }
        write!(f, "]")
    }
}

/// Splits the flat indices of `shape` into (kept axes, traced axes): full index = `kept_offset[i] +
/// traced_offset[j]` where `i`, `j` enumerate the kept and traced sub-tensors row-major.
#[derive(Debug, Clone)]
pub struct AxisSplit {
    /// Offsets in the full tensor of each kept multi-index (row-major over kept axes).
    pub kept_offset: Vec<usize>,
    /// Offsets in the full tensor of each traced multi-index (row-major over traced axes).
    pub traced_offset: Vec<usize>,
    /// Shape of the kept axes.
    pub kept: Shape,
    /// Shape of the traced axes.
    pub traced: Shape,
}

impl AxisSplit {
    /// Split `shape` keeping the named axes (any order in `keep`; the shape's order is used).
    pub fn new(shape: &Shape, keep: &[&str]) -> Result<Self> {
        let mut keep_pos = Vec::with_capacity(keep.len());
        for name in keep {
            let p = shape.position(name)?;
            if keep_pos.contains(&p) {
                return Err(crate::error::invalid(
                    "keep",
                    format!("axis `{name}` listed twice"),
                ));
            }
            keep_pos.push(p);
        }
        let traced_pos: Vec<usize> = (0..shape.rank())
            .filter(|i| !keep_pos.contains(i))
            .collect();
        let strides = shape.strides();
        let offsets = |pos: &[usize]| -> Vec<usize> {
            let mut pos = pos.to_vec();
            pos.sort_unstable();
            let mut out = vec![0usize];
            for &p in &pos {
                let size = shape.axes()[p].size;
                let mut next = Vec::with_capacity(out.len() * size);
                for &o in &out {
                    for k in 0..size {
                        next.push(o + k * strides[p]);
                    }
                }
                out = next;
            }
            out
        };
        Ok(AxisSplit {
            kept_offset: offsets(&keep_pos),
            traced_offset: offsets(&traced_pos),
            kept: shape.select(&keep_pos),
            traced: shape.select(&traced_pos),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_split_enumerates_every_index_once() {
        let s = Shape::state(2, 3, 4);
        for keep in [
            &["hidden"][..],
            &["batch", "time"],
            &["time"],
            &[],
            &["batch", "time", "hidden"],
        ] {
            let sp = AxisSplit::new(&s, keep).unwrap();
            let mut all: Vec<usize> = sp
                .kept_offset
                .iter()
                .flat_map(|k| sp.traced_offset.iter().map(move |t| k + t))
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..24).collect::<Vec<_>>());
            assert_eq!(sp.kept.numel() * sp.traced.numel(), 24);
        }
    }

    #[test]
    fn unknown_axis_is_named() {
        let e = AxisSplit::new(&Shape::state(1, 2, 3), &["neuron"]).unwrap_err();
        assert!(e.to_string().contains("neuron") && e.to_string().contains("hidden=3"));
    }
}
