//! Every file reader against a table of malformed files: truncated, oversized, wrong-dtype,
//! wrong-shape and garbage. Each must return an error naming the file and the reason (never
//! panic). The fuzz targets in `fuzz/` explore the same readers with random bytes.

use crate::checkpoint;
use crate::data::{read_idx, Dataset};
use crate::images::{cifar10, image_folder};
use safetensors::tensor::{Dtype, TensorView};
use std::path::{Path, PathBuf};

fn idx(magic_type: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, magic_type, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(data);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(vec![], flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(vec![]);
    image::RgbImage::from_pixel(width, height, image::Rgb([9, 99, 199]))
        .write_to(&mut out, image::ImageOutputFormat::Png)
        .unwrap();
    out.into_inner()
}

/// A PNG whose header claims `width` x `height` pixels, followed by a few bytes of data.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut bytes = (data.len() as u32).to_be_bytes().to_vec();
        bytes.extend(kind);
        bytes.extend(data);
        bytes.extend(crc.sum().to_be_bytes());
        bytes
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(chunk(b"IHDR", &header));
    bytes.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0x00, 0x00]));
    bytes.extend(chunk(b"IEND", &[]));
    bytes
}

fn safetensors(tensors: &[(&str, Dtype, &[usize], Vec<u8>)], step: Option<&str>) -> Vec<u8> {
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| (*name, TensorView::new(*dtype, shape.to_vec(), data).unwrap()))
        .collect();
    let metadata = step.map(|s| std::collections::HashMap::from([("kiln.step".to_string(), s.to_string())]));
    safetensors::serialize(views, &metadata).unwrap()
}

const SPEC: &[(&str, &[usize])] = &[("0.weight", &[3, 2]), ("0.bias", &[3])];

fn f32_bytes(n: usize) -> Vec<u8> {
    vec![0u8; 4 * n]
}

/// A file under a fresh temporary folder.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("kiln-malformed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn expect_error(what: &str, path: &Path, result: Result<(), crate::Error>, reason: &str) {
    let message = result.err().unwrap_or_else(|| panic!("{what}: accepted")).to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(message.contains(&*name), "{what}: {message:?} does not name {name}");
    assert!(message.contains(reason), "{what}: {message:?} lacks {reason:?}");
}

