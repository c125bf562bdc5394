//! Kernels of the two window ops: unfold (im2col, a gather) and fold (col2im, written as a
//! gather too: each output element sums the window taps that land on it, so no atomics).

use super::{Access, Arg, Kernel};
use crate::ir::{Graph, Op, ValueId, Window};
use crate::plan::storage::Storage;
use crate::schedule::Schedule;

/// `let name = (i / stride) % size;` for each (name, size) of a row-major shape.
fn decompose(index: &str, axes: &[(&str, usize)]) -> Vec<String> {
    let mut stride = 1;
    let mut lines = vec![];
    for (d, &(name, size)) in axes.iter().enumerate().rev() {
        let divided = if stride == 1 { index.to_string() } else { format!("({index} / {stride})") };
        lines.push(if d == 0 {
            format!("let {name} = {divided};")
        } else {
            format!("let {name} = {divided} % {size};")
        });
        stride *= size;
    }
    lines.reverse();
    lines
}

fn literal(value: f64) -> String {
    if value == f64::NEG_INFINITY {
        "Vector::<F, N>::min_value()".into()
    } else {
        super::splat(value)
    }
}

/// The unfold `v`: each unit fills the taps of one window offset `(kh, kw)` of one channel of
/// one image at every position `(oh, ow)`, where the output stores those together (a
/// convolution's columns) and nothing is padded; otherwise one row of positions along `ow`,
/// with the pad value outside the input. Units walk the other axes in storage order, so
/// neighbouring units write neighbouring rows. A unit's coordinates cost a division and a
/// modulo each, paid once per image of taps: LeNet-5's conv2 unfold `%18` 0.28 -> 0.19 ms
/// (`KILN_PROFILE=20`).
pub fn unfold(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId) -> Kernel {
    let Op::Unfold(a, w, pad) = g.nodes[v].op else { unreachable!() };
    let [_, c, h, wd] = g.shape(a).0[..] else { unreachable!() };
    let [n, oh, ow, _, kh, kw] = g.shape(v).0[..] else { unreachable!() };
    let source = s.layouts[a].as_ref().expect("unfold input has a buffer");
    let output = s.layouts[v].as_ref().expect("unfold has a buffer");
    let (st, os) = (&source.strides, &output.strides);
    let Window { stride, dilation, padding, .. } = w;
    let padded = padding.iter().any(|p| p[0] + p[1] > 0);
    // Padded, the planes ran 3-5x slower than rows (LeNet-5's `%3`: 0.27 -> 0.80-1.25 ms), and
    // so did rows as three loops with bounds computed per row, pad, copy, pad (0.28 -> 0.79 ms):
    // the CPU runtime's loops with run-time bounds cost more than a test per tap.
    // Stored batch innermost (a copy into direct convolution's layout), each unit walks the
    // batch inside its row, so its writes are contiguous rather than `n` apart.
    let batch_inner = os[0] == 1 && n > 1;
    let planes = os[1] == ow * os[2] && !padded && !batch_inner;
    let mut units = vec![("c", c, os[3]), ("kh", kh, os[4]), ("kw", kw, os[5])];
    if !batch_inner {
        units.push(("n", n, os[0]));
    }
    if !planes {
        units.push(("oh", oh, os[1]));
    }
    units.sort_by_key(|&(_, _, stride)| std::cmp::Reverse(stride));
    let work = units.iter().map(|&(_, size, _)| size).product();
    let [pt, pl] = [padding[0][0], padding[1][0]];
    let units: Vec<String> =
        units.iter().map(|(coord, size, stride)| format!("({}, {size}, {stride})", coordinate(coord))).collect();
    let layout = format!(
        "UnfoldLayout {{ units: &[{}], planes: {planes}, batch_inner: {batch_inner}, n: {n}, oh: {oh}, ow: {ow}, \
         h: {h}, w: {wd}, stride: {stride:?}, dilation: {dilation:?}, top: {pt}, left: {pl}, padded: {padded}, \
         pad: {}, source: {st:?}, out: {:?} }}",
        units.join(", "),
        (pad as f32).to_bits(),
        &os[..3]
    );
    template(storage, v, source.buffer, output.buffer, work, layout)
}

/// The library's unfold template.
pub const UNFOLD: &str = "kiln_runtime::kernels::unfold";

/// The launch of the library's unfold template (`kiln_kernels::window`) with `layout`.
fn template(storage: &Storage, v: ValueId, source: ValueId, output: ValueId, work: usize, layout: String) -> Kernel {
    let arg = |buffer| Arg { buffer, access: Access::Vector };
    Kernel {
        source: None,
        function: UNFOLD.into(),
        vector: 1,
        work,
        args: vec![arg(source), arg(output)],
        values: vec![v],
        grid: super::Grid::Chunked,
        trailing: vec![layout],
        types: vec![storage.launch_type(source), storage.launch_type(output)],
        sequences: vec![],
    }
}

/// The `kiln_kernels::window::Coord` of an unfold's unit coordinate.
fn coordinate(name: &str) -> &'static str {
    match name {
        "n" => "Coord::N",
        "oh" => "Coord::Oh",
        "c" => "Coord::C",
        "kh" => "Coord::Kh",
        _ => "Coord::Kw",
    }
}

