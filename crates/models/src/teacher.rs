//! The teacher–student setup of PAPER §6.4 (`three_task` version): a teacher tanh RNN
//! (W_in xavier-normal, b_in = 0, no b_hh, W_h orthogonal × teacher gain) with a frozen
//! xavier-normal readout and b_out = 0, and a student that shares everything with the teacher except
//! the weights of its case, which are drawn afresh and scaled by the student gain g:
//!
//! * **W**: W_h is a fresh orthogonal matrix × g; only W_h is trained.
//! * **Win**: W_in is an independent xavier-normal draw × g; W_in and b_in are trained.
//!
//! The teacher's outputs on the inputs are the targets.

use crate::cells::TanhRnn;
use crate::error::Result;
use crate::init;
use crate::names::{B_IH, W_HH, W_IH, W_OUT};
use crate::params::Params;
use crate::readout::Readout;
use crate::rollout::{Recurrent, StepModel};

/// Stream of the student's fresh weights (disjoint from the teacher's and the readout's).
const STUDENT: u64 = (1 << 40) + 16;

/// Which student weights are fresh and trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudentCase {
    /// A fresh recurrent weight W_h × g; W_h trained.
    W,
    /// Fresh input weights W_in × g; W_in and b_in trained.
    Win,
}

impl StudentCase {
    /// The tensors this case trains, which are also the parameters its NTK is taken over.
    pub fn trained(self) -> &'static [&'static str] {
        match self {
            StudentCase::W => &[W_HH],
            StudentCase::Win => &[W_IH, B_IH],
        }
    }
}

/// A teacher, its student and their shared frozen readout.
#[derive(Debug, Clone)]
pub struct TeacherStudent {
    /// The teacher network.
    pub teacher: TanhRnn,
    /// The student network (the analysed and trained model).
    pub student: TanhRnn,
    /// The readout shared by both (W_out xavier-normal, b_out = 0; frozen).
    pub readout: Readout,
}

impl TeacherStudent {
    /// Teacher and student for `case`: sizes `input` → `hidden` → `output`, teacher gain
    /// `teacher_gain` on W_h, student gain `gain` on the fresh weights, all drawn from `seed`.
    pub fn new(
        input: usize,
        hidden: usize,
        output: usize,
        teacher_gain: f64,
        gain: f64,
        case: StudentCase,
        seed: u64,
    ) -> Result<Self> {
        let teacher = TanhRnn::teacher_student(input, hidden, teacher_gain, seed)?;
        let mut student = teacher.clone();
        let mut r = init::rng(seed, STUDENT);
        let (name, fresh) = match case {
            StudentCase::W => (W_HH, init::orthogonal(&mut r, hidden, hidden, gain)),
            StudentCase::Win => (
                W_IH,
                init::xavier_normal(&mut r, hidden, input, 1.0)
                    .into_iter()
                    .map(|x| gain * x)
                    .collect(),
            ),
        };
        student
            .params_mut()
            .tensor_mut(name)?
            .copy_from_slice(&fresh);
        let mut p = Params::zeros(Readout::layout(hidden, output, true));
        let mut rr = init::rng(seed, init::purpose::READOUT);
        let w = init::xavier_normal(&mut rr, output, hidden, 1.0);
        p.tensor_mut(W_OUT)?.copy_from_slice(&w);
        Ok(TeacherStudent {
            teacher,
            student,
            readout: Readout::from_params(p)?,
        })
    }

    /// The teacher's outputs `[n, T, n_y]` on inputs `[n, T, n_x]` (row-major): the targets.
    pub fn targets(&self, inputs: &[f64], n: usize, time: usize) -> Result<Vec<f64>> {
        let ro = self.teacher.rollout(inputs, n, time, None)?;
        Ok(self.readout.apply(&ro.states))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The student equals the teacher except in its case's weights; at g = teacher gain in the
    /// W case the fresh W_h differs (a fresh draw), and the teacher's W_h stays orthogonal × gain.
    #[test]
    fn students_differ_from_the_teacher_only_where_their_case_says() {
        for case in [StudentCase::W, StudentCase::Win] {
            let ts = TeacherStudent::new(3, 8, 1, 1.0, 0.5, case, 4).unwrap();
            let (t, s) = (ts.teacher.params(), ts.student.params());
            for e in t.layout().entries() {
                let same = t.tensor(&e.name).unwrap() == s.tensor(&e.name).unwrap();
                let fresh = case.trained()[0] == e.name;
                assert_eq!(same, !fresh, "{case:?} {}", e.name);
            }
            let w = faer::MatRef::from_row_major_slice(t.tensor(W_HH).unwrap(), 8, 8);
            let wtw = w.transpose() * w;
            for i in 0..8 {
                for j in 0..8 {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((wtw[(i, j)] - want).abs() < 1e-12);
                }
            }
        }
        // The W student's fresh W_h is orthogonal × g.
        let ts = TeacherStudent::new(3, 8, 1, 1.0, 0.5, StudentCase::W, 4).unwrap();
        let w = faer::MatRef::from_row_major_slice(ts.student.params().tensor(W_HH).unwrap(), 8, 8);
        let wtw = w.transpose() * w;
        assert!((wtw[(2, 2)] - 0.25).abs() < 1e-12 && wtw[(1, 2)].abs() < 1e-12);
        // The targets are the teacher's outputs; b_out = 0.
        let x = vec![0.3; 2 * 5 * 3];
        let y = ts.targets(&x, 2, 5).unwrap();
        assert_eq!(y.len(), 10);
        assert_eq!(ts.readout.bias(), Some(&[0.0][..]));
    }
}
