//! Reductions: a loop per reduction over the reduced axes, the loops' fused producers and
//! a pointwise epilogue over the output, as a launch of the reduction template or a kernel
//! written out.

use super::*;

/// One kernel that computes `members` (reductions of one input shape over the same axes, in
/// launch order), a loop each per unit: a softmax's max, sum of exponentials and target term.
/// Then the unit computes `epilogue`, pointwise values of the reductions' output shape, at the
/// index it reduced: a max-pool gradient's share `g / count` right after the count. `None`
/// when a member reads an earlier one at other indices than the unit's own, or the epilogue
/// cannot share the reductions' vectors (see [`Expr::reduce_kernel`]).
pub fn reduce_with_epilogue(
    g: &Graph,
    s: &Schedule,
    storage: &Storage,
    members: &[ValueId],
    epilogue: &[ValueId],
) -> Option<Kernel> {
    let reduction = |m: ValueId| match &g.nodes[m].op {
        Op::Reduce(_, input, axes) => Some((g.shape(*input), axes)),
        _ => None,
    };
    let first = reduction(members[0])?;
    if members.iter().any(|&m| reduction(m) != Some(first)) {
        return None;
    }
    let mut e = Expr::new(g, s, storage, members[0], first.0);
    e.reduced = first.1.clone();
    e.members = members.to_vec();
    e.reduce_kernel(epilogue)
}

/// The value reduction `m` reduces.
fn reduced_input(g: &Graph, m: ValueId) -> ValueId {
    match g.nodes[m].op {
        Op::Reduce(_, input, _) => input,
        _ => unreachable!("not a reduction"),
    }
}

