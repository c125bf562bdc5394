//! Recurrent layers: `nn.RNN`, `nn.LSTM` and `nn.GRU` over a whole sequence, and their cells for
//! step-by-step use (a decoder). A layer over a sequence is one IR loop over its static length
//! (backpropagation through time is that loop's reverse); cells are called once per step.
//! Variable lengths are padded to that length; given each row's length ([`Lengths`]), a layer
//! has `pack_padded_sequence`'s semantics: past its length a row's state stands still, its
//! outputs are zero, and those steps neither contribute nor receive gradient.

use super::norm::sigmoid;
use super::{Model, State, Tensor};
use crate::ir::Shape;
use crate::ir::{Carry, Graph, Init, Loop, UnaryOp, ValueId};
use std::panic::Location;

/// Options of [`Tensor::rnn`], [`Tensor::lstm`] and [`Tensor::gru`]: `nn.RNN` / `nn.LSTM` /
/// `nn.GRU` with `batch_first=True`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Recurrent {
    pub(crate) hidden: usize,
    pub(crate) layers: usize,
    /// The lengths input's value, if the layer is packed (`None` inside: declared with an
    /// error).
    pub(crate) lengths: Option<Option<ValueId>>,
}

impl Recurrent {
    /// One layer of `hidden` units.
    pub fn new(hidden: usize) -> Self {
        Recurrent { hidden, layers: 1, lengths: None }
    }

    /// Stacks `layers` layers, each reading the previous one's outputs (`num_layers`).
    pub fn layers(self, layers: usize) -> Self {
        Recurrent { layers, ..self }
    }

    /// Runs each row for its own length, as on a `pack_padded_sequence` of the batch: past it,
    /// the row's state stands still (so the last state is the state at its length) and its
    /// outputs are zero, as `pad_packed_sequence` gives them.
    pub fn lengths(self, lengths: Lengths<'_>) -> Self {
        Recurrent { lengths: Some(lengths.tensor.id), ..self }
    }
}

/// Each row's sequence length in `1..=max_len`, fed each step as `u32` ids: which steps of a
/// padded batch are real (`pack_padded_sequence`'s `lengths`). A length of 0 or above the
/// maximum is an error of the step that is fed it.
#[derive(Clone, Copy)]
pub struct Lengths<'m> {
    pub(crate) tensor: Tensor<'m>,
    pub(crate) max_len: usize,
}

impl Model {
    /// Declares the lengths of a batch of `batch` sequences padded to `max_len` steps.
    #[track_caller]
    pub fn lengths(&self, name: &str, batch: usize, max_len: usize) -> Lengths<'_> {
        let location = Location::caller();
        let id = self.checked(name, location, |s| {
            let valid = if batch == 0 || max_len == 0 {
                Err(format!("lengths need a batch and a maximum length of at least 1, got {batch} and {max_len}"))
            } else {
                Ok(())
            };
            // Ids in `0..=max_len`: the trainer rejects 0 on upload.
            let id = s.declare(name, location, valid, |g| g.labels(name, Shape(vec![batch]), max_len + 1))?;
            s.tokens.push(id);
            s.lengths.push(id);
            Ok(id)
        });
        Lengths { tensor: Tensor { model: self, id }, max_len }
    }
}

impl<'m> Lengths<'m> {
    /// `[batch, max_len]`: 1 at each row's first `length` steps, 0 after (a masked mean's
    /// weights, say).
    #[track_caller]
    pub fn mask(self) -> Tensor<'m> {
        let max_len = self.max_len;
        self.tensor.functional("lengths_mask", Location::caller(), |s, lengths| {
            let mask = steps_below(s, lengths, max_len);
            Ok(s.graph.permute(mask, &[1, 0]))
        })
    }
}

