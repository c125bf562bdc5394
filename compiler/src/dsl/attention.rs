//! Dot-product attention, batched, from broadcast products and sums (no new primitive).

use super::norm::log_softmax;
use super::Tensor;
use crate::ir::Shape;
use crate::ir::{Graph, UnaryOp, ValueId};
use std::panic::Location;

impl<'m> Tensor<'m> {
    /// Scaled dot-product attention of queries `self [batch, tq, d]` over `keys [batch, tk, d]`
    /// and `values [batch, tk, dv]`: `softmax(q k^T / sqrt(d)) v`, `[batch, tq, dv]`
    /// (`F.scaled_dot_product_attention`). `key_mask [batch, tk]` (1 keep, 0 padding) gives
    /// padded keys no weight.
    #[track_caller]
    pub fn attention(self, keys: Tensor<'m>, values: Tensor<'m>, key_mask: Option<Tensor<'m>>) -> Tensor<'m> {
        let (Some(k), Some(v)) = (keys.id, values.id) else { return Tensor { model: self.model, id: None } };
        let mask = match key_mask {
            Some(Tensor { id: None, .. }) => return Tensor { model: self.model, id: None },
            Some(m) => m.id,
            None => None,
        };
        self.functional("attention", Location::caller(), |s, q| {
            let g = &mut s.graph;
            let (qs, ks, vs) = (g.shape(q).clone(), g.shape(k).clone(), g.shape(v).clone());
            let [batch, tq, d] = qs.0[..] else { return Err(format!("expects queries [batch, tq, d], got {qs}")) };
            let (tk, dv) = match vs.0[..] {
                [b, tk, dv] if b == batch => (tk, dv),
                _ => return Err(format!("values {vs} must be [{batch}, tk, dv]")),
            };
            if ks != Shape(vec![batch, tk, d]) {
                return Err(format!("keys {ks} must be [{batch}, {tk}, {d}] for queries {qs} and values {vs}"));
            }
            if let Some(m) = mask {
                if *g.shape(m) != Shape(vec![batch, tk]) {
                    return Err(format!("key mask {} must be [{batch}, {tk}]", g.shape(m)));
                }
            }
            Ok(attend(g, q, k, v, mask, [batch, tq, tk, d, dv]))
        })
    }
}

/// The attention of [`Tensor::attention`] on checked shapes.
fn attend(
    g: &mut Graph,
    q: ValueId,
    k: ValueId,
    v: ValueId,
    mask: Option<ValueId>,
    [batch, tq, tk, d, dv]: [usize; 5],
) -> ValueId {
    // scores[b, i, j] = Σ_d q[b, i, d] k[b, j, d] / sqrt(d)
    let q4 = g.reshape(q, Shape(vec![batch, tq, 1, d]));
    let k4 = g.reshape(k, Shape(vec![batch, 1, tk, d]));
    let products = g.mul(q4, k4);
    let scores = g.sum(products, &[3]);
    let mut scores = g.scale(scores, 1.0 / (d as f64).sqrt());
    if let Some(m) = mask {
        // A masked key's score drops by 1e9: its weight underflows to 0.
        let m = g.reshape(m, Shape(vec![batch, 1, tk, 1]));
        let one = g.scalar_like(1.0, m);
        let dropped = g.sub(m, one);
        let penalty = g.scale(dropped, 1e9);
        scores = g.add(scores, penalty);
    }
    let log_weights = log_softmax(g, scores, 2);
    let weights = g.unary(UnaryOp::Exp, log_weights);
    // out[b, i, e] = Σ_j weights[b, i, j] v[b, j, e]
    let v4 = g.reshape(v, Shape(vec![batch, 1, tk, dv]));
    let weighted = g.mul(weights, v4);
    let out = g.sum(weighted, &[2]);
    g.reshape(out, Shape(vec![batch, tq, dv]))
}
