//! Scheduling: for each entry point ([`entries`]), which values get a kernel, which are
//! inlined into their consumer's kernel, which are views, and where each value lives
//! ([`schedule`]); then which kernels merge into one ([`kernels`]).

mod entry;
mod fuse;

pub(crate) use entry::{entries, Artifact, Entry};
pub(crate) use fuse::kernels;

use crate::ir::{Graph, Op, Shape, Stepping, ValueId};
use crate::target::MAX_RECOMPUTED_OPS;
use std::collections::BTreeMap;

/// How a live value is realised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    /// Fed or owned by the trainer (inputs, labels, parameters).
    External,
    /// A uniform constant: written into kernels as a literal.
    Literal(f64),
    /// Another value's buffer read through other strides.
    View,
    /// Computed inside its single consumer's kernel.
    Inline,
    /// Computed by a kernel of its own into a buffer.
    Kernel,
    /// An [`Op::Concat`]: a buffer that the kernels of its parts write, each its slice.
    Joined,
}

/// Where a value's elements are: a buffer, the element stride of each axis (0 for broadcast
/// axes and axes of size 1) and the element where they start (a slice's start; 0 otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The value that owns the buffer.
    pub buffer: ValueId,
    /// Element stride of each axis.
    pub strides: Vec<usize>,
    /// The element at coordinates 0.
    pub start: usize,
}

impl Layout {
    /// A buffer of `shape`, row-major.
    pub fn contiguous(buffer: ValueId, shape: &Shape) -> Layout {
        Layout { buffer, strides: normalized(shape, shape.contiguous_strides()), start: 0 }
    }

    /// A buffer of `shape` stored with its axes in `order`, outermost first: the
    /// `permute(order)` of it is contiguous.
    pub fn in_order(buffer: ValueId, shape: &Shape, order: &[usize]) -> Layout {
        let permuted = Shape(order.iter().map(|&axis| shape.0[axis]).collect());
        let mut strides = vec![0; shape.rank()];
        for (&axis, stride) in order.iter().zip(permuted.contiguous_strides()) {
            strides[axis] = stride;
        }
        Layout { buffer, strides: normalized(shape, strides), start: 0 }
    }

    /// Whether the elements are stored row-major without gaps from the buffer's start.
    pub fn is_contiguous(&self, shape: &Shape) -> bool {
        self.start == 0 && self.strides == normalized(shape, shape.contiguous_strides())
    }

    /// The layout of a reshape from `from` to `to` of these elements, without copying them:
    /// each new axis splits one old axis or merges old axes that are strided as one.
    fn reshaped(&self, from: &Shape, to: &Shape) -> Option<Layout> {
        // Old axes of size 1 carry no stride; runs of the others merge where strides chain.
        let old: Vec<(usize, usize)> =
            (0..from.rank()).filter(|&d| from.0[d] > 1).map(|d| (from.0[d], self.strides[d])).collect();
        let mut strides = vec![0; to.rank()];
        let mut new = (0..to.rank()).filter(|&d| to.0[d] > 1);
        for (size, stride) in merged(&old) {
            // The new axes that split this run, outermost first, must multiply to its size.
            let mut left = size;
            while left > 1 {
                let d = new.next()?;
                if left % to.0[d] != 0 {
                    return None;
                }
                left /= to.0[d];
                strides[d] = stride * left;
            }
        }
        new.next().is_none().then_some(Layout { buffer: self.buffer, strides, start: self.start })
    }
}

/// Runs of `(size, stride)` axes, outermost first, merged where one axis's stride is the size
/// times the stride of the axis inside it.
fn merged(axes: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = vec![];
    for &(size, stride) in axes {
        match runs.last_mut() {
            Some((outer, outer_stride)) if *outer_stride == size * stride => {
                *outer *= size;
                *outer_stride = stride;
            }
            _ => runs.push((size, stride)),
        }
    }
    runs
}