/// `[len, batch]`: 1 where the step is below the row's length, else 0. The one-hot of each
/// length `[batch, len + 1]` times the 0/1 table of `step < length` `[len + 1, len]`, exact in
/// floats, transposed to be time-major. Made once per lengths input, however many layers and
/// masked means read it.
fn steps_below(s: &mut State, lengths: ValueId, len: usize) -> ValueId {
    if let Some(&(_, mask)) = s.length_masks.iter().find(|(of, _)| *of == lengths) {
        return mask;
    }
    let below: Vec<f64> = (0..len).flat_map(|t| (0..=len).map(move |length| f64::from(t < length))).collect();
    let below = s.constant(Shape(vec![len, len + 1]), below);
    let g = &mut s.graph;
    let one_hot = g.one_hot(lengths, len + 1);
    let one_hot = g.transpose(one_hot);
    let mask = g.matmul(below, one_hot);
    s.length_masks.push((lengths, mask));
    mask
}

/// Which cell: Elman (`h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`), LSTM or GRU.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Elman,
    Lstm,
    Gru,
}

impl Kind {
    /// Rows of the stacked gate weights per hidden unit (LSTM: input, forget, cell, output;
    /// GRU: reset, update, new).
    fn gates(self) -> usize {
        match self {
            Kind::Elman => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }
}

/// The four parameters of one cell (PyTorch's `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`).
#[derive(Clone, Copy)]
struct Weights {
    kind: Kind,
    hidden: usize,
    input: usize,
    weight_ih: ValueId,
    weight_hh: ValueId,
    bias_ih: ValueId,
    bias_hh: ValueId,
}

/// The state a cell carries between steps: `h`, and `c` for an LSTM.
#[derive(Clone, Copy)]
pub struct CellState<'m> {
    /// The hidden state `[batch, hidden]` (the step's output).
    pub h: Tensor<'m>,
    /// The LSTM cell state `[batch, hidden]` (`None` for an Elman cell).
    pub c: Option<Tensor<'m>>,
}

/// An `nn.RNNCell`, `nn.LSTMCell` or `nn.GRUCell`: its parameters are made once (module index `i`, named
/// `i.weight_ih` ...) and shared by every [`Cell::step`].
#[derive(Clone, Copy)]
pub struct Cell<'m> {
    model: &'m Model,
    weights: Option<Weights>,
    label: &'static str,
}

impl Weights {
    /// Declares the parameters `{index}.weight_ih{suffix}` ..., initialised U(±1/sqrt(hidden))
    /// as in PyTorch.
    fn new(s: &mut State, kind: Kind, index: usize, suffix: &str, input: usize, hidden: usize) -> Weights {
        let rows = kind.gates() * hidden;
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = || Init::Uniform { low: -bound, high: bound };
        let weight_ih = s.param(index, &format!("weight_ih{suffix}"), Shape(vec![rows, input]), init());
        let weight_hh = s.param(index, &format!("weight_hh{suffix}"), Shape(vec![rows, hidden]), init());
        let bias_ih = s.param(index, &format!("bias_ih{suffix}"), Shape(vec![rows]), init());
        let bias_hh = s.param(index, &format!("bias_hh{suffix}"), Shape(vec![rows]), init());
        s.weights.extend([weight_ih, weight_hh]);
        Weights { kind, hidden, input, weight_ih, weight_hh, bias_ih, bias_hh }
    }

    /// `x W_ih^T + b_ih + b_hh` for rows `x [rows, input]`: the input's share of the gates,
    /// computed for a whole sequence at once. A GRU leaves `b_hh` to the hidden share, since
    /// its reset gate scales `W_hn h + b_hn`.
    fn input_gates(&self, g: &mut Graph, x: ValueId) -> ValueId {
        let rows = self.kind.gates() * self.hidden;
        // The bias first, so that its kernel runs before the product's, whose epilogue adds it.
        let bias = match self.kind {
            Kind::Gru => self.bias_ih,
            Kind::Elman | Kind::Lstm => g.add(self.bias_ih, self.bias_hh),
        };
        let bias = g.reshape(bias, Shape(vec![1, rows]));
        let wt = g.transpose(self.weight_ih);
        let product = g.matmul(x, wt);
        g.add(product, bias)
    }