impl Expr<'_> {
    /// The reductions `members` (of one input shape over the same axes), each a loop of the
    /// unit over the reduced axes, or `None` where a loop reads an earlier member at other
    /// indices than the unit's. A later loop reads an earlier result from its accumulator.
    fn reduce_kernel(mut self, epilogue: &[ValueId]) -> Option<Kernel> {
        self.outputs = [&self.members[..], epilogue].concat();
        let trees: Vec<(ValueId, ValueId)> = self.members.iter().map(|&m| (m, reduced_input(self.g, m))).collect();
        self.vector = self.lane_width(&trees);
        self.across_lanes = self.vector > 1;
        if !self.across_lanes {
            self.vector = 16;
            self.narrow_vector(trees);
        }
        let mut body = self.reduce_body()?;
        let trips: usize = self.reduced.iter().map(|&d| self.shape.0[d]).product();
        let trips = if self.across_lanes { trips / self.vector } else { trips };
        self.store_totals();
        // The loops' coordinates, not the epilogue's: it computes its own from `i`.
        let (used_axes, reads_index) = (self.used_axes.clone(), self.reads_index);
        if !epilogue.is_empty() {
            body.extend(self.epilogue_body(epilogue)?);
        }
        self.program.end_segment(0);
        (self.used_axes, self.reads_index, self.reads_unit_index) = (used_axes, reads_index, true);
        let out_shape = self.g.shape(self.members[0]).clone();
        let work = if self.across_lanes { out_shape.numel() } else { out_shape.numel() / self.vector };
        if let Some(kernel) = self.reduction_template(work, trips) {
            return Some(kernel);
        }
        if let Some((rows, inner)) = self.by_rows(&out_shape, &body) {
            return Some(self.finish(inner, rows, true));
        }
        let inner = [self.coords_of_element(&out_shape), body].concat();
        Some(self.finish(inner, work, true))
    }

    /// Records the first steps of a reduction template's epilogue, after
    /// [`Expr::reduce_body`]: each loop's total (`Acc(k)`) stored to its reduction's output
    /// (across lanes, its row output).
    pub(super) fn store_totals(&mut self) {
        for k in 0..self.members.len() {
            let total = self.accumulators[k].2.clone();
            self.program.acc(&total, k);
            match self.across_lanes {
                true => self.program.store_row(k, &total),
                false => self.program.store(self.group_start + k, &total),
            }
        }
    }

    /// The reductions just emitted as a launch of the library's reduction template
    /// (`kiln_kernels::reduction`) over `work` output indices of `trips` trips, where their
    /// loops and epilogue are programs it runs (see [`Recorder`]); `None` as for
    /// [`Expr::template`].
    fn reduction_template(&self, work: usize, trips: usize) -> Option<Kernel> {
        let mut inputs = self.template_inputs()?;
        let (w, across_lanes) = (self.vector, self.across_lanes);
        let recorded = self.output_args();
        let (outputs, row_outputs) = match across_lanes {
            // Each output element is one total, stored by the epilogue's row program.
            true => {
                inputs.row_outputs = std::mem::take(&mut inputs.outputs);
                (&[][..], &recorded[..])
            }
            false => (&recorded[..], &[][..]),
        };
        let classes = [Class::Vectors, Class::Scalars, Class::Labels, Class::Outputs, Class::RowOutputs];
        let (args, sequences) = self.template_args(&inputs, &classes, outputs, row_outputs);
        let reduction = format!(
            "Reduction {{ work: {work}, trips: {trips}, lanes: {w}, across_lanes: {across_lanes}, {} }}",
            self.program.reduction(&inputs)
        );
        Some(Kernel {
            source: None,
            function: "Template::reduce".into(),
            vector: w,
            work,
            args,
            values: self.outputs.clone(),
            grid: Grid::Chunked,
            trailing: vec![reduction],
            types: self.template_types(),
            sequences,
        })
    }

    /// The lines computing and storing `epilogue` (pointwise over the reductions' output shape)
    /// at output index `i`, after [`Expr::reduce_body`]: they read the reductions from their
    /// accumulators. `None` where the reductions run across lanes, a value is not pointwise over
    /// that shape, needs narrower vectors, or reads another output at other indices.
    fn epilogue_body(&mut self, epilogue: &[ValueId]) -> Option<Vec<String>> {
        let shape = self.g.shape(self.members[0]).clone();
        let fits = |&m: &ValueId| is_contiguous_pointwise(self.g, self.s, m, &shape);
        // Other units' loops read the reductions' inputs: the epilogue must not write over one.
        let overwrites_input = epilogue.iter().any(|&m| self.args.iter().any(|a| a.buffer == self.buffer_of(m)));
        if self.across_lanes || overwrites_input || !epilogue.iter().all(fits) {
            return None;
        }
        self.reduced.clear();
        self.linear = true;
        let widest = self.vector;
        self.start_group(epilogue, &shape);
        self.narrow_vector(epilogue.iter().map(|&m| (m, m)));
        if self.vector < widest {
            return None;
        }
        self.group_body(epilogue, &shape)
    }

    /// The widest vector (16 lanes down to 4) the reductions `trees` (`(member, tree)`) can
    /// read along their trailing reduced axes, or 1. Every leaf reads that run of axes
    /// contiguously (its other strides multiples of the width) or not at all (broadcast), so
    /// one unit's loads are whole vectors of the run: a bias gradient's sum over a batch's
    /// pixels, a batch norm's statistics.
    fn lane_width(&mut self, trees: &[(ValueId, ValueId)]) -> usize {
        let rank = self.shape.rank();
        let Some(first) = (0..rank).rev().take_while(|d| self.reduced.contains(d)).last() else { return 1 };
        // Refused where the last axis has extent 1: `load` once told a broadcast leaf by its
        // last stride. `lane_read`, which it uses now, skips such axes, so this could be lifted.
        if self.shape.0[rank - 1] == 1 {
            return 1;
        }
        let run: usize = self.shape.0[first..].iter().product();
        let contiguous = self.shape.contiguous_strides();
        let mut leaves = vec![];
        for &(root, tree) in trees {
            self.root = root;
            self.leaves(tree, &self.shape.clone(), &mut leaves);
        }
        let along_run = |strides: &[usize]| (first..rank).all(|d| self.shape.0[d] == 1 || strides[d] == contiguous[d]);
        let fits = |w: usize| {
            leaves.iter().all(|(_, strides, frame)| match strides {
                Some(st) if *frame == self.shape => {
                    st[first..].iter().all(|&s| s == 0) || (along_run(st) && st[..first].iter().all(|s| s % w == 0))
                }
                _ => false,
            })
        };
        [16, 8, 4].into_iter().find(|&w| run.is_multiple_of(w) && fits(w)).unwrap_or(1)
    }

    /// The lines computing and storing the reductions `members` (of `shape` over `reduced`) at
    /// output index `i`, a loop each, from the coordinates of `i`; `None` on a hazard.
    pub(super) fn reduce_body(&mut self) -> Option<Vec<String>> {
        let trips: usize = self.reduced.iter().map(|&d| self.shape.0[d]).product();
        // Across lanes, loop `r` steps a vector at a time and `q` is its first element.
        let (steps, counter) = if self.across_lanes { (trips / self.vector, "q") } else { (trips, "r") };
        // Strides that decompose the loop counter (`r`, or across lanes `q`) over the reduced axes.
        let mut loop_strides = vec![0; self.shape.rank()];
        let mut stride = 1;
        for &d in self.reduced.iter().rev() {
            loop_strides[d] = stride;
            stride *= self.shape.0[d];
        }
        self.used_axes.clear();
        let (mut loops, mut used, mut stores) = (vec![], vec![], vec![]);
        for (k, m) in self.members.clone().into_iter().enumerate() {
            let Op::Reduce(op, ..) = self.g.nodes[m].op else { unreachable!("not a reduction") };
            self.root = m;
            self.start_tree();
            let value = self.emit(reduced_input(self.g, m));
            let body = self.body();
            let acc = if self.outputs.len() == 1 { "acc".to_string() } else { format!("acc{}", self.group_start + k) };
            let (init, combine) = match op {
                ReduceOp::Sum => (splat(0.0), format!("{acc} + {value}")),
                ReduceOp::Max => {
                    ("Vector::<F, N>::min_value()".into(), format!("<Vector<F, N> as FloatOps>::max({acc}, {value})"))
                }
            };
            loops.push(format!("let mut {acc} = {init};"));
            loops.push(format!("for r in 0..{steps}usize {{"));
            if self.across_lanes {
                loops.push(format!("    let q = r * {};", self.vector));
            }
            loops.extend(
                self.coords(0, counter, &self.shape, &loop_strides, &self.reduced)
                    .into_iter()
                    .map(|l| format!("    {l}")),
            );
            loops.extend(body.iter().map(|l| format!("    {l}")));
            loops.push(format!("    {acc} = {combine};"));
            loops.push("}".into());
            self.program.end_loop(op, &value);
            used.append(&mut self.used_axes);
            let output = self.output();
            let (stored, result) = if self.across_lanes {
                let lanes = match op {
                    ReduceOp::Sum => "lane_sum",
                    ReduceOp::Max => "lane_max",
                };
                let total = format!("{acc}_total");
                loops.push(format!(
                    "let {total} = kiln_runtime::kernels::{lanes}::<F, N>({acc}, {}usize);",
                    self.vector
                ));
                (self.storage.narrow_scalar(output, &total), format!("Vector::new({total})"))
            } else {
                (self.storage.narrow(output, &acc), acc)
            };
            stores.push(format!("{}[i] = {stored};", self.out_name(self.group_start + k)));
            let strides = self.s.layouts[m].as_ref().expect("reduction has a buffer").strides.clone();
            self.accumulators.push((output, strides, result, k));
        }
        if self.hazard {
            return None;
        }
        self.used_axes = used;
        Some([loops, stores].concat())
    }
}
