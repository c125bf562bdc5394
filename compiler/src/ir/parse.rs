//! The IR's text form read back: the lines [`Graph`]'s `Display` prints,
//! `%12 = add %10, %11 : [64, 256]  # 1.linear`, one node per line in value order. Pass tests
//! start from a few such lines, as Cranelift's filetests do, instead of a DSL model. Blank lines
//! and lines starting with `;` are skipped; the `# origin` is optional. The graph is verified
//! ([`super::verify`]) before it is returned.

use super::{BinaryOp, Carry, DirectWindow, Graph, Init, Loop, Node, Op, ReduceOp, Shape, UnaryOp, ValueId, Window};

/// A line of IR text that does not parse or breaks an IR rule.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    /// Line number, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Graph {
    /// Reads a graph from its text form (see the module docs).
    pub fn parse(text: &str) -> Result<Graph, ParseError> {
        let lines: Vec<Line> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim().starts_with(';'))
            .map(|(number, line)| Line {
                number: number + 1,
                indent: line.len() - line.trim_start().len(),
                text: line.trim(),
            })
            .collect();
        let mut at = 0;
        let (graph, numbers) = block(&lines, &mut at, lines.first().map_or(0, |l| l.indent))?;
        if let Some(line) = lines.get(at) {
            return Err(ParseError { line: line.number, message: "indented less than the lines before it".into() });
        }
        super::verify(&graph).map_err(|v| ParseError { line: numbers[v.value], message: v.message })?;
        Ok(graph)
    }
}

/// A line of text that is not blank or a comment.
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// The nodes of the lines from `at` on at `indent`, each loop followed by its body indented
/// further; returns the graph and each node's line number, leaving `at` past the block.
fn block(lines: &[Line], at: &mut usize, indent: usize) -> Result<(Graph, Vec<usize>), ParseError> {
    let mut graph = Graph::default();
    let mut numbers = vec![];
    while let Some(line) = lines.get(*at).filter(|l| l.indent == indent) {
        let error = |message: String| ParseError { line: line.number, message };
        let mut node = node(line.text, graph.nodes.len()).map_err(error)?;
        *at += 1;
        if let Op::Loop(l) = &mut node.op {
            match lines.get(*at).filter(|next| next.indent > indent) {
                Some(next) => l.body = block(lines, at, next.indent)?.0,
                None => return Err(error("a loop's body follows it, indented".into())),
            }
        }
        graph.nodes.push(node);
        numbers.push(line.number);
    }
    if let Some(line) = lines.get(*at).filter(|l| l.indent > indent) {
        return Err(ParseError { line: line.number, message: "indented, but not the body of a loop".into() });
    }
    Ok((graph, numbers))
}

/// One line: `%{expected} = body : shape  # origin`.
fn node(line: &str, expected: ValueId) -> Result<Node, String> {
    let (line, origin) = match line.split_once('#') {
        Some((line, origin)) => (line.trim(), origin.trim().to_string()),
        None => (line, String::new()),
    };
    let (lhs, rest) = line.split_once('=').ok_or("expected `%N = op ... : [shape]`")?;
    let value = value(lhs.trim())?;
    if value != expected {
        return Err(format!("%{value} where the next value is %{expected}: number values in order from %0"));
    }
    let (body, shape) = rest.rsplit_once(':').ok_or("expected `: [shape]` after the op")?;
    let shape = Shape(list(shape.trim())?);
    let mut words = Words(body.trim());
    let name = words.word();
    let op = op(name, &mut words)?;
    if !words.0.trim().is_empty() {
        return Err(format!("unexpected `{}` after `{name}`", words.0.trim()));
    }
    for a in op.operands() {
        if a >= value {
            return Err(format!("operand %{a} is not defined before %{value}"));
        }
    }
    Ok(Node { op, shape, origin })
}

