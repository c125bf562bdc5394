//! Products: the product templates with their fused epilogues (and the mixed-precision
//! products still written out), matrix products through the library's `matmul_nn` and
//! `matmul_nt`, and direct convolutions.

use super::*;

/// What a product's row epilogue calls the sum of its row, in every lane.
const ROW_SUM: &str = "Vector::<F, N>::new(sum)";

/// The product `v` with `members` (pointwise values of its shape, in launch order) computed
/// from its accumulators before they are stored: a bias and activation, an activation's
/// gradient mask, an optimizer update. One launch instead of two, and the members read `v`
/// from registers (`v` is stored too, with `store`). `None` where a member reads `v` at other indices than
/// its own, writes what the product reads, or needs narrower vectors than the tile's.
///
/// `row_sums` is a reduction the tiles compute too (see [`sums_rows_of_lhs`]), with the
/// pointwise values of its shape computed from each sum before it is stored (see
/// [`Expr::row_epilogue`]): a bias's update beside its weight's.
#[allow(clippy::too_many_arguments)]
pub fn product_with_epilogue(
    g: &Graph,
    s: &Schedule,
    storage: &Storage,
    v: ValueId,
    members: &[ValueId],
    row_sums: Option<(ValueId, &[ValueId])>,
    store: bool,
) -> Option<Kernel> {
    let p = Product::new(g, s, storage.target(), v);
    // A product with nothing to fuse is the library's plain kernel (see [`matmul`]), unless
    // it blocks k, which only the template does.
    if row_sums.is_some_and(|(r, _)| !sums_rows_of_lhs(g, s, storage.target(), r, v))
        || (members.is_empty() && row_sums.is_none() && p.blocking().is_none())
    {
        return None;
    }
    let shape = g.shape(v).clone();
    let writes_operand = |m: &ValueId| {
        [p.a.buffer, p.b.buffer].contains(&s.layouts[*m].as_ref().expect("kernel output has a buffer").buffer)
    };
    let fits = |m: ValueId| is_contiguous_pointwise(g, s, m, &shape) && !writes_operand(&m);
    let row_members = row_sums.map_or(&[][..], |(_, m)| m);
    if !members.iter().all(|&m| fits(m)) || row_members.iter().any(writes_operand) {
        return None;
    }
    let mut e = Expr::new(g, s, storage, v, &shape);
    e.outputs = [members, row_members].concat();
    e.vector = 16;
    e.narrow_vector(members.iter().map(|&m| (m, m)));
    let w = match p.form {
        Form::Nn(w, ..) => w,
        Form::Nt(..) => 1,
    };
    if e.vector < w {
        return None;
    }
    e.vector = w;
    e.epilogue_kernel(&p, v, members, row_sums, store)
}

/// Whether reduction `r` sums, over k, the rows of product `v`'s left operand as its tiles
/// read them, so the tiles of the first column can store those sums: `r` keeps one axis of
/// `x`, whose stride is the operand's row stride, and `x`'s other axes lie along each row of
/// the operand's buffer, `k` elements at its column stride. A linear layer's bias gradient
/// `sum(dY, axis 0)` beside its weight gradient `dY^T @ X` (NN form, `a = dY^T`), or a
/// convolution's, `sum(dY, axes [n, h, w])`, beside `dY @ cols^T` (NT form, `dY` stored
/// `[channels, n, h, w]`).
pub fn sums_rows_of_lhs(g: &Graph, s: &Schedule, target: Target, r: ValueId, v: ValueId) -> bool {
    let (Op::Reduce(ReduceOp::Sum, x, axes), Op::MatMul(..)) = (&g.nodes[r].op, &g.nodes[v].op) else { return false };
    let p = Product::new(g, s, target, v);
    let (Some(x_layout), Some(r_layout)) = (s.layouts[*x].as_ref(), s.layouts[r].as_ref()) else { return false };
    let shape = g.shape(*x);
    let kept: Vec<usize> = (0..shape.rank()).filter(|d| !axes.contains(d)).collect();
    let ([kept], [row, column]) = (&kept[..], &p.a.strides[..]) else { return false };
    // The reduced axes, innermost first, must tile one row: k elements `column` apart.
    let mut reduced: Vec<usize> = axes.iter().copied().filter(|&d| shape.0[d] > 1).collect();
    reduced.sort_by_key(|&d| x_layout.strides[d]);
    let mut along = *column;
    for &d in &reduced {
        if x_layout.strides[d] != along {
            return false;
        }
        along *= shape.0[d];
    }
    // NT tiles read the rows a vector at a time.
    let whole_vectors = match p.form {
        Form::Nn(..) => true,
        Form::Nt(lanes, _) => row % lanes == 0 && p.k.is_multiple_of(lanes),
    };
    x_layout.buffer == p.a.buffer
        && shape.0[*kept] == p.m
        && x_layout.strides[*kept] == *row
        && along == p.k * column
        && whole_vectors
        && r_layout.is_contiguous(g.shape(r))
}

