//! Small picks as sums: a pick at labels (`Op::Pick`) from at most
//! `target::PICK_SUM_MAX_ELEMENTS` scores becomes the sum of their product with the labels'
//! one-hot rows, which fuses into the kernels around it (a small classifier's whole loss is one
//! kernel); larger ones keep the gather, which reads one score per row.

use super::with_graph;
use crate::ir::{BinaryOp, Graph, Op, ReduceOp, ValueId};
use crate::program::Program;
use crate::target::PICK_SUM_MAX_ELEMENTS;

/// `p` with its small picks summed.
pub(crate) fn summed_picks(p: &Program) -> Program {
    with_graph(p, rewritten)
}

/// `g` with its small picks summed, in its loops' bodies too, and where each value went.
fn rewritten(g: &Graph) -> (Graph, Vec<ValueId>) {
    let mut out = Graph::default();
    let mut map: Vec<ValueId> = Vec::with_capacity(g.nodes.len());
    for node in &g.nodes {
        out.set_origin(node.origin.clone());
        let op = match &node.op {
            Op::Loop(l) => {
                let (body, ids) = rewritten(&l.body);
                Op::Loop(Box::new(l.with_body(body, &ids)))
            }
            op => op.clone(),
        };
        let new = match op.map_operands(|a| map[a]) {
            Op::Pick(scores, labels) if out.shape(scores).numel() <= PICK_SUM_MAX_ELEMENTS => {
                let shape = out.shape(scores).clone();
                let last = shape.rank() - 1;
                let one_hot = out.push(Op::OneHot(labels), shape.clone());
                let picked = out.push(Op::Binary(BinaryOp::Mul, one_hot, scores), shape);
                out.push(Op::Reduce(ReduceOp::Sum, picked, vec![last]), node.shape.clone())
            }
            op => out.push(op, node.shape.clone()),
        };
        map.push(new);
    }
    (out, map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::eval::evaluate;
    use std::collections::HashMap;

    #[test]
    fn small_picks_become_one_hot_sums_of_the_same_values() {
        let text = "%0 = labels \"y\" classes=10 : [3]\n\
                    %1 = input \"z\" : [3, 10]\n\
                    %2 = pick %1, %0 : [3, 1]\n\
                    %3 = labels \"t\" classes=8000 : [1]\n\
                    %4 = input \"w\" : [1, 8000]\n\
                    %5 = pick %4, %3 : [1, 1]";
        let g = Graph::parse(text).unwrap();
        let (summed, map) = rewritten(&g);
        assert!(matches!(summed.nodes[map[2]].op, Op::Reduce(ReduceOp::Sum, ..)), "{summed}");
        assert!(matches!(summed.nodes[map[5]].op, Op::Pick(..)), "8,000 scores keep the gather");
        let z: Vec<f64> = (0..30).map(|i| i as f64 * 0.5).collect();
        let w: Vec<f64> = (0..8000).map(|i| i as f64).collect();
        let feeds = [(0, vec![3.0, 0.0, 9.0]), (1, z), (3, vec![7999.0]), (4, w)];
        let before = evaluate(&g, &HashMap::from(feeds.clone()));
        let after = evaluate(&summed, &feeds.into_iter().map(|(v, x)| (map[v], x)).collect());
        assert_eq!(before[2], [1.5, 5.0, 14.5]);
        assert_eq!((after[map[2]].clone(), after[map[5]].clone()), (before[2].clone(), before[5].clone()));
    }
}