/// The op `name` with its operands and attributes, read from `words`.
fn op(name: &str, words: &mut Words) -> Result<Op, String> {
    if let Some(op) = unary_op(name) {
        return Ok(Op::Unary(op, value(words.word())?));
    }
    if let Some(op) = binary_op(name) {
        let [a, b] = words.values()?;
        return Ok(Op::Binary(op, a, b));
    }
    Ok(match name {
        "input" => Op::Input { name: words.quoted()? },
        "labels" => Op::Labels { name: words.quoted()?, classes: words.attribute("classes")?.parse().map_err(bad)? },
        "param" => {
            let name = words.quoted()?;
            let text = words.0.trim_start().strip_prefix("init=").ok_or("expected `init=`")?;
            words.0 = "";
            Op::Param { name, init: init(text.trim())? }
        }
        "const" => Op::Const(words.word().parse().map_err(bad)?),
        "reduce_sum" | "reduce_max" => {
            let op = if name == "reduce_sum" { ReduceOp::Sum } else { ReduceOp::Max };
            Op::Reduce(op, value(words.word())?, list(words.attribute("axes")?)?)
        }
        "concat" => {
            let mut parts = vec![];
            while words.0.trim_start().trim_start_matches(',').trim_start().starts_with('%') {
                parts.push(value(words.word())?);
            }
            Op::Concat(parts, words.attribute("axis")?.parse().map_err(bad)?)
        }
        "matmul" => {
            let [a, b] = words.values()?;
            Op::MatMul(a, b)
        }
        "reshape" => Op::Reshape(value(words.word())?),
        "permute" => Op::Permute(value(words.word())?, list(words.attribute("perm")?)?),
        "expand" => Op::Expand(value(words.word())?),
        "one_hot" => Op::OneHot(value(words.word())?),
        "gather" => {
            let [table, ids] = words.values()?;
            Op::Gather(table, ids, padding(words)?)
        }
        "scatter_add" => {
            let [rows, ids] = words.values()?;
            Op::ScatterAdd(rows, ids, padding(words)?)
        }
        "pick" => {
            let [x, labels] = words.values()?;
            Op::Pick(x, labels)
        }
        "iota" => Op::Iota(words.attribute("axis")?.parse().map_err(bad)?),
        "detach" => Op::Detach(value(words.word())?),
        "unfold" => {
            let a = value(words.word())?;
            let window = window(words)?;
            Op::Unfold(a, window, words.attribute("pad")?.parse().map_err(bad)?)
        }
        "fold" => Op::Fold(value(words.word())?, window(words)?),
        "direct_conv" => {
            let [a, b] = words.values()?;
            let k = words.attribute("k")?.parse().map_err(bad)?;
            let pad = words.attribute("pad")?.parse().map_err(bad)?;
            let flip = words.attribute("flip")?.parse().map_err(bad)?;
            Op::DirectConv(a, b, DirectWindow { k, pad, flip })
        }
        "conv_weight_grad" => {
            let [a, b] = words.values()?;
            Op::ConvWeightGrad(a, b, words.attribute("k")?.parse().map_err(bad)?)
        }
        "mode" => Op::Mode { train: value(words.attribute("train")?)?, eval: value(words.attribute("eval")?)? },
        "select" => {
            let [cond, then, otherwise] = words.values()?;
            Op::Select { cond, then, otherwise }
        }
        "loop" => Op::Loop(Box::new(looped(words)?)),
        "loop_output" => {
            let l = value(words.word())?;
            Op::LoopOutput(l, words.word().parse().map_err(bad)?)
        }
        other => return Err(format!("unknown op `{other}`")),
    })
}

/// `steps=N [reverse] [trips=%t] carries=[%i as %b -> %n, ..] slices=[%s as %b, ..]
/// invariants=[%v as %b, ..] ys=[%y, ..]`, with an empty body (its lines follow).
fn looped(words: &mut Words) -> Result<Loop, String> {
    let steps = words.attribute("steps")?.parse().map_err(bad)?;
    let reverse = words.0.trim_start().starts_with("reverse ");
    if reverse {
        words.word();
    }
    let trips = match words.0.trim_start().starts_with("trips=") {
        true => Some(value(words.attribute("trips")?)?),
        false => None,
    };
    let items = |text: &str| -> Result<Vec<Vec<ValueId>>, String> {
        let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or("expected [..]")?;
        let item = |item: &str| item.split(['a', 's', '-', '>']).filter(|w| !w.trim().is_empty()).map(value).collect();
        inner.split(',').filter(|item| !item.trim().is_empty()).map(item).collect()
    };
    let pairs = |text: &str| -> Result<Vec<(ValueId, ValueId)>, String> {
        items(text)?
            .into_iter()
            .map(|ids| ids[..].try_into().map(|[a, b]: [ValueId; 2]| (a, b)))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("expected `%outer as %input`, got `{text}`"))
    };
    let carries = items(words.attribute("carries")?)?
        .into_iter()
        .map(|ids| match ids[..] {
            [init, input, next] => Ok(Carry { init, input, next }),
            _ => Err("expected `%init as %input -> %next`".to_string()),
        })
        .collect::<Result<_, _>>()?;
    let slices = pairs(words.attribute("slices")?)?;
    let invariants = pairs(words.attribute("invariants")?)?;
    let ys = items(words.attribute("ys")?)?.concat();
    Ok(Loop { steps, reverse, body: Graph::default(), carries, slices, invariants, ys, trips })
}

