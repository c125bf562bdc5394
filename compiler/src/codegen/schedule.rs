//! Decides, for one entry point (train step or predict), which values get a kernel, which are
//! inlined into their consumer's kernel, which are views, and where each value lives.

use crate::ir::{Graph, Op, ValueId};
use crate::shape::Shape;

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
}

/// Where a value's elements are: a buffer and the element stride of each axis
/// (0 for broadcast axes and axes of size 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The value that owns the buffer.
    pub buffer: ValueId,
    /// Element stride of each axis.
    pub strides: Vec<usize>,
}

impl Layout {
    /// A buffer of `shape`, row-major.
    pub fn contiguous(buffer: ValueId, shape: &Shape) -> Layout {
        Layout { buffer, strides: normalized(shape, shape.contiguous_strides()) }
    }

    /// Whether the elements are stored row-major without gaps.
    pub fn is_contiguous(&self, shape: &Shape) -> bool {
        self.strides == normalized(shape, shape.contiguous_strides())
    }
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
    /// For view ops, the layout they read through (also for views materialised as roots).
    pub views: Vec<Option<Layout>>,
    /// Values computed by kernels, in execution order.
    pub kernels: Vec<ValueId>,
}

/// Plans the kernels that compute `roots`. `in_place` pairs `(value, param)` make the kernel of
/// `value` write over `param`'s buffer (optimizer updates; they run after every read of it).
pub fn schedule(g: &Graph, roots: &[ValueId], in_place: &[(ValueId, ValueId)]) -> Schedule {
    let live = g.live_set(roots);
    let mut uses = g.use_counts(&live);
    for &r in roots {
        uses[r] += 1;
    }
    let mut consumer = vec![None; g.nodes.len()];
    for (v, node) in g.nodes.iter().enumerate() {
        if live[v] {
            for a in node.op.operands() {
                consumer[a] = Some(v);
            }
        }
    }

    let mut roles: Vec<Option<Role>> = vec![None; g.nodes.len()];
    for (v, node) in g.nodes.iter().enumerate() {
        if !live[v] {
            continue;
        }
        let literal_operand = |a: ValueId| match roles[a] {
            Some(Role::Literal(c)) => Some(c),
            _ => None,
        };
        roles[v] = Some(match &node.op {
            Op::Input { .. } | Op::Labels { .. } | Op::Param { .. } => Role::External,
            Op::Const(c) => Role::Literal(*c),
            op if op.is_view() => match literal_operand(op.operands()[0]) {
                Some(c) => Role::Literal(c),
                // A root needs a buffer of its own: the view is copied by a kernel.
                None if roots.contains(&v) => Role::Kernel,
                None => Role::View,
            },
            Op::MatMul(..) | Op::Reduce(..) => Role::Kernel,
            _ => {
                let fusable = uses[v] == 1
                    && consumer[v].is_some_and(|c| match &g.nodes[c].op {
                        Op::Reduce(..) => true,
                        op => op.is_pointwise() && g.shape(c) == g.shape(v),
                    });
                if fusable {
                    Role::Inline
                } else {
                    Role::Kernel
                }
            }
        });
    }

    let mut layouts: Vec<Option<Layout>> = vec![None; g.nodes.len()];
    let mut views: Vec<Option<Layout>> = vec![None; g.nodes.len()];
    for (v, node) in g.nodes.iter().enumerate() {
        let shape = &node.shape;
        if node.op.is_view() && matches!(roles[v], Some(Role::View | Role::Kernel)) {
            let a = node.op.operands()[0];
            let source = layouts[a].clone().unwrap_or_else(|| {
                panic!("internal: view %{v} of %{a}, which has no buffer")
            });
            views[v] = Some(view_layout(&node.op, source, g.shape(a), shape));
        }
        layouts[v] = match roles[v] {
            Some(Role::External) => Some(Layout::contiguous(v, shape)),
            Some(Role::Kernel) => {
                let buffer = in_place.iter().find(|(value, _)| *value == v).map_or(v, |&(_, p)| p);
                Some(Layout::contiguous(buffer, shape))
            }
            Some(Role::View) => views[v].clone(),
            _ => None,
        };
    }

    let kernels = (0..g.nodes.len()).filter(|&v| roles[v] == Some(Role::Kernel)).collect();
    Schedule { roles, layouts, views, kernels }
}

fn view_layout(op: &Op, source: Layout, from: &Shape, to: &Shape) -> Layout {
    match op {
        Op::Reshape(_) => {
            assert!(source.is_contiguous(from), "internal: reshape of a strided view");
            Layout::contiguous(source.buffer, to)
        }
        Op::Permute(_, perm) => {
            let strides = perm.iter().map(|&p| source.strides[p]).collect();
            Layout { buffer: source.buffer, strides: normalized(to, strides) }
        }
        Op::Expand(_) | Op::Detach(_) => {
            Layout { buffer: source.buffer, strides: normalized(to, source.strides) }
        }
        _ => unreachable!("not a view"),
    }
}