/// `lines` indented four spaces per open block (a line ending in `{` opens, `}` closes).
fn indent_blocks(lines: Vec<String>) -> Vec<String> {
    let mut depth = 0;
    lines
        .into_iter()
        .map(|line| {
            depth -= usize::from(line.starts_with('}'));
            let indented = format!("{}{line}", "    ".repeat(depth));
            depth += usize::from(line.ends_with('{'));
            indented
        })
        .collect()
}

/// The loop over the taps `k` (of `size`) that can read padded coordinate `p` at `stride` and
/// `dilation`: its opening lines, the guard of a tap, and the window position it belongs to.
/// Without dilation, only taps with `k ≡ p (mod stride)` are visited.
fn taps(p: &str, k: &str, size: usize, stride: usize, dilation: usize) -> (Vec<String>, String, String) {
    match (stride, dilation) {
        (1, 1) => (vec![format!("for {k} in 0..{size}usize {{")], format!("{p} >= {k}"), format!("{p} - {k}")),
        (s, 1) => (
            vec![format!("for j{k} in 0..{}usize {{", size.div_ceil(s)), format!("let {k} = {p} % {s} + j{k} * {s};")],
            format!("{k} < {size} && {p} >= {k}"),
            format!("({p} - {k}) / {s}"),
        ),
        (s, d) => (
            vec![format!("for {k} in 0..{size}usize {{")],
            format!("{p} >= {k} * {d} && ({p} - {k} * {d}) % {s} == 0"),
            format!("({p} - {k} * {d}) / {s}"),
        ),
    }
}

/// The fold `v`'s output extents `[n, c, h, w]`, its windows' and taps' `[oh, ow, kh, kw]`,
/// and its window.
fn fold_geometry(g: &Graph, v: ValueId) -> ([usize; 4], [usize; 4], Window) {
    let Op::Fold(a, w) = g.nodes[v].op else { unreachable!() };
    let [n, c, h, wd] = g.shape(v).0[..] else { unreachable!() };
    let [_, oh, ow, _, kh, kw] = g.shape(a).0[..] else { unreachable!() };
    ([n, c, h, wd], [oh, ow, kh, kw], w)
}

/// The fold `v`'s `kiln_kernels::window::FoldLayout` constant, its tap the loop `tap`.
pub fn fold_layout(g: &Graph, v: ValueId, tap: &str) -> String {
    let ([n, c, h, wd], [oh, ow, kh, kw], Window { stride, dilation, padding, .. }) = fold_geometry(g, v);
    format!(
        "FoldLayout {{ n: {n}, c: {c}, h: {h}, w: {wd}, oh: {oh}, ow: {ow}, kh: {kh}, kw: {kw}, stride: {stride:?}, \
         dilation: {dilation:?}, top: {}, left: {}, tap: {tap} }}",
        padding[0][0], padding[1][0]
    )
}

/// The body of the fold `v`'s kernel and its unit count. Each unit fills one row of the output
/// along `x`: every element sums the window taps that land on it. `tap` is the lines that
/// compute the fold's input at coordinates `c0..c5` (n, oh, ow, c, kh, kw), then its name
/// (pointwise producers run inside the loop); `store` writes the sum.
pub fn fold_body(g: &Graph, v: ValueId, tap: (Vec<String>, String), store: &str) -> (Vec<String>, usize) {
    let ([n, c, h, wd], [oh, ow, kh, kw], Window { stride, dilation, padding, .. }) = fold_geometry(g, v);
    let mut nest = decompose("i", &[("n", 0), ("c", c), ("y", h)]);
    nest.push(format!("let py = y + {};", padding[0][0]));
    nest.push(format!("for x in 0..{wd}usize {{"));
    nest.push(format!("let px = x + {};", padding[1][0]));
    nest.push(format!("let mut acc = {};", literal(0.0)));
    // Tap (kh, kw) of position (oh, ow) reads (py, px) when py = oh * sh + kh * dh.
    let (y_taps, y_guard, y_position) = taps("py", "kh", kh, stride[0], dilation[0]);
    let (x_taps, x_guard, x_position) = taps("px", "kw", kw, stride[1], dilation[1]);
    let opened = nest.len();
    nest.extend(y_taps);
    nest.extend([format!("if {y_guard} {{"), format!("let oh = {y_position};"), format!("if oh < {oh} {{")]);
    nest.extend(x_taps);
    nest.extend([format!("if {x_guard} {{"), format!("let ow = {x_position};"), format!("if ow < {ow} {{")]);
    let depth = nest[opened..].iter().filter(|l| l.ends_with('{')).count();
    nest.extend(
        ["let c0 = n;", "let c1 = oh;", "let c2 = ow;", "let c3 = c;", "let c4 = kh;", "let c5 = kw;"]
            .map(String::from),
    );
    nest.extend(tap.0);
    nest.push(format!("acc += {};", tap.1));
    nest.extend(std::iter::repeat_n("}".to_string(), depth));
    nest.push(format!("out[i * {wd} + x] = {store};"));
    nest.push("}".into());
    (indent_blocks(nest), n * c * h)
}