fn unary_op(name: &str) -> Option<UnaryOp> {
    use UnaryOp::*;
    [Neg, Exp, Log, Sqrt, Recip, Abs, Sign, Relu, Tanh, Sigmoid, Erf]
        .into_iter()
        .find(|op| format!("{op:?}").to_lowercase() == name)
}

fn binary_op(name: &str) -> Option<BinaryOp> {
    use BinaryOp::*;
    [Add, Sub, Mul, Div, Pow, Max, Min, Greater, Equal].into_iter().find(|op| format!("{op:?}").to_lowercase() == name)
}

fn bad(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `%12`.
fn value(text: &str) -> Result<ValueId, String> {
    let digits = text.trim().strip_prefix('%').ok_or_else(|| format!("expected a value like %3, got `{text}`"))?;
    digits.parse().map_err(|_| format!("expected a value like %3, got `{text}`"))
}

/// `[1, 2, 3]` (or `[]`).
fn list(text: &str) -> Result<Vec<usize>, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("expected [..], got `{text}`"))?;
    inner.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| t.parse().map_err(bad)).collect()
}

/// `[a, b]`.
fn pair(text: &str) -> Result<[usize; 2], String> {
    list(text)?.try_into().map_err(|_| format!("expected two numbers, got `{text}`"))
}

/// `kernel=[..] stride=[..] dilation=[..] padding=[[..], [..]]`.
fn window(words: &mut Words) -> Result<Window, String> {
    let kernel = pair(words.attribute("kernel")?)?;
    let stride = pair(words.attribute("stride")?)?;
    let dilation = pair(words.attribute("dilation")?)?;
    let padding = words.attribute("padding")?;
    let rows = padding.strip_prefix('[').and_then(|p| p.strip_suffix(']')).ok_or("padding=[[..], [..]]")?;
    let (top, left) = rows.split_once("],").ok_or("padding=[[..], [..]]")?;
    let padding = [pair(&format!("{top}]"))?, pair(left.trim())?];
    Ok(Window { kernel, stride, dilation, padding })
}

/// The padding id of a gather or scatter (` padding=0`), if it has one.
fn padding(words: &mut Words) -> Result<Option<usize>, String> {
    match words.0.trim_start().starts_with("padding=") {
        true => Ok(Some(words.attribute("padding")?.parse().map_err(bad)?)),
        false => Ok(None),
    }
}

/// `Uniform { low: a, high: b }`, `Normal { mean: m, std: s }`,
/// `NormalZeroRow { mean: m, std: s, row: r, width: w }` or `Constant(c)`.
fn init(text: &str) -> Result<Init, String> {
    let number = |field: &str| -> Result<f64, String> {
        let start = text.find(&format!("{field}:")).ok_or_else(|| format!("init lacks `{field}`"))? + field.len() + 1;
        let rest = &text[start..];
        let end = rest.find([',', '}']).ok_or("unterminated init")?;
        rest[..end].trim().parse().map_err(bad)
    };
    if text.starts_with("Uniform") {
        Ok(Init::Uniform { low: number("low")?, high: number("high")? })
    } else if text.starts_with("NormalZeroRow") {
        let (mean, std) = (number("mean")?, number("std")?);
        Ok(Init::NormalZeroRow { mean, std, row: number("row")? as usize, width: number("width")? as usize })
    } else if text.starts_with("Normal") {
        Ok(Init::Normal { mean: number("mean")?, std: number("std")? })
    } else if let Some(c) = text.strip_prefix("Constant(").and_then(|t| t.strip_suffix(')')) {
        Ok(Init::Constant(c.parse().map_err(bad)?))
    } else {
        Err(format!("unknown init `{text}`"))
    }
}

/// The rest of a line's body, consumed from the left.
struct Words<'a>(&'a str);