/// Zeroes the strides of size-1 axes, so equal layouts compare equal.
pub fn normalized(shape: &Shape, mut strides: Vec<usize>) -> Vec<usize> {
    for (d, &size) in shape.0.iter().enumerate() {
        if size == 1 {
            strides[d] = 0;
        }
    }
    strides
}

/// The plan of one entry point.
pub struct Schedule {
    /// The role of each live value (`None`: not needed by this entry point).
    pub roles: Vec<Option<Role>>,
    /// Where each value is stored (for views: the buffer they read).
    pub layouts: Vec<Option<Layout>>,
    /// For view ops, the layout they read through (also for views materialised as roots; a
    /// reshape of a strided value reads its source's layout over the source's shape).
    pub views: Vec<Option<Layout>>,
    /// Values computed by kernels, in execution order.
    pub kernels: Vec<ValueId>,
    /// The values the entry point returns or keeps.
    pub roots: Vec<ValueId>,
    /// The stepped loop each value is computed in, if any (see [`loop_regions`]).
    pub regions: Vec<Option<usize>>,
    /// The [`Op::StepOut`] of each carry `(loop, k)` of the stepped loops.
    pub carry_outputs: BTreeMap<(usize, usize), ValueId>,
}

/// Plans the kernels that compute `roots`. `in_place` pairs `(value, param)` make the kernel of
/// `value` write over `param`'s buffer (optimizer updates; they run after every read of it).
/// Without `fuse`, no pointwise value is computed inside another's kernel.
pub fn schedule(g: &Graph, roots: &[ValueId], in_place: &[(ValueId, ValueId)], fuse: bool) -> Schedule {
    let carry_outputs = carry_outputs(g);
    let roots = &with_loop_boundaries(g, roots, &carry_outputs);
    let live = g.live_set(roots);
    let mut uses = g.use_counts(&live);
    for &r in roots {
        uses[r] += 1;
    }
    let mut consumers: Vec<Vec<ValueId>> = vec![vec![]; g.nodes.len()];
    // Values some consumer reads from memory (a constant then gets a buffer): every op with a
    // kernel of its own but a reduction, which computes what it reduces.
    let mut read_from_memory = vec![false; g.nodes.len()];
    for (v, node) in g.nodes.iter().enumerate() {
        if live[v] {
            for a in node.op.operands() {
                consumers[a].push(v);
                read_from_memory[a] |= node.op.has_own_kernel() && !matches!(node.op, Op::Reduce(..));
            }
        }
    }

    let read_in_place = read_at_coordinates(g, &live, &consumers, roots);
    let slices = joined_slices(g, &live);
    // Crops, and views of them: a reshape of one keeps strides where it can (see `reshaped`).
    let mut cropped = vec![false; g.nodes.len()];
    let mut roles: Vec<Option<Role>> = vec![None; g.nodes.len()];
    // Pointwise ops computed inside a consumer's kernel (with those they inline in turn).
    let mut inlined_ops = vec![0usize; g.nodes.len()];
    let mut layouts: Vec<Option<Layout>> = vec![None; g.nodes.len()];
    let mut views: Vec<Option<Layout>> = vec![None; g.nodes.len()];
    for (v, node) in g.nodes.iter().enumerate() {
        if !live[v] {
            continue;
        }
        let role = match &node.op {
            // A stepped loop's inputs and outputs are windows of buffers (see `plan::repeats`).
            Op::Input { .. } | Op::Labels { .. } | Op::Param { .. } | Op::StepIn(..) | Op::StepOut(..) => {
                Role::External
            }
            Op::Const(_) if read_from_memory[v] || roots.contains(&v) => Role::Kernel,
            Op::Const(c) => Role::Literal(*c),
            Op::Mode { .. } => panic!("internal: specialise the graph before scheduling"),
            Op::Concat(..) => Role::Joined,
            op if op.is_view() || (op.is_crop() && read_in_place[v] && layouts[op.operands()[0]].is_some()) => {
                let a = op.operands()[0];
                cropped[v] = op.is_crop() || cropped[a];
                match (roles[a], &layouts[a]) {
                    (Some(Role::Literal(c)), _) => Role::Literal(c),
                    // Only where every reader can evaluate the source at its own element index
                    // (see `fuses_through_reshape`).
                    (Some(Role::Inline), _) => {
                        inlined_ops[v] = inlined_ops[a];
                        Role::Inline
                    }
                    (_, Some(source)) => {
                        let kept = match op {
                            Op::Reshape(_) if cropped[a] && read_in_place[v] => {
                                source.reshaped(g.shape(a), &node.shape)
                            }
                            _ => None,
                        };
                        let strided_reshape =
                            matches!(op, Op::Reshape(_)) && !source.is_contiguous(g.shape(a)) && kept.is_none();
                        if let Some(kept) = kept {
                            views[v] = Some(kept);
                        } else if strided_reshape {
                            // Copied in the source's row-major order, which is the reshape's.
                            views[v] = Some(source.clone());
                        } else {
                            views[v] = Some(view_layout(op, source.clone(), g.shape(a), &node.shape));
                        }
                        // A root is read back as a whole buffer: a view that is not its source's
                        // buffer in row-major order is copied by a kernel.
                        let aliases_source = views[v].as_ref().is_some_and(|l| l.is_contiguous(&node.shape))
                            && views[v].as_ref().is_some_and(|l| g.shape(l.buffer).numel() == node.shape.numel());
                        // Gathers and scatters read their rows whole, in row-major order.
                        let read_as_rows =
                            consumers[v].iter().any(|&c| matches!(g.nodes[c].op, Op::Gather(..) | Op::ScatterAdd(..)))
                                && !views[v].as_ref().is_some_and(|l| l.is_contiguous(&node.shape));
                        if strided_reshape || read_as_rows || (roots.contains(&v) && !aliases_source) {
                            Role::Kernel
                        } else {
                            Role::View
                        }
                    }
                    _ => panic!("internal: view %{v} of %{a}, which has no buffer"),
                }
            }
            op if op.has_own_kernel() => Role::Kernel,
            op => {
                // A pointwise value is computed inside each consumer's kernel when every
                // consumer is a reduction or fold of it, or pointwise over its shape. With several
                // consumers it is recomputed in each, if that costs a few ops at most: cheaper
                // than a kernel launch plus a write and reads of memory.
                inlined_ops[v] = 1 + op
                    .operands()
                    .iter()
                    .filter(|&&a| roles[a] == Some(Role::Inline))
                    .map(|&a| inlined_ops[a])
                    .sum::<usize>();
                let readers_fuse = !consumers[v].is_empty()
                    && !roots.contains(&v)
                    && consumers[v].iter().all(|&c| match &g.nodes[c].op {
                        Op::Fold(..) => true,
                        Op::Reshape(_) => fuses_through_reshape(g, c, &consumers[c], roots),
                        _ => reads_at_own_index(g, c, v),
                    });
                // Reads of `v`, counting each reader of a reshape of it.
                let readers: usize = consumers[v]
                    .iter()
                    .map(|&c| if matches!(g.nodes[c].op, Op::Reshape(_)) { uses[c] } else { 1 })
                    .sum();
                let fusable = fuse && readers_fuse && (readers == 1 || inlined_ops[v] <= MAX_RECOMPUTED_OPS);
                if fusable {
                    Role::Inline
                } else {
                    Role::Kernel
                }
            }
        };
        roles[v] = Some(role);
        layouts[v] = match role {
            Role::External | Role::Joined => Some(Layout::contiguous(v, &node.shape)),
            Role::Kernel if slices[v].is_some() => slices[v].clone(),
            Role::Kernel => {
                let buffer = in_place.iter().find(|(value, _)| *value == v).map_or(v, |&(_, p)| p);
                // A value written over a parameter keeps the parameter's layout.
                let order = (buffer == v).then(|| storage_order(g, v, &consumers[v], roots)).flatten();
                Some(match order {
                    Some(order) => Layout::in_order(buffer, &node.shape, order),
                    None => Layout::contiguous(buffer, &node.shape),
                })
            }
            Role::View => views[v].clone(),
            _ => None,
        };
    }

    let kernels = (0..g.nodes.len()).filter(|&v| roles[v] == Some(Role::Kernel)).collect();
    Schedule { roles, layouts, views, kernels, roots: roots.to_vec(), regions: loop_regions(g), carry_outputs }
}