/// A `#[cube]` helper `{SLOT}_{suffix}` running `body` at index `i` with `value` (`name: type`)
/// and `buffers` (the kernel's parameters), or nothing for an empty body; with the call that
/// runs it at an index and value.
fn helper<'a>(
    suffix: &'a str,
    value: &str,
    buffers: &'a [String],
    body: &[String],
) -> (String, impl Fn(&str, &str) -> String + 'a) {
    let source = match body {
        [] => String::new(),
        body => format!(
            "#[cube]\nfn {SLOT}_{suffix}<F: Float, N: Size>(i: usize, {value}, {}) {{\n{}\n}}\n\n",
            buffers.join(", "),
            indent(body)
        ),
    };
    let names: Vec<&str> = buffers.iter().map(|p| &p[..p.find(':').expect("name: type")]).collect();
    let call =
        move |index: &str, value: &str| format!("{SLOT}_{suffix}::<F, N>({index}, {value}, {})", names.join(", "));
    (source, call)
}

/// `body` (the lines computing tile `pos`, indented one level) run over the `tiles` of a
/// [`Grid::Balanced`] kernel: the unit's static share (empty where there are few tiles), then
/// the chunks of `chunk` tiles it claims until it is refused (see `kiln_kernels::claim_tiles`).
fn balanced_tiles(tiles: usize, chunk: usize, body: Vec<String>) -> Vec<String> {
    let mut lines = vec![
        format!("let mut start = kiln_runtime::kernels::share_start({tiles}usize, host_memory);"),
        format!("let mut end = kiln_runtime::kernels::share_end({tiles}usize, host_memory);"),
        "loop {".into(),
        "    for pos in start..end {".into(),
    ];
    lines.extend(body.into_iter().map(|l| format!("    {l}")));
    lines.extend([
        "    }".to_string(),
        format!("    start = kiln_runtime::kernels::claim_tiles(claims, {tiles}usize, {chunk}usize, host_memory);"),
        format!("    if start >= {tiles}usize {{"),
        "        break;".into(),
        "    }".into(),
        format!("    end = start + {chunk}usize;"),
        format!("    if end > {tiles}usize {{"),
        format!("        end = {tiles}usize;"),
        "    }".into(),
        "}".into(),
    ]);
    lines
}

/// How a product is tiled (see `kiln_kernels::nn_tile` and `nt_tile`).
#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// Vectors of this width along n (b's rows contiguous), or scalar NN; one or two vectors
    /// per tile; rows per tile (see [`Target::nn_tile`]).
    Nn(usize, usize, usize),
    /// Vectors of this width along k (both operands contiguous along k); rows per tile (see
    /// [`Target::nt_rows`]).
    Nt(usize, usize),
}

/// A matrix product `out = a @ b`: sizes, operand layouts and tiling.
struct Product {
    m: usize,
    k: usize,
    n: usize,
    a: Layout,
    b: Layout,
    out: ValueId,
    form: Form,
}

