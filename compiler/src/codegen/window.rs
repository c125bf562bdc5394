//! Kernels of the two window ops: unfold (im2col, a gather) and fold (col2im, written as a
//! gather too: each output element sums the window taps that land on it, so no atomics).

use super::kernel::{Access, Arg, Kernel};
use super::schedule::Schedule;
use super::storage::Storage;
use crate::ir::{Graph, Op, ValueId, Window};

/// One output element per unit, scalar (`N = 1`).
fn kernel(name: &str, storage: &Storage, source_buffer: ValueId, output: ValueId, work: usize, body: Vec<String>) -> Kernel {
    let (input_type, output_type) = (storage.elem(source_buffer), storage.elem(output));
    let mut lines = vec![
        "#[cube(launch_unchecked)]".to_string(),
        format!("fn {name}<F: Float, N: Size>(in0: &[Vector<{input_type}, N>], out: &mut [Vector<{output_type}, N>]) {{"),
        "    let i = ABSOLUTE_POS;".into(),
        format!("    if i < {work} {{"),
    ];
    lines.extend(body.into_iter().map(|l| format!("        {l}")));
    lines.push("    }".into());
    lines.push("}".into());
    let arg = |buffer| Arg { buffer, access: Access::Vector };
    Kernel {
        source: Some(lines.join("\n")),
        function: name.into(),
        vector: 1,
        work,
        args: vec![arg(source_buffer), arg(output)],
        comptime: vec![],
        types: vec![storage.compute_type()],
    }
}

/// `let name = (i / stride) % size;` for each (name, size) of a row-major shape.
fn decompose(index: &str, axes: &[(&str, usize)]) -> Vec<String> {
    let mut stride = 1;
    let mut lines = vec![];
    for (d, &(name, size)) in axes.iter().enumerate().rev() {
        let divided = if stride == 1 { index.to_string() } else { format!("({index} / {stride})") };
        lines.push(if d == 0 { format!("let {name} = {divided};") } else { format!("let {name} = {divided} % {size};") });
        stride *= size;
    }
    lines.reverse();
    lines
}

/// `a * s + b * t + ...` over the terms with a non-zero stride.
fn offset(terms: &[(&str, usize)]) -> String {
    let parts: Vec<String> = terms
        .iter()
        .filter(|(_, stride)| *stride != 0)
        .map(|&(coord, stride)| if stride == 1 { coord.to_string() } else { format!("{coord} * {stride}") })
        .collect();
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(" + ")
    }
}

fn literal(value: f64) -> String {
    if value == f64::NEG_INFINITY {
        "Vector::<F, N>::min_value()".into()
    } else {
        super::kernel::splat(value)
    }
}

/// `lo <= coord < hi` as a condition, leaving out a bound of 0.
fn within(coord: &str, lo: usize, hi: usize) -> String {
    if lo == 0 {
        format!("{coord} < {hi}")
    } else {
        format!("{coord} >= {lo} && {coord} < {hi}")
    }
}