impl<'a> Words<'a> {
    /// The next word (up to a space or comma).
    fn word(&mut self) -> &'a str {
        let text = self.0.trim_start().trim_start_matches(',').trim_start();
        let end = text.find([' ', ',']).unwrap_or(text.len());
        self.0 = &text[end..];
        &text[..end]
    }

    /// The next `N` comma-separated values.
    fn values<const N: usize>(&mut self) -> Result<[ValueId; N], String> {
        let mut out = [0; N];
        for slot in &mut out {
            *slot = value(self.word())?;
        }
        Ok(out)
    }

    /// A `"quoted"` name (no escapes).
    fn quoted(&mut self) -> Result<String, String> {
        let text = self.0.trim_start();
        let rest = text.strip_prefix('"').ok_or("expected a \"name\"")?;
        let end = rest.find('"').ok_or("unterminated \"name\"")?;
        self.0 = &rest[end + 1..];
        Ok(rest[..end].to_string())
    }

    /// `key=value`, where a value may hold brackets, braces and the spaces inside them.
    fn attribute(&mut self, key: &str) -> Result<&'a str, String> {
        let text = self.0.trim_start();
        let rest =
            text.strip_prefix(key).and_then(|t| t.strip_prefix('=')).ok_or_else(|| format!("expected `{key}=`"))?;
        let mut depth = 0i32;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '[' | '{' | '(' => depth += 1,
                    ']' | '}' | ')' => depth -= 1,
                    _ => {}
                }
                depth == 0 && c == ' '
            })
            .map_or(rest.len(), |(i, _)| i);
        self.0 = &rest[end..];
        Ok(&rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_reads_back_as_printed() {
        let text = r#"
            ; a comment, then every op the printer writes
            %0 = input "x" : [2, 1, 4, 4]  # x
            %1 = labels "y" classes=3 : [2]  # y
            %2 = param "0.weight" init=Uniform { low: -0.5, high: 0.5 } : [3, 16]  # 0.linear
            %3 = param "0.bias" init=Normal { mean: 0.0, std: 1.0 } : [3]
            %4 = param "s" init=Constant(1.0) : [3]
            %5 = const -inf : [1, 1]
            %6 = reshape %0 : [2, 16]
            %7 = permute %2 perm=[1, 0] : [16, 3]
            %8 = matmul %6, %7 : [2, 3]
            %9 = relu %8 : [2, 3]
            %10 = max %9, %5 : [2, 3]
            %11 = reduce_sum %10 axes=[1] : [2, 1]
            %12 = one_hot %1 : [2, 3]
            %13 = iota axis=1 : [2, 3]
            %14 = detach %11 : [2, 1]
            %15 = select %12, %13, %10 : [2, 3]
            %16 = unfold %0 kernel=[2, 2] stride=[2, 2] dilation=[1, 1] padding=[[0, 0], [0, 0]] pad=0 : [2, 2, 2, 1, 2, 2]
            %17 = fold %16 kernel=[2, 2] stride=[2, 2] dilation=[1, 1] padding=[[0, 0], [0, 0]] : [2, 1, 4, 4]
            %18 = mode train=%9 eval=%10 : [2, 3]
        "#;
        let graph = Graph::parse(text).unwrap();
        assert_eq!(graph.nodes.len(), 19);
        assert_eq!(graph.nodes[2].origin, "0.linear");
        assert_eq!(Graph::parse(&graph.to_string()).unwrap(), graph);
    }

    #[test]
    fn a_loop_reads_back_with_its_body() {
        let text = r#"
            %0 = input "h0" : [2, 3]
            %1 = input "xs" : [5, 2, 3]
            %2 = loop steps=5 reverse carries=[%0 as %0 -> %2] slices=[%1 as %1] invariants=[] ys=[%2] : [0]  # rnn
              %0 = input "h" : [2, 3]
              %1 = input "x" : [2, 3]
              %2 = add %0, %1 : [2, 3]
            %3 = loop_output %2, 0 : [2, 3]
            %4 = loop_output %2, 1 : [5, 2, 3]
        "#;
        let graph = Graph::parse(text).unwrap();
        let Op::Loop(l) = &graph.nodes[2].op else { panic!("a loop") };
        assert_eq!((l.steps, l.reverse, l.body.nodes.len(), &l.ys[..]), (5, true, 3, &[2][..]));
        assert_eq!(l.carries, [Carry { init: 0, input: 0, next: 2 }]);
        assert_eq!(Graph::parse(&graph.to_string()).unwrap(), graph);

        let no_body = "%0 = input \"h0\" : [2, 3]\n%1 = loop steps=1 carries=[] slices=[] invariants=[] ys=[] : [0]";
        assert_eq!(Graph::parse(no_body).unwrap_err().line, 2);
        let stray = "%0 = input \"h0\" : [2, 3]\n  %1 = relu %0 : [2, 3]";
        assert!(Graph::parse(stray).unwrap_err().message.contains("not the body of a loop"));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        let cases = [
            ("%0 = input \"x\" : [2, 3]\n%2 = relu %0 : [2, 3]", 2, "%2 where the next value is %1"),
            ("%0 = input \"x\" : [2, 3]\n%1 = relu %1 : [2, 3]", 2, "operand %1 is not defined before %1"),
            ("%0 = input \"x\" : [2, 3]\n%1 = frobnicate %0 : [2, 3]", 2, "unknown op `frobnicate`"),
            ("%0 = input \"x\" : [2, 3]\n%1 = relu %0 : [2, 4]", 2, "relu"),
            ("%0 = input \"x\" [2, 3]", 1, "expected `: [shape]`"),
            ("%0 = reduce_sum %0 axes=[1] : [2]", 1, "not defined"),
        ];
        for (text, line, message) in cases {
            let err = Graph::parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
        }
    }
}