    /// The layer over a whole sequence, from zero states: one loop over the input's share of
    /// the gates `[len, batch, gates * hidden]`, carrying `h` (and `c`); returns every step's
    /// `h`, `[len, batch, hidden]`, and the last state. With lengths and their mask
    /// `[len, batch, 1]` (1 for a row's real steps), a masked step keeps the state and outputs
    /// zeros, so the loop may stop after the longest row.
    fn over_steps(
        &self,
        g: &mut Graph,
        gates: ValueId,
        lengths: Option<(ValueId, ValueId)>,
    ) -> (ValueId, ValueId, Option<ValueId>) {
        let [len, batch, width] = g.shape(gates).dims();
        let state = Shape(vec![batch, self.hidden]);
        let mut body = Graph::default();
        body.set_origin(g.origin());
        let h = body.input("h", state.clone());
        let c = (self.kind == Kind::Lstm).then(|| body.input("c", state.clone()));
        let at_step = body.input("gates", Shape(vec![batch, width]));
        let weight_hh = body.input("weight_hh", g.shape(self.weight_hh).clone());
        let bias_hh = body.input("bias_hh", g.shape(self.bias_hh).clone());
        let step = Weights { weight_hh, bias_hh, ..*self };
        let (mut next_h, mut next_c) = step.step(&mut body, at_step, Some((h, c)));
        let mut output = next_h;
        let mut slices = vec![(gates, at_step)];
        if let Some((_, mask)) = lengths {
            let real = body.input("mask", Shape(vec![batch, 1]));
            output = body.mul(next_h, real);
            next_h = body.select(real, next_h, h);
            next_c = next_c.zip(c).map(|(next, c)| body.select(real, next, c));
            slices.push((mask, real));
        }
        let zeros = g.constant(0.0, state);
        let mut carries = vec![Carry { init: zeros, input: h, next: next_h }];
        if let (Some(input), Some(next)) = (c, next_c) {
            carries.push(Carry { init: zeros, input, next });
        }
        let stacked = carries.len();
        let outputs = g.scan(Loop {
            steps: len,
            reverse: false,
            body,
            carries,
            slices,
            invariants: vec![(self.weight_hh, weight_hh), (self.bias_hh, bias_hh)],
            ys: vec![output],
            trips: lengths.map(|(lengths, _)| lengths),
        });
        (outputs[stacked], outputs[0], (stacked > 1).then(|| outputs[1]))
    }

    /// One step from the input's share of the gates `[batch, gates * hidden]` and the previous
    /// state (`None`: zeros, as PyTorch's default initial state); returns `(h, c)`.
    fn step(
        &self,
        g: &mut Graph,
        input_gates: ValueId,
        previous: Option<(ValueId, Option<ValueId>)>,
    ) -> (ValueId, Option<ValueId>) {
        match self.kind {
            Kind::Gru => (self.gru_step(g, input_gates, previous.map(|(h, _)| h)), None),
            Kind::Elman | Kind::Lstm => self.additive_step(g, input_gates, previous),
        }
    }

    /// An Elman or LSTM step, whose gates add the input's and the hidden state's shares before
    /// any nonlinearity; returns `(h, c)`.
    fn additive_step(
        &self,
        g: &mut Graph,
        input_gates: ValueId,
        previous: Option<(ValueId, Option<ValueId>)>,
    ) -> (ValueId, Option<ValueId>) {
        let pre = match previous {
            Some((h, _)) => {
                let wt = g.transpose(self.weight_hh);
                let recurrent = g.matmul(h, wt);
                g.add(input_gates, recurrent)
            }
            None => input_gates,
        };
        match self.kind {
            Kind::Lstm => {
                let n = self.hidden;
                let mut gate = |k: usize| g.narrow(pre, 1, k * n, n);
                let (i, f, c, o) = (gate(0), gate(1), gate(2), gate(3));
                let (i, f, o) = (sigmoid(g, i), sigmoid(g, f), sigmoid(g, o));
                let c = g.unary(UnaryOp::Tanh, c);
                let mut cell = g.mul(i, c);
                if let Some((_, Some(previous_cell))) = previous {
                    let kept = g.mul(f, previous_cell);
                    cell = g.add(kept, cell);
                }
                let squashed = g.unary(UnaryOp::Tanh, cell);
                (g.mul(o, squashed), Some(cell))
            }
            // Elman.
            _ => (g.unary(UnaryOp::Tanh, pre), None),
        }
    }