/// The unfold `v`: each unit reads one window tap or the pad value.
pub fn unfold(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId, name: &str) -> Kernel {
    let Op::Unfold(a, w, pad) = g.nodes[v].op else { unreachable!() };
    let [_, c, h, wd] = g.shape(a).0[..] else { unreachable!() };
    let [_, oh, ow, _, kh, kw] = g.shape(v).0[..] else { unreachable!() };
    let source = s.layouts[a].as_ref().expect("unfold input has a buffer");
    let st = &source.strides;
    let mut body = decompose("i", &[("n", 0), ("oh", oh), ("ow", ow), ("c", c), ("kh", kh), ("kw", kw)]);
    let Window { stride, dilation, padding, .. } = w;
    body.push(format!("let y = {};", offset(&[("oh", stride[0]), ("kh", dilation[0])])));
    body.push(format!("let x = {};", offset(&[("ow", stride[1]), ("kw", dilation[1])])));
    let read = offset(&[("n", st[0]), ("c", st[1]), ("(y - pt)", st[2]), ("(x - pl)", st[3])]);
    let read = read.replace("pt", &padding[0][0].to_string()).replace("pl", &padding[1][0].to_string());
    let output = s.layouts[v].as_ref().unwrap().buffer;
    let tap = storage.widen(source.buffer, &format!("in0[{read}]"));
    let padded = padding.iter().any(|p| p[0] + p[1] > 0);
    if padded {
        body.push(format!("let mut value = {};", literal(pad)));
        let inside = format!(
            "{} && {}",
            within("y", padding[0][0], padding[0][0] + h),
            within("x", padding[1][0], padding[1][0] + wd)
        );
        body.push(format!("if {inside} {{"));
        body.push(format!("    value = {tap};"));
        body.push("}".into());
        body.push(format!("out[i] = {};", storage.narrow(output, "value")));
    } else {
        body.push(format!("out[i] = {};", storage.narrow(output, &tap)));
    }
    kernel(name, storage, source.buffer, output, g.shape(v).numel(), body)
}

/// The fold `v`: each unit sums the window taps that read its input element.
pub fn fold(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId, name: &str) -> Kernel {
    let Op::Fold(a, w) = g.nodes[v].op else { unreachable!() };
    let [_, c, h, wd] = g.shape(v).0[..] else { unreachable!() };
    let [_, oh, ow, _, kh, kw] = g.shape(a).0[..] else { unreachable!() };
    let source = s.layouts[a].as_ref().expect("fold input has a buffer");
    let st = &source.strides;
    let Window { stride, dilation, padding, .. } = w;
    let mut body = decompose("i", &[("n", 0), ("c", c), ("y", h), ("x", wd)]);
    body.push(format!("let py = y + {};", padding[0][0]));
    body.push(format!("let px = x + {};", padding[1][0]));
    body.push(format!("let mut acc = {};", literal(0.0)));
    // Tap (kh, kw) of position (oh, ow) reads (py, px) when py = oh * sh + kh * dh.
    let position = |p: &str, k: &str, s: usize, d: usize, bound: usize| {
        let t = if d == 1 { format!("{p} - {k}") } else { format!("{p} - {k} * {d}") };
        let guard = if d == 1 { format!("{p} >= {k}") } else { format!("{p} >= {k} * {d}") };
        let (divisible, pos) =
            if s == 1 { (String::new(), t.clone()) } else { (format!(" && ({t}) % {s} == 0"), format!("({t}) / {s}")) };
        (format!("{guard}{divisible}"), pos, bound)
    };
    let (guard_y, pos_y, _) = position("py", "kh", stride[0], dilation[0], oh);
    let (guard_x, pos_x, _) = position("px", "kw", stride[1], dilation[1], ow);
    body.push(format!("for kh in 0..{kh}usize {{"));
    body.push(format!("    if {guard_y} {{"));
    body.push(format!("        let oh = {pos_y};"));
    body.push(format!("        if oh < {oh} {{"));
    body.push(format!("            for kw in 0..{kw}usize {{"));
    body.push(format!("                if {guard_x} {{"));
    body.push(format!("                    let ow = {pos_x};"));
    body.push(format!("                    if ow < {ow} {{"));
    let read = offset(&[("n", st[0]), ("oh", st[1]), ("ow", st[2]), ("c", st[3]), ("kh", st[4]), ("kw", st[5])]);
    body.push(format!("                        acc += {};", storage.widen(source.buffer, &format!("in0[{read}]"))));
    body.extend(["                    }", "                }", "            }", "        }", "    }", "}"].map(String::from));
    let output = s.layouts[v].as_ref().unwrap().buffer;
    body.push(format!("out[i] = {};", storage.narrow(output, "acc")));
    kernel(name, storage, source.buffer, output, g.shape(v).numel(), body)
}
