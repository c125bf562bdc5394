//! Data: IDX files (MNIST's format, optionally gzipped) and shuffled mini-batches.

use crate::init::SplitMix64;
use crate::Error;
use std::io::Read;
use std::path::Path;

/// Files larger than this after decompression are rejected (guards against gzip bombs).
const MAX_IDX_BYTES: u64 = 1 << 31;

/// An IDX array of unsigned bytes: its dimensions and row-major data.
#[derive(Debug, PartialEq)]
pub struct Idx {
    /// Size of each dimension.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file of u8 (type 0x08), gzipped or not (detected by the gzip magic).
pub fn read_idx(path: &Path) -> Result<Idx, Error> {
    let raw = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    decode_idx(&raw).map_err(|reason| Error::Malformed { path: path.to_path_buf(), reason })
}

/// Parses the bytes of an IDX file, gunzipping them first if they start with the gzip magic.
pub fn decode_idx(raw: &[u8]) -> Result<Idx, String> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return parse_idx(raw);
    }
    let mut out = vec![];
    flate2::read::GzDecoder::new(raw)
        .take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip data: {e}"))?;
    parse_idx(&out)
}

/// Parses IDX bytes: magic `00 00 08 ndims`, `ndims` big-endian u32 sizes, then the data.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx, String> {
    if bytes.len() as u64 > MAX_IDX_BYTES {
        return Err(format!("larger than {MAX_IDX_BYTES} bytes"));
    }
    let header = bytes.get(..4).ok_or("shorter than the 4-byte IDX magic")?;
    if header[0] != 0 || header[1] != 0 {
        return Err(format!("bad magic {header:02x?}: not an IDX file"));
    }
    if header[2] != 0x08 {
        return Err(format!("element type 0x{:02x} is not unsigned byte (0x08)", header[2]));
    }
    let ndims = header[3] as usize;
    if ndims == 0 {
        return Err("zero dimensions".into());
    }
    let sizes = bytes.get(4..4 + 4 * ndims).ok_or_else(|| format!("truncated header: {ndims} sizes expected"))?;
    let dims: Vec<usize> =
        sizes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("dimensions overflow")?;
    let data = &bytes[4 + 4 * ndims..];
    if data.len() != expected {
        return Err(format!(
            "dimensions {dims:?} need {expected} bytes of data, the file has {} ({})",
            data.len(),
            if data.len() < expected { "truncated" } else { "trailing bytes" }
        ));
    }
    Ok(Idx { dims, data: data.to_vec() })
}

/// Labelled samples: `features` holds `len()` rows of `sample_len` f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// All samples, row-major, `sample_len` values each.
    pub features: Vec<f32>,
    /// One class id per sample.
    pub labels: Vec<u32>,
    /// Values per sample.
    pub sample_len: usize,
}

impl Dataset {
    /// MNIST-style IDX images (scaled to [0, 1]) and labels; the counts must agree.
    pub fn from_idx(images: &Path, labels: &Path) -> Result<Dataset, Error> {
        let (x, y) = (read_idx(images)?, read_idx(labels)?);
        if x.dims.len() < 2 || y.dims.len() != 1 || x.dims[0] != y.dims[0] {
            return Err(Error::Malformed {
                path: labels.to_path_buf(),
                reason: format!("labels {:?} do not match images {:?}", y.dims, x.dims),
            });
        }
        Ok(Dataset {
            sample_len: x.dims[1..].iter().product(),
            features: x.data.iter().map(|&p| f32::from(p) / 255.0).collect(),
            labels: y.data.iter().map(|&l| u32::from(l)).collect(),
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Samples `range` as a new dataset (e.g. the first 8,000 for training).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let n = self.sample_len;
        Dataset {
            features: self.features[range.start * n..range.end * n].to_vec(),
            labels: self.labels[range].to_vec(),
            sample_len: n,
        }
    }

    /// A shuffled split: `(rest, Some(held_out))` with `fraction` of the samples held out, or
    /// `(all, None)` when `fraction` is 0.
    pub fn split(&self, fraction: f64, rng: &mut SplitMix64) -> (Dataset, Option<Dataset>) {
        let held = ((self.len() as f64) * fraction).round() as usize;
        if held == 0 {
            return (self.clone(), None);
        }
        let order = shuffled_order(self.len(), rng);
        let part = |indices: &[usize]| {
            let (features, labels) = self.gather(indices);
            Dataset { features, labels, sample_len: self.sample_len }
        };
        (part(&order[held..]), Some(part(&order[..held])))
    }

    /// The batch of samples `indices`: features and labels.
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let n = self.sample_len;
        let mut features = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            features.extend_from_slice(&self.features[i * n..(i + 1) * n]);
        }
        (features, indices.iter().map(|&i| self.labels[i]).collect())
    }