impl Product {
    /// The product `v`: vectorised along n when b's rows are contiguous (NN), else along k when
    /// both operands are contiguous along k (NT), else scalar NN.
    fn new(g: &Graph, s: &Schedule, target: Target, v: ValueId) -> Product {
        let Op::MatMul(a, b) = g.nodes[v].op else { unreachable!("not a product") };
        let (m, k, n) = (g.shape(a).0[0], g.shape(a).0[1], g.shape(b).0[1]);
        let la = s.layouts[a].clone().expect("matmul operand has a buffer");
        let lb = s.layouts[b].clone().expect("matmul operand has a buffer");
        let out = s.layouts[v].as_ref().expect("matmul has a buffer").buffer;
        let widest = |len: usize, strides: &[usize]| {
            [16, 8, 4, 2, 1]
                .into_iter()
                .find(|&w| len.is_multiple_of(w) && strides.iter().all(|s| s.is_multiple_of(w)))
                .unwrap()
        };
        let nn = if lb.strides[1] == 1 { widest(n, &[lb.strides[0]]) } else { 1 };
        // One register per vector (see [`Target::nt_lanes`]).
        let nt = if la.strides[1] == 1 && lb.strides[0] == 1 {
            widest(k, &[la.strides[0], lb.strides[1]]).min(target.nt_lanes())
        } else {
            1
        };
        let form = if nn > 1 || nt == 1 {
            let (vectors, rows) = target.nn_tile(nn, n / nn);
            Form::Nn(nn, vectors, rows)
        } else {
            Form::Nt(nt, target.nt_rows())
        };
        Product { m, k, n, a: la, b: lb, out, form }
    }

    /// Units to launch: one per tile.
    fn work(&self) -> usize {
        self.m.div_ceil(self.rows()) * self.column_tiles()
    }

    /// How the product template sums k in blocks (see [`nn_blocking`]), if it does.
    fn blocking(&self) -> Option<NnBlocking> {
        match self.form {
            Form::Nn(lanes, vectors, rows) => {
                nn_blocking((self.m, self.k, self.n), (rows, vectors, lanes), self.column_tiles())
            }
            Form::Nt(..) => None,
        }
    }

    /// The product template's work items: its blocks' panels by groups of tiles where k is
    /// blocked, else its tiles.
    fn template_work(&self) -> usize {
        match self.blocking() {
            Some(b) => self.m.div_ceil(self.rows()).div_ceil(b.panel) * self.column_tiles().div_ceil(b.group),
            None => self.work(),
        }
    }

    /// Rows per tile.
    fn rows(&self) -> usize {
        let (Form::Nn(.., rows) | Form::Nt(.., rows)) = self.form;
        rows
    }

    /// Tiles across the output's columns.
    fn column_tiles(&self) -> usize {
        match self.form {
            Form::Nn(w, vectors, _) => (self.n / w).div_ceil(vectors),
            Form::Nt(..) => self.n.div_ceil(NT_COLUMNS),
        }
    }

    /// The work items (of `work`) a balanced kernel's unit claims at a time: about
    /// [`CLAIMED_FLOPS`] of work.
    fn claimed_chunk(&self, work: usize) -> usize {
        (CLAIMED_FLOPS * work).div_ceil(2 * self.m * self.n * self.k).max(1)
    }

    /// The library kernel's compile-time arguments.
    fn constants(&self) -> Vec<usize> {
        let (a, b) = (&self.a.strides, &self.b.strides);
        match self.form {
            Form::Nn(w, vectors, rows) => vec![self.m, self.k, self.n, a[0], a[1], b[0], b[1], w, vectors, rows],
            Form::Nt(w, rows) => vec![self.m, self.k, self.n, a[0], b[1], w, rows],
        }
    }
}