/// `roots` and what stepped loops read or write whole through windows: the operands of their
/// live inputs and outputs, and the output of each live carry (a step reads the one before's).
fn with_loop_boundaries(
    g: &Graph,
    roots: &[ValueId],
    carry_outputs: &BTreeMap<(usize, usize), ValueId>,
) -> Vec<ValueId> {
    let mut roots = roots.to_vec();
    loop {
        let live = g.live_set(&roots);
        let mut more: Vec<ValueId> = vec![];
        for node in g.nodes.iter().zip(&live).filter(|&(_, &live)| live).map(|(node, _)| node) {
            match node.op {
                Op::StepIn(a, stepping) => {
                    more.push(a);
                    more.extend(stepping.carry.map(|k| carry_outputs[&(stepping.id, k)]));
                }
                Op::StepOut(a, _) => more.push(a),
                _ => {}
            }
        }
        more.sort_unstable();
        more.dedup();
        more.retain(|m| !roots.contains(m));
        if more.is_empty() {
            return roots;
        }
        roots.extend(more);
    }
}

/// The [`Op::StepOut`] of each carry `(loop, k)` of the stepped loops in `g`.
fn carry_outputs(g: &Graph) -> BTreeMap<(usize, usize), ValueId> {
    let outputs = g.nodes.iter().enumerate().filter_map(|(v, node)| match node.op {
        Op::StepOut(_, Stepping { id, carry: Some(k), .. }) => Some(((id, k), v)),
        _ => None,
    });
    outputs.collect()
}