    /// One epoch of batches of at most `batch` samples, in an order shuffled by `rng`: every
    /// sample exactly once, the last batch shorter when `batch` does not divide `len()`.
    pub fn shuffled_batches(
        &self,
        batch: usize,
        rng: &mut SplitMix64,
    ) -> impl Iterator<Item = (Vec<f32>, Vec<u32>)> + '_ {
        self.batches_in(shuffled_order(self.len(), rng), batch)
    }

    /// Batches in order (for evaluation), the last one shorter if need be.
    pub fn batches(&self, batch: usize) -> impl Iterator<Item = (Vec<f32>, Vec<u32>)> + '_ {
        self.batches_in((0..self.len()).collect(), batch)
    }

    /// The samples of `order`, gathered `batch` at a time (lazily).
    fn batches_in(&self, order: Vec<usize>, batch: usize) -> impl Iterator<Item = (Vec<f32>, Vec<u32>)> + '_ {
        let batch = batch.max(1);
        (0..order.len().div_ceil(batch))
            .map(move |b| self.gather(&order[b * batch..((b + 1) * batch).min(order.len())]))
    }
}

/// One epoch of batches of at most `batch` sample indices, bucketed by length: the samples
/// sorted by `lengths` (equal lengths in an order shuffled by `rng`) and cut into batches,
/// which come in a shuffled order. A batch's rows then have lengths close to one another, so a
/// loop over lengths (`Recurrent::lengths`) runs about as many steps as each row needs.
pub fn bucketed_batches(lengths: &[usize], batch: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut order = shuffled_order(lengths.len(), rng);
    // Stable: equal lengths keep their shuffled order.
    order.sort_by_key(|&i| lengths[i]);
    let mut batches: Vec<Vec<usize>> = order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect();
    shuffled_order(batches.len(), rng).into_iter().map(|b| std::mem::take(&mut batches[b])).collect()
}

/// `0..n` in an order shuffled by `rng` (Fisher-Yates).
pub fn shuffled_order(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// Index of the largest of each row of `logits` (`classes` per row).
pub fn argmax_rows(logits: &[f32], classes: usize) -> Vec<u32> {
    logits
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (j, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = j;
                }
            }
            best as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(data);
        bytes
    }

    #[test]
    fn parses_and_rejects_idx() {
        assert_eq!(parse_idx(&idx(&[2, 2], &[1, 2, 3, 4])).unwrap(), Idx { dims: vec![2, 2], data: vec![1, 2, 3, 4] });
        for (bytes, reason) in [
            (vec![], "shorter"),
            (vec![1, 0, 8, 1], "bad magic"),
            (vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type"),
            (vec![0, 0, 8, 0], "zero dimensions"),
            (vec![0, 0, 8, 2, 0, 0], "truncated header"),
            (idx(&[2, 2], &[1, 2, 3]), "truncated"),
            (idx(&[2, 2], &[1, 2, 3, 4, 5]), "trailing bytes"),
            (idx(&[u32::MAX, u32::MAX, u32::MAX], &[]), "overflow"),
        ] {
            let err = parse_idx(&bytes).unwrap_err();
            assert!(err.contains(reason), "{err:?} lacks {reason:?}");
        }
    }

    #[test]
    fn epoch_visits_every_sample_once_and_keeps_the_last_partial_batch() {
        let data = Dataset { features: (0..10).map(|i| i as f32).collect(), labels: (0..10).collect(), sample_len: 1 };
        let mut rng = SplitMix64::new(3, 0);
        let batches: Vec<_> = data.shuffled_batches(4, &mut rng).collect();
        assert_eq!(batches.iter().map(|(_, y)| y.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut seen: Vec<u32> = batches.iter().flat_map(|(_, y)| y.clone()).collect();
        assert_ne!(seen, (0..10).collect::<Vec<_>>(), "shuffled");
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        for (x, y) in &batches {
            assert_eq!(x.iter().map(|&v| v as u32).collect::<Vec<_>>(), *y, "features follow labels");
        }
    }

    #[test]
    fn bucketed_batches_group_close_lengths_in_a_shuffled_order() {
        // 100 samples of lengths 1 to 10, ten of each, in a scattered order.
        let lengths: Vec<usize> = (0..100).map(|i| 1 + i * 37 % 100 / 10).collect();
        let mut rng = SplitMix64::new(9, 0);
        let batches = bucketed_batches(&lengths, 10, &mut rng);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>(), "every sample once");
        for b in &batches {
            let first = lengths[b[0]];
            assert!(b.iter().all(|&i| lengths[i] == first), "one length per batch of ten: {b:?}");
        }
        let firsts: Vec<usize> = batches.iter().map(|b| lengths[b[0]]).collect();
        assert_ne!(firsts, (1..=10).collect::<Vec<_>>(), "the batches come shuffled");
        let again = bucketed_batches(&lengths, 10, &mut rng);
        assert_ne!(again, batches, "another epoch, another order");
    }
}