/// `out = a @ b` through the library's `matmul_nn` or `matmul_nt`.
pub(super) fn matmul(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId) -> Kernel {
    let p = Product::new(g, s, storage.target(), v);
    let types = vec![
        storage.compute_type(),
        storage.launch_type(p.a.buffer),
        storage.launch_type(p.b.buffer),
        storage.launch_type(p.out),
    ];
    let (function, vector, access) = match p.form {
        Form::Nn(w, ..) => ("matmul_nn", w, [Access::Scalar, Access::Vector, Access::Vector]),
        Form::Nt(w, _) => ("matmul_nt", w, [Access::Vector, Access::Vector, Access::Scalar]),
    };
    let args = [p.a.buffer, p.b.buffer, p.out]
        .into_iter()
        .zip(access)
        .map(|(buffer, access)| Arg { buffer, access })
        .collect();
    Kernel {
        source: None,
        function: format!("kiln_runtime::kernels::{function}"),
        vector,
        work: p.work(),
        args,
        values: vec![v],
        grid: Grid::PerIndex,
        trailing: p.constants().iter().map(usize::to_string).collect(),
        types,
        sequences: vec![],
    }
}

/// A direct convolution or its weight gradient through the library's `conv_forward` or
/// `conv_weight_grad`, [`DIRECT_CONV_LANES`] lanes along the batch.
pub(super) fn direct_conv(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId) -> Kernel {
    let lanes = DIRECT_CONV_LANES;
    let buffer = |u: ValueId| {
        let layout = s.layouts[u].as_ref().expect("a direct convolution's operand has a buffer");
        assert!(layout.is_contiguous(g.shape(u)), "internal: direct convolution of a strided %{u}");
        layout.buffer
    };
    let arg = |u: ValueId, access: Access| Arg { buffer: buffer(u), access };
    let ([c, h, w, n], out) = (g.shape(g.nodes[v].op.operands()[0]).dims(), &g.nodes[v].shape);
    let output = |access: Access| Arg {
        buffer: s.layouts[v].as_ref().expect("a direct convolution has a buffer").buffer,
        access,
    };
    let (function, work, args, comptime) = match g.nodes[v].op {
        Op::DirectConv(x, weight, window) => {
            let [o, oh, ow, _] = out.0[..] else { unreachable!() };
            // Output channels per unit: 6 where they divide, else tiles of 4.
            let rows = if o % 6 == 0 { 6 } else { 4 };
            let comptime = [c, o, h, w, window.k, window.pad, n / lanes, rows]
                .map(|u| u.to_string())
                .into_iter()
                .chain([window.flip.to_string()]);
            let args = vec![arg(x, Access::Vector), arg(weight, Access::Scalar), output(Access::Vector)];
            ("conv_forward", o.div_ceil(rows) * oh * ow * (n / lanes / 2), args, comptime.collect())
        }
        Op::ConvWeightGrad(x, grad, k) => {
            let o = g.shape(grad).0[0];
            let rows = weight_grad_rows(o);
            let comptime = [c, o, h, w, k, n / lanes, rows, lanes].map(|u| u.to_string()).to_vec();
            let args = vec![arg(x, Access::Vector), arg(grad, Access::Vector), output(Access::Scalar)];
            ("conv_weight_grad", o.div_ceil(rows) * c * (k * k).div_ceil(4), args, comptime)
        }
        _ => unreachable!("not a direct convolution"),
    };
    let types = vec![storage.compute_type()];
    Kernel {
        source: None,
        function: format!("kiln_runtime::kernels::{function}"),
        vector: lanes,
        work,
        args,
        values: vec![v],
        grid: Grid::PerIndex,
        trailing: comptime,
        types,
        sequences: vec![],
    }
}

/// Output channels per unit of `conv_weight_grad` for `c_out` channels: 4 where they divide,
/// else 2 (LeNet-5's conv2 0.173-0.183 -> 0.157 ms; conv1, 6 channels, 0.091-0.095 ms with 2
/// or 6 and 0.104-0.110 with 4: `conv_layout 16`).
fn weight_grad_rows(c_out: usize) -> usize {
    if c_out.is_multiple_of(4) {
        4
    } else {
        2
    }
}