#[test]
fn malformed_files_are_errors_naming_the_file_and_the_reason() {
    let dir = Dir::new();
    let mut tried = 0;

    let valid_images = idx(8, &[2, 2, 2], &[0; 8]);
    let idx_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "shorter than the 4-byte IDX magic"),
        ("garbage", b"GIF89a not idx".to_vec(), "bad magic"),
        ("float dtype", idx(0x0d, &[2], &[0; 8]), "element type 0x0d"),
        ("zero dimensions", idx(8, &[], &[]), "zero dimensions"),
        ("truncated header", valid_images[..9].to_vec(), "truncated header"),
        ("truncated data", valid_images[..valid_images.len() - 1].to_vec(), "truncated"),
        ("trailing bytes", [valid_images.clone(), vec![7]].concat(), "trailing bytes"),
        ("oversized dimensions", idx(8, &[u32::MAX, u32::MAX, u32::MAX], &[]), "overflow"),
        ("gzip truncated", gzip(&valid_images)[..20].to_vec(), "bad gzip data"),
        ("gzip of garbage", gzip(b"garbage"), "bad magic"),
        ("gzip magic only", vec![0x1f, 0x8b], "bad gzip data"),
    ];
    for (what, bytes, reason) in idx_cases {
        let path = dir.file(&format!("{}.idx", what.replace(' ', "_")), &bytes);
        expect_error(what, &path, read_idx(&path).map(|_| ()), reason);
        tried += 1;
    }
    let images = dir.file("images.idx", &valid_images);
    let labels = dir.file("labels.idx", &idx(8, &[3], &[0, 1, 2]));
    expect_error(
        "labels of another count",
        &labels,
        Dataset::from_idx(&images, &labels).map(|_| ()),
        "do not match images",
    );
    let labels = dir.file("labels2d.idx", &idx(8, &[2, 1], &[0, 1]));
    expect_error(
        "labels of another rank",
        &labels,
        Dataset::from_idx(&images, &labels).map(|_| ()),
        "do not match images",
    );
    tried += 2;

    let record = |label: u8| [vec![label], vec![128u8; 3072]].concat();
    let cifar_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "0 bytes is not a whole number"),
        ("truncated", record(1)[..3000].to_vec(), "not a whole number"),
        ("oversized", [record(1), vec![0]].concat(), "not a whole number"),
        ("label out of range", [record(1), record(10)].concat(), "record 1 has label 10"),
        ("garbage", b"this is not a CIFAR batch".to_vec(), "not a whole number"),
    ];
    for (what, bytes, reason) in cifar_cases {
        let path = dir.file(&format!("{}.bin", what.replace(' ', "_")), &bytes);
        expect_error(what, &path, cifar10(&[&path]).map(|_| ()), reason);
        tried += 1;
    }

    let valid_png = png(6, 4);
    let image_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "format"),
        ("garbage", b"not an image at all".to_vec(), "format"),
        ("truncated png", valid_png[..valid_png.len() / 2].to_vec(), ""),
        ("png claiming 100000x100000 pixels", png_claiming(100_000, 100_000), "limit"),
        ("png of zero width", png_claiming(0, 10), ""),
        ("idx named png", valid_images.clone(), "format"),
    ];
    for (i, (what, bytes, reason)) in image_cases.into_iter().enumerate() {
        let root = dir.0.join(format!("folder{i}"));
        let path = dir.file(&format!("folder{i}/cat/{}.png", what.replace(' ', "_")), &bytes);
        expect_error(what, &path, image_folder(&root, 3, 4, 4).map(|_| ()), reason);
        tried += 1;
    }

    let weight = ("0.weight", Dtype::F32, &[3usize, 2][..], f32_bytes(6));
    let bias = ("0.bias", Dtype::F32, &[3usize][..], f32_bytes(3));
    let valid = safetensors(&[weight.clone(), bias.clone()], None);
    let checkpoint_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "not a safetensors file"),
        ("garbage", b"not a checkpoint, just text".to_vec(), "not a safetensors file"),
        ("truncated", valid[..valid.len() - 5].to_vec(), "not a safetensors file"),
        (
            "header length past the end",
            [u64::MAX.to_le_bytes().to_vec(), valid[8..].to_vec()].concat(),
            "not a safetensors file",
        ),
        (
            "wrong dtype",
            safetensors(&[("0.weight", Dtype::F64, &[3, 2], vec![0; 48]), bias.clone()], None),
            "tensor `0.weight` is F64, expected F32",
        ),
        (
            "i64 parameter",
            safetensors(&[weight.clone(), ("0.bias", Dtype::I64, &[3], vec![0; 24])], None),
            "tensor `0.bias` is I64",
        ),
        (
            "wrong shape",
            safetensors(&[("0.weight", Dtype::F32, &[2, 3], f32_bytes(6)), bias.clone()], None),
            "tensor `0.weight` has shape [2, 3], expected [3, 2]",
        ),
        ("missing tensor", safetensors(std::slice::from_ref(&weight), None), "tensor `0.bias` is missing"),
        (
            "extra tensor",
            safetensors(&[weight.clone(), bias.clone(), ("2.weight", Dtype::F32, &[1], f32_bytes(1))], None),
            "tensor `2.weight` is not a parameter",
        ),
        ("bad step", safetensors(&[weight.clone(), bias.clone()], Some("-3")), "is not a step count"),
        (
            "partial optimizer state",
            safetensors(&[weight, bias, ("optimizer.0.bias.exp_avg", Dtype::F32, &[3], f32_bytes(3))], None),
            "tensor `optimizer.0.weight.exp_avg` is missing",
        ),
    ];
    let state: &[(&str, &[usize])] = &[("optimizer.0.weight.exp_avg", &[3, 2]), ("optimizer.0.bias.exp_avg", &[3])];
    for (what, bytes, reason) in checkpoint_cases {
        let path = dir.file(&format!("{}.safetensors", what.replace(' ', "_")), &bytes);
        expect_error(what, &path, checkpoint::load::<f32>(&path, SPEC, state).map(|_| ()), reason);
        tried += 1;
    }
    assert!(checkpoint::load::<f32>(&dir.file("valid.safetensors", &valid), SPEC, state).is_ok());
    println!("{tried} malformed files rejected with the file and the reason");
}
