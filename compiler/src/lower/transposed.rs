//! Transposed products: a product `a @ b` whose output rows are too short for wide vectors
//! (`n` not a multiple of 16) but whose columns are long, with `a` a transpose (a weight
//! gradient `dY^T @ X` of a layer with few inputs, such as an embedding of 50), is computed
//! as `(X^T @ dY)^T`: the product then runs along `dY`'s contiguous rows of `m` columns in
//! 16-wide vectors, and the transpose is a view.

use crate::ir::{Graph, Op, Shape, ValueId};
use crate::program::Program;

/// Widest vectors a product's tiles use (see `kernel::product`).
const LANES: usize = 16;

/// `p` with its narrow weight-gradient products transposed.
pub(crate) fn transposed_products(p: &Program) -> Program {
    let mut q = p.clone();
    let old = &p.graph;
    let mut g = Graph::default();
    let mut map: Vec<ValueId> = Vec::with_capacity(old.nodes.len());
    for node in &old.nodes {
        g.set_origin(node.origin.clone());
        let op = node.op.clone().map_operands(|a| map[a]);
        let new = match op {
            Op::MatMul(a, b) if transposes(&g, a, &node.shape) => {
                let Op::Permute(rows, _) = g.nodes[a].op else { unreachable!("checked by `transposes`") };
                let [m, n] = node.shape.0[..] else { unreachable!("products are [m, n]") };
                let bt = g.push(Op::Permute(b, vec![1, 0]), Shape(vec![n, g.shape(b).0[0]]));
                let product = g.push(Op::MatMul(bt, rows), Shape(vec![n, m]));
                g.push(Op::Permute(product, vec![1, 0]), node.shape.clone())
            }
            op => g.push(op, node.shape.clone()),
        };
        map.push(new);
    }
    q.graph = g;
    q.map_values(|v| map[v]);
    q
}

/// Whether product `a @ _` of `shape` `[m, n]` gains from running transposed: `n` takes
/// narrow vectors, `m` wide ones, and `a` transposes a `[k, m]` value, whose rows then feed
/// the vectors.
fn transposes(g: &Graph, a: ValueId, shape: &Shape) -> bool {
    let [m, n] = shape.0[..] else { return false };
    let transposed = matches!(&g.nodes[a].op, Op::Permute(_, perm) if perm[..] == [1, 0]);
    transposed && !n.is_multiple_of(LANES) && m.is_multiple_of(LANES)
}