/// The stepped loop each value is computed in, if any: a loop's step inputs and what they
/// reach before its outputs.
fn loop_regions(g: &Graph) -> Vec<Option<usize>> {
    let mut regions: Vec<Option<usize>> = Vec::with_capacity(g.nodes.len());
    for node in &g.nodes {
        let region = match node.op {
            Op::StepIn(_, stepping) => Some(stepping.id),
            Op::StepOut(..) => None,
            ref op => op.operands().iter().find_map(|&a| regions[a]),
        };
        regions.push(region);
    }
    regions
}

/// Where the parts of each live [`Op::Concat`] lie in its buffer: the joined value's strides
/// over the part's shape, from the part's first element along the join's axis.
fn joined_slices(g: &Graph, live: &[bool]) -> Vec<Option<Layout>> {
    let mut slices = vec![None; g.nodes.len()];
    for (v, node) in g.nodes.iter().enumerate().filter(|&(v, _)| live[v]) {
        if let Op::Concat(parts, axis) = &node.op {
            let strides = node.shape.contiguous_strides();
            let mut first = 0;
            for &part in parts {
                let shape = g.shape(part);
                let start = first * strides[*axis];
                slices[part] = Some(Layout { buffer: v, strides: normalized(shape, strides.clone()), start });
                first += shape.0[*axis];
            }
        }
    }
    slices
}