    /// One GRU step (PyTorch's `nn.GRUCell`): `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`,
    /// `n = tanh(x_n + r ⊙ h_n)`, `h' = n + z ⊙ (h - n)`, where `x_*` are the input's share
    /// of the gates and `h_* = W_h* h + b_h*` (just `b_h*` from the zero initial state).
    fn gru_step(&self, g: &mut Graph, input_gates: ValueId, previous: Option<ValueId>) -> ValueId {
        let n = self.hidden;
        let bias = g.reshape(self.bias_hh, Shape(vec![1, 3 * n]));
        let hidden_gates = match previous {
            Some(h) => {
                let wt = g.transpose(self.weight_hh);
                let recurrent = g.matmul(h, wt);
                g.add(recurrent, bias)
            }
            None => bias,
        };
        let mut gate = |gates: ValueId, k: usize| g.narrow(gates, 1, k * n, n);
        let (x_r, x_z, x_n) = (gate(input_gates, 0), gate(input_gates, 1), gate(input_gates, 2));
        let (h_r, h_z, h_n) = (gate(hidden_gates, 0), gate(hidden_gates, 1), gate(hidden_gates, 2));
        let (r, z) = (g.add(x_r, h_r), g.add(x_z, h_z));
        let (r, z) = (sigmoid(g, r), sigmoid(g, z));
        let reset = g.mul(r, h_n);
        let new = g.add(x_n, reset);
        let new = g.unary(UnaryOp::Tanh, new);
        let towards_previous = match previous {
            Some(h) => g.sub(h, new),
            None => g.unary(UnaryOp::Neg, new),
        };
        let step = g.mul(z, towards_previous);
        g.add(new, step)
    }
}

impl Model {
    /// `nn.RNNCell(input, hidden)` (tanh): parameters for [`Cell::step`].
    #[track_caller]
    pub fn rnn_cell(&self, input: usize, hidden: usize) -> Cell<'_> {
        self.cell(Kind::Elman, "rnn_cell", input, hidden, Location::caller())
    }

    /// `nn.LSTMCell(input, hidden)` (gates in PyTorch's order i, f, g, o): parameters for
    /// [`Cell::step`].
    #[track_caller]
    pub fn lstm_cell(&self, input: usize, hidden: usize) -> Cell<'_> {
        self.cell(Kind::Lstm, "lstm_cell", input, hidden, Location::caller())
    }

    /// `nn.GRUCell(input, hidden)` (gates in PyTorch's order r, z, n): parameters for
    /// [`Cell::step`].
    #[track_caller]
    pub fn gru_cell(&self, input: usize, hidden: usize) -> Cell<'_> {
        self.cell(Kind::Gru, "gru_cell", input, hidden, Location::caller())
    }

    fn cell(
        &self,
        kind: Kind,
        label: &'static str,
        input: usize,
        hidden: usize,
        location: &'static Location<'static>,
    ) -> Cell<'_> {
        let weights = self.module(label, location, |s, index| {
            if input == 0 || hidden == 0 {
                return Err(format!("a cell needs input and hidden sizes of at least 1, got {input} and {hidden}"));
            }
            Ok(Weights::new(s, kind, index, "", input, hidden))
        });
        Cell { model: self, weights, label }
    }
}