impl Expr<'_> {
    /// The product `p` (value `v`) whose tiles run `members`' trees on each element before it
    /// is stored (see [`product_with_epilogue`]); `vector` is the tile's.
    fn epilogue_kernel(
        mut self,
        p: &Product,
        v: ValueId,
        members: &[ValueId],
        row_sums: Option<(ValueId, &[ValueId])>,
        store: bool,
    ) -> Option<Kernel> {
        let strides = self.s.layouts[v].as_ref().expect("product has a buffer").strides.clone();
        self.accumulators.push((p.out, strides, "acc".into(), 0));
        self.linear = true;
        let mut element = match members {
            [] => vec![],
            members => self.group_body(members, &self.shape.clone())?,
        };
        // The template's programs (see `product_template`): the element epilogue, which also
        // stores the product where it is kept, then the row epilogue, which first stores the
        // row's sum.
        if store {
            self.program.acc("acc", 0);
            self.program.store(members.len(), "acc");
        }
        self.program.end_segment(0);
        if row_sums.is_some() {
            self.program.acc(ROW_SUM, 0);
            self.program.store_row(0, ROW_SUM);
        }
        let row_element = match row_sums {
            Some((r, row_members)) if !row_members.is_empty() => self.row_epilogue(r, row_members)?,
            _ => vec![],
        };
        self.program.end_segment(0);
        let rows = row_sums;
        let row_sums = row_sums.map(|(r, _)| r);
        // The product is read from the accumulator only, and the row sums not at all: another
        // unit may not have stored them yet. Nothing reads what the row epilogue writes, as
        // the units that compute a row's sum are not the ones that read its other elements.
        let sums = row_sums.map(|r| self.buffer_of(r));
        let row_writes: Vec<ValueId> = self.scalar_outputs.iter().map(|&m| self.buffer_of(m)).collect();
        if self.args.iter().any(|a| a.buffer == p.out || Some(a.buffer) == sums || row_writes.contains(&a.buffer)) {
            return None;
        }
        if let Some(kernel) = self.product_template(p, v, members, rows, store) {
            return Some(kernel);
        }
        if store {
            element.push(format!("prod[i] = {};", self.storage.narrow(p.out, "acc")));
        }

        let (ea, eb, eo) = (self.storage.elem(p.a.buffer), self.storage.elem(p.b.buffer), self.storage.elem(p.out));
        let (m, k, n) = (p.m, p.k, p.n);
        let (a, b) = (&p.a.strides, &p.b.strides);
        let mut lines = vec![];
        // Each element of the tile: its guard, vector index and accumulator.
        let elements: Vec<(String, String, String)> = match p.form {
            Form::Nn(w, vectors, rows) => {
                let columns = n / w;
                // Tiles in row order: a unit's static share (see `kiln_kernels::balance`) then
                // covers a band of output rows. For a weight gradient with its update, those
                // are the weight rows the unit's share of the forward NT product read (its
                // tiles run down the output's columns, the weight's rows), so each core
                // updates weights its own cache holds.
                let column_tiles = p.column_tiles();
                lines.push(format!("    let row = (pos / {column_tiles}) * {rows};"));
                lines.push(format!("    let col = pos % {column_tiles};"));
                let constants = literals(&[m, k, a[0], a[1], b[0], b[1], w, columns, vectors, rows]);
                lines.push(format!("    let tile = kiln_runtime::kernels::nn_tile::<F, {ea}, {eb}, N>(lhs, rhs, row, col, 0, {constants});"));
                let first = if vectors == 1 { "col".to_string() } else { format!("col * {vectors}") };
                (0..vectors)
                    .flat_map(|j| (0..rows).map(move |t| (j, t)))
                    .map(|(j, t)| {
                        // Rows 0-5 and 6-11 of the first vector, then of the second.
                        let accumulator = ["acc", "bcc", "ccc", "dcc"][2 * j + t / 6];
                        let column = plus(&first, j);
                        // An odd number of vectors leaves the last tile's second vector out.
                        let guard = if j > 0 && columns % vectors != 0 {
                            format!("{} < {m} && {column} < {columns}", plus("row", t))
                        } else {
                            format!("{} < {m}", plus("row", t))
                        };
                        (
                            guard,
                            format!("{} * {columns} + {column}", plus("row", t)),
                            format!("tile.{accumulator}{}", t % 6),
                        )
                    })
                    .collect()
            }
            Form::Nt(lanes, rows) => {
                let row_blocks = m.div_ceil(rows);
                lines.push(format!("    let r0 = (pos % {row_blocks}) * {rows};"));
                lines.push(format!("    let c0 = (pos / {row_blocks}) * {NT_COLUMNS};"));
                let constants = literals(&[m, k, n, a[0], b[1], lanes, rows]);
                lines.push(format!(
                    "    let tile = kiln_runtime::kernels::nt_tile::<F, {ea}, {eb}, K>(lhs, rhs, r0, c0, {constants});"
                ));
                (0..rows)
                    .flat_map(|r| (0..NT_COLUMNS).map(move |c| (r, c)))
                    .map(|(r, c)| {
                        let (row, col) = (plus("r0", r), plus("c0", c));
                        (
                            format!("{row} < {m} && {col} < {n}"),
                            format!("{row} * {n} + {col}"),
                            format!("Vector::<F, N>::new(tile.s{r}{c})"),
                        )
                    })
                    .collect()
            }
        };
        // Each tile element runs the same lines on its own index and accumulator, and each row
        // sum on its own row and sum: written once each, as helpers the kernel calls (CubeCL
        // inlines them, so the JIT sees what it would see written out).
        let (inputs, outputs) = self.params();
        let prod = store.then(|| format!("prod: &mut [Vector<{eo}, N>]"));
        let buffers = [inputs, prod.into_iter().collect(), outputs].concat();
        let (element_helper, element_call) = helper("element", "acc: Vector<F, N>", &buffers, &element);
        let (row_helper, row_call) = helper("row", "sum: F", &buffers, &row_element);
        for (guard, index, acc) in elements.iter().filter(|_| !element.is_empty()) {
            lines.push(format!("    if {guard} {{"));
            lines.push(format!("        {};", element_call(index, acc)));
            lines.push("    }".into());
        }
        if let Some(r) = row_sums {
            // The tiles of the first column sum their rows of `a` over k: scalars in NN form,
            // a sum per row in one pass over k, so the rows' chains of additions overlap;
            // vectors along k (then their lanes) in NT form.
            // The lines that sum tile row `t`, after the prologue.
            type RowSum<'a> = Box<dyn Fn(usize) -> Vec<String> + 'a>;
            let (column, first_row, rows, prologue, row_sum): (_, _, _, Vec<String>, RowSum) = match p.form {
                Form::Nn(_, _, rows) => {
                    let mut prologue: Vec<String> =
                        (0..rows).map(|t| format!("let mut sum{t} = F::new(0.0);")).collect();
                    prologue.push(format!("for q in 0..{k}usize {{"));
                    for t in 0..rows {
                        let row = plus("row", t);
                        let offset = if a[0] == 1 { row.clone() } else { format!("{row} * {}", a[0]) };
                        let load = self.storage.widen_scalar(p.a.buffer, &format!("lhs[{offset} + q * {}]", a[1]));
                        prologue.push(format!("    if {row} < {m} {{"));
                        prologue.push(format!("        sum{t} += {load};"));
                        prologue.push("    }".into());
                    }
                    prologue.push("}".into());
                    ("col", "row", rows, prologue, Box::new(|t| vec![format!("let sum = sum{t};")]))
                }
                Form::Nt(lanes, rows) => {
                    let load = format!("Vector::<F, K>::cast_from(lhs[r * {} + q])", a[0] / lanes);
                    let lines = vec![
                        "let mut lanes = Vector::<F, K>::new(F::new(0.0));".to_string(),
                        format!("for q in 0..{}usize {{", k / lanes),
                        format!("    lanes += {load};"),
                        "}".into(),
                        format!("let sum = kiln_runtime::kernels::lane_sum::<F, K>(lanes, {lanes}usize);"),
                    ];
                    ("c0", "r0", rows, vec![], Box::new(move |_| lines.clone()))
                }
            };
            lines.push(format!("    if {column} == 0 {{"));
            lines.extend(prologue.iter().map(|l| format!("        {l}")));
            for t in 0..rows {
                let row = plus(first_row, t);
                lines.push(format!("        if {row} < {m} {{"));
                lines.push(format!("            let r = {first_row} + {t};"));
                lines.extend(row_sum(t).iter().map(|l| format!("            {l}")));
                lines.push(format!("            sums[r] = {};", self.storage.narrow_scalar(self.buffer_of(r), "sum")));
                if !row_element.is_empty() {
                    lines.push(format!("            {};", row_call("r", "sum")));
                }
                lines.push("        }".into());
            }
            lines.push("    }".into());
        }
        let lines = balanced_tiles(p.work(), p.claimed_chunk(p.work()), lines);

        let operands = match p.form {
            Form::Nn(..) => [format!("lhs: &[{ea}]"), format!("rhs: &[Vector<{eb}, N>]")],
            Form::Nt(..) => [format!("lhs: &[Vector<{ea}, K>]"), format!("rhs: &[Vector<{eb}, K>]")],
        };
        let sums = row_sums.map(|r| format!("sums: &mut [{}]", self.storage.elem(self.buffer_of(r))));
        let balance = ["claims: &[Atomic<u32>]".to_string(), "#[comptime] host_memory: bool".into()];
        let params = [&operands[..], &buffers, sums.as_slice(), &balance].concat();
        let sizes = if matches!(p.form, Form::Nt(..)) { "N: Size, K: Size" } else { "N: Size" };
        let source = format!(
            "{element_helper}{row_helper}#[cube(launch_unchecked)]\nfn {SLOT}<F: Float, {sizes}>({}) {{\n{}\n}}",
            params.join(", "),
            indent(&lines)
        );
        let operand_access = match p.form {
            Form::Nn(..) => [Access::Scalar, Access::Vector],
            Form::Nt(lanes, _) => [Access::Lanes(lanes), Access::Lanes(lanes)],
        };
        let mut args: Vec<Arg> = [p.a.buffer, p.b.buffer]
            .into_iter()
            .zip(operand_access)
            .map(|(buffer, access)| Arg { buffer, access })
            .collect();
        args.extend(self.args.iter().cloned());
        args.extend(store.then_some(Arg { buffer: p.out, access: Access::Vector }));
        args.extend(self.output_args());
        args.extend(row_sums.map(|r| Arg { buffer: self.buffer_of(r), access: Access::Scalar }));
        let values = store.then_some(v).into_iter().chain(self.outputs.iter().copied()).chain(row_sums).collect();
        let trailing = vec!["a.claims()".to_string(), "a.host_memory()".into()];
        Some(Kernel {
            source: Some(source),
            function: SLOT.into(),
            vector: self.vector,
            work: p.work(),
            args,
            values,
            grid: Grid::Balanced,
            trailing,
            types: vec![self.storage.compute_type()],
            sequences: vec![],
        })
    }

    /// The product `p` (value `v`, stored too where `store`) as a launch of the library's
    /// product template (`kiln_kernels::product`), whose tiles run the programs recorded for
    /// the epilogue of `members` and the row epilogue of `row_sums` just emitted (see
    /// [`Recorder`]). `None` where a read has no step, or an input is read other than as
    /// vectors or single values.
    fn product_template(
        &mut self,
        p: &Product,
        v: ValueId,
        members: &[ValueId],
        row_sums: Option<(ValueId, &[ValueId])>,
        store: bool,
    ) -> Option<Kernel> {
        if self.frames.len() > 1 {
            return None;
        }
        // The product templates' epilogues read no labels.
        let mut inputs = self.template_inputs().filter(|inputs| inputs.labels.is_empty())?;
        let (m, k, n, a, b) = (p.m, p.k, p.n, &p.a.strides, &p.b.strides);
        let work = p.template_work();
        let NnBlocking { k_block, panel, group } =
            p.blocking().unwrap_or(NnBlocking { k_block: 0, panel: 0, group: 0 });
        let chunk = p.claimed_chunk(work);
        let (function, operands, tiling) = match p.form {
            Form::Nn(w, vectors, rows) => (
                "product_nn",
                [Access::Scalar, Access::Vector],
                format!(
                    "NnTiling {{ m: {m}, k: {k}, a_row: {}, a_col: {}, b_row: {}, b_col: {}, lanes: {w}, \
                     columns: {}, vectors: {vectors}, rows: {rows}, chunk: {chunk}, k_block: {k_block}, panel: {panel}, group: {group} }}",
                    a[0],
                    a[1],
                    b[0],
                    b[1],
                    n / w
                ),
            ),
            Form::Nt(lanes, rows) => (
                "product_nt",
                [Access::Lanes(lanes), Access::Lanes(lanes)],
                format!(
                    "NtTiling {{ m: {m}, k: {k}, n: {n}, a_row: {}, b_col: {}, lanes: {lanes}, rows: {rows}, \
                     chunk: {chunk} }}",
                    a[0], b[1]
                ),
            ),
        };
        // Recorded outputs: the epilogue's members, then the product; the row sums, then the
        // row epilogue's members (see `Expr::row_epilogue`).
        let recorded = self.output_args();
        let (element_outputs, row_outputs) = recorded.split_at(members.len());
        let product = store.then_some(Arg { buffer: p.out, access: Access::Vector });
        let vector_outputs: Vec<Arg> = element_outputs.iter().cloned().chain(product).collect();
        let sums = row_sums.map(|(r, _)| Arg { buffer: self.buffer_of(r), access: Access::Scalar });
        let row_outputs: Vec<Arg> = sums.into_iter().chain(row_outputs.iter().cloned()).collect();
        inputs.outputs = self.floats_first(0..vector_outputs.len(), |k| vector_outputs[k].buffer);
        inputs.row_outputs = self.floats_first(0..row_outputs.len(), |k| row_outputs[k].buffer);
        let classes = [Class::Vectors, Class::Scalars, Class::Outputs, Class::RowOutputs];
        let (args, sequences) = self.template_args(&inputs, &classes, &vector_outputs, &row_outputs);
        let (r, row_members) = row_sums.map_or((None, &[][..]), |(r, row_members)| (Some(r), row_members));
        let values = members.iter().copied().chain(store.then_some(v)).chain(r).chain(row_members.iter().copied());
        let operands =
            [p.a.buffer, p.b.buffer].into_iter().zip(operands).map(|(buffer, access)| Arg { buffer, access });
        let epilogue = self.program.epilogue(0, &inputs);
        let row_epilogue = self.program.epilogue(1, &inputs);
        let storage = &self.storage;
        Some(Kernel {
            source: None,
            function: format!("Template::{function}"),
            vector: self.vector,
            work,
            args: operands.chain(args).collect(),
            values: values.collect(),
            grid: Grid::Balanced,
            trailing: vec![tiling, epilogue, row_epilogue],
            types: vec![
                storage.compute_type(),
                storage.launch_type(p.a.buffer),
                storage.launch_type(p.b.buffer),
                storage.half_type(),
            ],
            sequences,
        })
    }

    /// The lines computing and storing `members` (pointwise over one shape with as many
    /// elements as row sums `r`) at row `i` from its sum `sum`, or `None` where one is not of
    /// that shape, is not contiguous or reads another output. They run once per row, on
    /// vectors whose lanes all hold the row's element, and store lane 0: a bias's optimizer
    /// update in the kernel that computes its gradient, one launch fewer.
    fn row_epilogue(&mut self, r: ValueId, members: &[ValueId]) -> Option<Vec<String>> {
        let shape = self.g.shape(members[0]).clone();
        let fits = |&m: &ValueId| is_contiguous_pointwise(self.g, self.s, m, &shape);
        if shape.numel() != self.g.shape(r).numel() || !members.iter().all(fits) {
            return None;
        }
        // The sums are contiguous (see `sums_rows_of_lhs`): element `i` is row `i`'s.
        self.accumulators.push((self.buffer_of(r), shape.contiguous_strides(), ROW_SUM.into(), 0));
        self.scalar_outputs = members.to_vec();
        let vector = std::mem::replace(&mut self.vector, 1);
        self.scalar = true;
        let body = self.group_body(members, &shape);
        (self.vector, self.scalar) = (vector, false);
        body
    }
}
