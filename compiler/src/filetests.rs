//! Pass tests from textual IR, as Cranelift's filetests: each `compiler/filetests/*.ir` file
//! holds a graph in the IR's text form ([`Graph::parse`]), the values one entry point returns
//! (`; roots: %9 %12`), optionally `; fuse: off` and `; target: avx2`, and the kernels that
//! scheduling and fusion must make of it (`; check:` lines, one per kernel in launch order):
//! the op of the value a kernel is launched for, that value, and the values it stores, e.g.
//! `; check: matmul %6 stores %9 (balanced)`. A failure prints the kernels made, ready to paste.
//! Sums of paddings are joined and loops stepped first, as the back end does (`lower::joined`,
//! `lower::stepped`); the checks then name the lowered graph's values (a graph without either
//! keeps its numbering), and a kernel a loop launches once per step ends in `each step`.

use crate::ir::Graph;
use crate::kernel::Grid;
use crate::optim::Precision;
use crate::plan::storage::Storage;
use crate::schedule::{self, schedule};
use crate::target::Target;
use std::path::Path;

/// The kernels made of `graph` for `roots`, one line each.
fn kernels(graph: &Graph, roots: &[usize], fuse: bool, target: Target) -> Vec<String> {
    let s = schedule(graph, roots, &[], fuse);
    let storage = Storage::new(Precision::F32, target, []);
    schedule::kernels(graph, &s, &storage, fuse)
        .into_iter()
        .map(|(v, k)| {
            let op = graph.describe(v);
            let op = op.split_once(" = ").map_or("", |(_, body)| body).split(' ').next().unwrap_or("");
            let stores: Vec<String> = k.values.iter().map(|s| format!("%{s}")).collect();
            let grid = match k.grid {
                Grid::PerIndex => "per index",
                Grid::Chunked => "chunked",
                Grid::OneCube => "one cube",
                Grid::Balanced => "balanced",
            };
            let each_step = if s.regions[v].is_some() { " each step" } else { "" };
            format!("{op} %{v} stores {} ({grid}){each_step}", stores.join(" "))
        })
        .collect()
}

/// The `; key: value` directives of a test file.
fn directive<'a>(text: &'a str, key: &str) -> impl Iterator<Item = &'a str> + 'a {
    let prefix = format!("; {key}:");
    text.lines().filter_map(move |line| line.trim().strip_prefix(prefix.as_str()).map(str::trim))
}

fn run(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (joined, first) = crate::lower::joined(&Graph::parse(&text).map_err(|e| e.to_string())?);
    let (graph, second) = crate::lower::stepped(&joined);
    let map: Vec<usize> = first.iter().map(|&v| second[v]).collect();
    let roots: Vec<usize> = directive(&text, "roots")
        .flat_map(|line| line.split_whitespace())
        .map(|r| r.trim_start_matches('%').parse().map(|r: usize| map[r]).map_err(|_| format!("bad root `{r}`")))
        .collect::<Result<_, _>>()?;
    if roots.is_empty() {
        return Err("no `; roots:` line".into());
    }
    let fuse = directive(&text, "fuse").next() != Some("off");
    let target = match directive(&text, "target").next() {
        Some("avx2") => Target::Avx2,
        _ => Target::Avx512,
    };
    let expected: Vec<&str> = directive(&text, "check").collect();
    let actual = kernels(&graph, &roots, fuse, target);
    if actual != expected {
        let made: Vec<String> = actual.iter().map(|k| format!("; check: {k}")).collect();
        return Err(format!("kernels made:\n{}", made.join("\n")));
    }
    Ok(())
}

#[test]
fn filetests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("filetests");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "ir"));
    files.sort();
    assert!(!files.is_empty(), "no filetests in {}", dir.display());
    let failures: Vec<String> =
        files.iter().filter_map(|path| run(path).err().map(|e| format!("{}: {e}", path.display()))).collect();
    assert!(failures.is_empty(), "{} of {} filetests failed:\n{}", failures.len(), files.len(), failures.join("\n\n"));
    println!("{} filetests passed", files.len());
}

/// A check that does not match fails, showing the kernels made.
#[test]
fn a_wrong_check_fails() {
    let path = std::env::temp_dir().join(format!("kiln-filetest-{}.ir", std::process::id()));
    let text = "; roots: %1\n%0 = input \"x\" : [4, 8]\n%1 = exp %0 : [4, 8]\n; check: exp %1 stores %0 (chunked)\n";
    std::fs::write(&path, text).unwrap();
    let err = run(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(err, "kernels made:\n; check: exp %1 stores %1 (chunked)");
}