impl<'m> Cell<'m> {
    /// One step on `x [batch, input]` from `state` (`None`: zeros), giving the next state.
    #[track_caller]
    pub fn step(&self, x: Tensor<'m>, state: Option<CellState<'m>>) -> CellState<'m> {
        let location = Location::caller();
        let failed = CellState { h: Tensor { model: self.model, id: None }, c: None };
        let Some(w) = self.weights else { return failed };
        // A missing id means an earlier layer failed and recorded its error.
        let previous = match state {
            None => None,
            Some(CellState { h, c }) => match (h.id, c.map(|c| c.id)) {
                (Some(h), None) => Some((h, None)),
                (Some(h), Some(Some(c))) => Some((h, Some(c))),
                _ => return failed,
            },
        };
        let mut cell = None;
        let h = x.functional(self.label, location, |s, x| {
            let (batch, n) = (s.graph.shape(x).0[0], w.hidden);
            if *s.graph.shape(x) != Shape(vec![batch, w.input]) {
                return Err(format!("expects input [batch, {}], got {}", w.input, s.graph.shape(x)));
            }
            if let Some((h, c)) = previous {
                let expected = Shape(vec![batch, n]);
                if *s.graph.shape(h) != expected || c.is_some_and(|c| *s.graph.shape(c) != expected) {
                    return Err(format!("expects states {expected}, got {}", s.graph.shape(h)));
                }
                if c.is_some() != (w.kind == Kind::Lstm) {
                    return Err("an LSTM cell's state has h and c, an RNN or GRU cell's only h".into());
                }
            }
            let gates = w.input_gates(&mut s.graph, x);
            let (h, c) = w.step(&mut s.graph, gates, previous);
            cell = c;
            Ok(h)
        });
        CellState { h, c: cell.map(|c| Tensor { model: self.model, id: Some(c) }) }
    }
}