/// Values that every reader reads at coordinates of its own, in a kernel's program, through
/// views and crops: pointwise ops and reductions read any strides and start, so a crop (or a
/// view of one) of such a value needs no copy of its own. Products, windows and gathers read
/// whole buffers, and roots are read back whole.
fn read_at_coordinates(g: &Graph, live: &[bool], consumers: &[Vec<ValueId>], roots: &[ValueId]) -> Vec<bool> {
    let mut read = vec![false; g.nodes.len()];
    for v in (0..g.nodes.len()).rev() {
        read[v] = live[v]
            && !roots.contains(&v)
            && !consumers[v].is_empty()
            && consumers[v].iter().all(|&c| match &g.nodes[c].op {
                Op::Reduce(..) => true,
                Op::OneHot(_) => false,
                op if op.is_pointwise() => true,
                op => (op.is_view() || op.is_crop()) && read[c],
            });
    }
    read
}

/// Whether the readers of `reshape` can compute its (pointwise) source themselves: each is a
/// reduction of it or pointwise over its shape, so it reads the reshape at the element index it
/// is at, from which the source's coordinates follow (a reshape keeps the row-major index).
fn fuses_through_reshape(g: &Graph, reshape: ValueId, consumers: &[ValueId], roots: &[ValueId]) -> bool {
    !roots.contains(&reshape) && !consumers.is_empty() && consumers.iter().all(|&c| reads_at_own_index(g, c, reshape))
}

/// Whether `reader` reduces `value` or is pointwise over its shape: its kernel can compute
/// `value` at the coordinates it is at.
fn reads_at_own_index(g: &Graph, reader: ValueId, value: ValueId) -> bool {
    match &g.nodes[reader].op {
        Op::Reduce(..) => true,
        op => op.is_pointwise() && g.shape(reader) == g.shape(value),
    }
}

/// The axis order a value is stored in when readers permute it: an unfold that every reader
/// permutes the same way (a convolution's positions-last im2col), or a pointwise value that
/// some readers permute and the others reduce or read pointwise (a convolution's output
/// gradient, which its products read as `[channels, positions]`). The permute is then a
/// contiguous view instead of a copy. Pointwise values keep their last axis innermost, so their
/// kernels still store whole vectors.
fn storage_order<'g>(g: &'g Graph, v: ValueId, consumers: &[ValueId], roots: &[ValueId]) -> Option<&'g [usize]> {
    let unfold = matches!(g.nodes[v].op, Op::Unfold(..));
    if roots.contains(&v) || !(unfold || g.nodes[v].op.is_pointwise()) {
        return None;
    }
    let mut order: Option<&[usize]> = None;
    for &c in consumers {
        match &g.nodes[c].op {
            Op::Permute(_, o) if order.is_none_or(|first| first == &o[..]) => order = Some(o),
            Op::Reduce(..) if !unfold => {}
            op if !unfold && op.is_pointwise() => {}
            _ => return None,
        }
    }
    let order = order?;
    (unfold || order.last() == Some(&(order.len() - 1))).then_some(order)
}

fn view_layout(op: &Op, source: Layout, from: &Shape, to: &Shape) -> Layout {
    match op {
        Op::Reshape(_) => {
            assert!(source.is_contiguous(from), "internal: reshape of a strided view");
            Layout::contiguous(source.buffer, to)
        }
        Op::Permute(_, perm) => {
            let strides = perm.iter().map(|&p| source.strides[p]).collect();
            Layout { buffer: source.buffer, strides: normalized(to, strides), start: source.start }
        }
        Op::Expand(_) | Op::Detach(_) => {
            Layout { buffer: source.buffer, strides: normalized(to, source.strides), start: source.start }
        }
        // A crop's output `[n, c, h, w]` is its operand `[n, h + pads, w + pads, c, 1, 1]` from
        // the window's top left padding on.
        Op::Fold(_, window) => {
            let s = &source.strides;
            let start = source.start + window.padding[0][0] * s[1] + window.padding[1][0] * s[2];
            Layout { buffer: source.buffer, strides: normalized(to, vec![s[0], s[3], s[1], s[2]]), start }
        }
        _ => unreachable!("not a view"),
    }
}