impl<'m> Tensor<'m> {
    /// `nn.RNN(input, hidden, num_layers, batch_first=True)` (tanh) on `[batch, len, input]`,
    /// from zero states: the top layer's outputs `[batch, len, hidden]`. Parameters are named
    /// `i.weight_ih_l0` ... as in PyTorch.
    #[track_caller]
    pub fn rnn(self, options: Recurrent) -> Tensor<'m> {
        self.recurrent(Kind::Elman, "rnn", options, Location::caller()).0
    }

    /// `nn.LSTM(input, hidden, num_layers, batch_first=True)` on `[batch, len, input]`, from
    /// zero states: the top layer's outputs `[batch, len, hidden]`. Parameters are named
    /// `i.weight_ih_l0` ... with the gates in PyTorch's order (i, f, g, o), so a PyTorch
    /// `state_dict` loads as is.
    #[track_caller]
    pub fn lstm(self, options: Recurrent) -> Tensor<'m> {
        self.recurrent(Kind::Lstm, "lstm", options, Location::caller()).0
    }

    /// `nn.GRU(input, hidden, num_layers, batch_first=True)` on `[batch, len, input]`, from
    /// zero states: the top layer's outputs `[batch, len, hidden]`. Parameters are named
    /// `i.weight_ih_l0` ... with the gates in PyTorch's order (r, z, n), so a PyTorch
    /// `state_dict` loads as is.
    #[track_caller]
    pub fn gru(self, options: Recurrent) -> Tensor<'m> {
        self.recurrent(Kind::Gru, "gru", options, Location::caller()).0
    }

    /// [`Tensor::rnn`], and the top layer's last state (`h_n[-1]`): with
    /// [`Recurrent::lengths`], each row's state at its own length.
    #[track_caller]
    pub fn rnn_with_state(self, options: Recurrent) -> (Tensor<'m>, CellState<'m>) {
        self.recurrent(Kind::Elman, "rnn", options, Location::caller())
    }

    /// [`Tensor::lstm`], and the top layer's last state (`h_n[-1]`, `c_n[-1]`): with
    /// [`Recurrent::lengths`], each row's state at its own length.
    #[track_caller]
    pub fn lstm_with_state(self, options: Recurrent) -> (Tensor<'m>, CellState<'m>) {
        self.recurrent(Kind::Lstm, "lstm", options, Location::caller())
    }

    /// [`Tensor::gru`], and the top layer's last state (`h_n[-1]`): with
    /// [`Recurrent::lengths`], each row's state at its own length.
    #[track_caller]
    pub fn gru_with_state(self, options: Recurrent) -> (Tensor<'m>, CellState<'m>) {
        self.recurrent(Kind::Gru, "gru", options, Location::caller())
    }

    fn recurrent(
        self,
        kind: Kind,
        label: &str,
        options: Recurrent,
        location: &'static Location<'static>,
    ) -> (Tensor<'m>, CellState<'m>) {
        let mut last = None;
        let outputs = self.layer(label, location, |s, x, index| {
            let shape = s.graph.shape(x).clone();
            let [batch, len, mut input] = shape.0[..] else {
                return Err(format!("expects [batch, len, features], got {shape}"));
            };
            if options.hidden == 0 || options.layers == 0 {
                return Err(format!(
                    "needs at least one hidden unit and one layer, got {} and {}",
                    options.hidden, options.layers
                ));
            }
            let lengths = match options.lengths {
                None => None,
                Some(lengths) => Some(step_mask(s, lengths, batch, len)?),
            };
            // Every layer's gates are computed time-major, so that each step's are contiguous:
            // the first layer reads its input transposed (a copy of the input, which is narrower
            // than the gates), the later ones the time-major outputs of the layer before.
            let mut time_major: Option<ValueId> = None;
            for layer in 0..options.layers {
                let w = Weights::new(s, kind, index, &format!("_l{layer}"), input, options.hidden);
                let g = &mut s.graph;
                let width = kind.gates() * options.hidden;
                let inputs = time_major.unwrap_or_else(|| g.permute(x, &[1, 0, 2]));
                let rows = g.reshape(inputs, Shape(vec![len * batch, input]));
                let gates = w.input_gates(g, rows);
                let steps = g.reshape(gates, Shape(vec![len, batch, width]));
                let (outputs, h, c) = w.over_steps(g, steps, lengths);
                time_major = Some(outputs);
                last = Some((h, c));
                input = options.hidden;
            }
            let outputs = time_major.expect("at least one layer");
            let sequence = s.graph.permute(outputs, &[1, 0, 2]);
            Ok(sequence)
        });
        let tensor = |id| Tensor { model: self.model, id };
        let state = match (outputs.id, last) {
            (Some(_), Some((h, c))) => CellState { h: tensor(Some(h)), c: c.map(|c| tensor(Some(c))) },
            _ => CellState { h: tensor(None), c: None },
        };
        (outputs, state)
    }
}

/// Lengths `lengths` (see [`Recurrent::lengths`]) and their time-major mask `[len, batch, 1]`,
/// or why they do not fit a layer over `[batch, len, ..]`.
fn step_mask(s: &mut State, lengths: Option<ValueId>, batch: usize, len: usize) -> Result<(ValueId, ValueId), String> {
    // An error declaring them is reported already.
    let lengths = lengths.ok_or("its lengths were declared with an error")?;
    let shape = s.graph.shape(lengths).clone();
    let fits = s.lengths.contains(&lengths) && shape == Shape(vec![batch]);
    match s.graph.nodes[lengths].op {
        crate::ir::Op::Labels { classes, .. } if fits && classes == len + 1 => {
            let mask = steps_below(s, lengths, len);
            Ok((lengths, s.graph.reshape(mask, Shape(vec![len, batch, 1]))))
        }
        crate::ir::Op::Labels { classes, .. } if fits => {
            Err(format!("has {len} steps, but its lengths are of sequences of up to {}", classes - 1))
        }
        _ => Err(format!("takes [batch] = [{batch}] lengths of this model, got {shape}")),
    }
}
