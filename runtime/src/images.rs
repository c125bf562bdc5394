//! Image datasets: CIFAR-10 binary batches, folders of images with one sub-folder per class
//! (the `images` feature), per-channel normalisation, and seeded augmentation. Images are
//! stored channel-major (CHW) with values in [0, 1], as torchvision's `ToTensor` gives them.

use crate::data::Dataset;
use crate::init::SplitMix64;
use crate::Error;
use std::path::Path;

/// Bytes of one CIFAR-10 record: a label and a 3x32x32 image.
const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;

/// Reads CIFAR-10 binary batches (`data_batch_1.bin` ...), in order.
pub fn cifar10(files: &[&Path]) -> Result<Dataset, Error> {
    let mut features = vec![];
    let mut labels = vec![];
    for &path in files {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        parse_cifar10(&bytes, &mut features, &mut labels)
            .map_err(|reason| Error::Malformed { path: path.to_path_buf(), reason })?;
    }
    Ok(Dataset { features, labels, sample_len: 3 * 32 * 32 })
}

/// Appends the records of one CIFAR-10 binary batch to `features` and `labels`; on an error
/// nothing is appended.
pub fn parse_cifar10(bytes: &[u8], features: &mut Vec<f32>, labels: &mut Vec<u32>) -> Result<(), String> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR_RECORD) {
        return Err(format!("{} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records", bytes.len()));
    }
    let records = bytes.chunks_exact(CIFAR_RECORD);
    if let Some((i, record)) = records.clone().enumerate().find(|(_, r)| r[0] >= 10) {
        return Err(format!("record {i} has label {}, not a class in 0..10", record[0]));
    }
    for record in records {
        labels.push(u32::from(record[0]));
        features.extend(record[1..].iter().map(|&p| f32::from(p) / 255.0));
    }
    Ok(())
}

#[cfg(feature = "images")]
/// A folder with one sub-folder of PNG/JPEG images per class, like torchvision's
/// `ImageFolder`: class ids follow the sub-folders' sorted names. Images are converted to
/// `channels` (1: grey, 3: RGB) and resized bilinearly to `height` x `width`.
pub fn image_folder(
    root: &Path,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<(Dataset, Vec<String>), Error> {
    if channels != 1 && channels != 3 {
        return Err(Error::Invalid(format!("image_folder: {channels} channels; use 1 or 3")));
    }
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io { path: path.to_path_buf(), source }
    }
    let mut classes: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(Error::Malformed { path: root.to_path_buf(), reason: "no class sub-folders".into() });
    }
    let mut data = Dataset { features: vec![], labels: vec![], sample_len: channels * height * width };
    for (class, (_, dir)) in classes.iter().enumerate() {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase());
                matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
            })
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).map_err(io(&file))?;
            let pixels = decode_image(&bytes, channels, height, width)
                .map_err(|reason| Error::Malformed { path: file.clone(), reason })?;
            data.features.extend(pixels);
            data.labels.push(class as u32);
        }
    }
    Ok((data, classes.into_iter().map(|(name, _)| name).collect()))
}

#[cfg(feature = "images")]
/// Largest decoded image accepted (bytes of pixels), so a small file cannot claim a huge image.
const MAX_IMAGE_BYTES: u64 = 256 << 20;

#[cfg(feature = "images")]
/// Decodes a PNG or JPEG (format from its content) to `channels` (1 or 3) channel-major planes
/// of `height` x `width`, resized bilinearly, values in [0, 1].
pub fn decode_image(bytes: &[u8], channels: usize, height: usize, width: usize) -> Result<Vec<f32>, String> {
    let mut reader =
        image::io::Reader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    let mut limits = image::io::Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| e.to_string())?;
    let filter = image::imageops::FilterType::Triangle;
    let (w, h) = (width as u32, height as u32);
    if channels == 1 {
        let grey = image::imageops::resize(&image.to_luma8(), w, h, filter);
        return Ok(grey.as_raw().iter().map(|&p| f32::from(p) / 255.0).collect());
    }
    let rgb = image::imageops::resize(&image.to_rgb8(), w, h, filter);
    Ok((0..3).flat_map(|c| rgb.as_raw().iter().skip(c).step_by(3).map(|&p| f32::from(p) / 255.0)).collect())
}

/// `(x - mean[c]) / std[c]` for each channel `c` of channel-major samples.
pub fn normalize(data: &mut Dataset, mean: &[f32], std: &[f32]) -> Result<(), Error> {
    let channels = mean.len();
    if channels == 0
        || std.len() != channels
        || !data.sample_len.is_multiple_of(channels)
        || std.iter().any(|&s| s <= 0.0)
    {
        return Err(Error::Invalid(format!(
            "normalize: {} means and {} positive stds for samples of {} values",
            mean.len(),
            std.len(),
            data.sample_len
        )));
    }
    let plane = data.sample_len / channels;
    for sample in data.features.chunks_exact_mut(data.sample_len) {
        for (c, values) in sample.chunks_exact_mut(plane).enumerate() {
            values.iter_mut().for_each(|v| *v = (*v - mean[c]) / std[c]);
        }
    }
    Ok(())
}

/// Seeded augmentation of channel-major images: a random crop of the image zero-padded by
/// `pad` on each side (torchvision's `RandomCrop(size, padding=pad)`), then a horizontal flip
/// with probability 1/2 when `flip`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Channels per image.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Zero padding of the random crop (0: no crop).
    pub pad: usize,
    /// Random horizontal flips.
    pub flip: bool,
}

impl Augment {
    /// Augments each image of a batch in place.
    pub fn apply(&self, batch: &mut [f32], rng: &mut SplitMix64) {
        let (c, h, w) = (self.channels, self.height, self.width);
        let mut source = vec![0.0; c * h * w];
        for image in batch.chunks_exact_mut(c * h * w) {
            let dy = rng.below(2 * self.pad + 1) as isize - self.pad as isize;
            let dx = rng.below(2 * self.pad + 1) as isize - self.pad as isize;
            let flip = self.flip && rng.below(2) == 1;
            source.copy_from_slice(image);
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        let sx = if flip { w - 1 - x } else { x } as isize + dx;
                        let sy = y as isize + dy;
                        let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                        image[(ch * h + y) * w + x] =
                            if inside { source[(ch * h + sy as usize) * w + sx as usize] } else { 0.0 };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-images-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn cifar10_reads_records_and_rejects_bad_files() {
        let dir = temp("cifar");
        let mut bytes = vec![];
        for label in [3u8, 7] {
            bytes.push(label);
            bytes.extend((0..3072).map(|i| (i % 256) as u8));
        }
        let good = dir.join("batch.bin");
        std::fs::write(&good, &bytes).unwrap();
        let data = cifar10(&[&good]).unwrap();
        assert_eq!((data.labels.clone(), data.sample_len), (vec![3, 7], 3072));
        assert_eq!(data.features[255], 1.0);
        let truncated = dir.join("truncated.bin");
        std::fs::write(&truncated, &bytes[..5000]).unwrap();
        assert!(cifar10(&[&truncated]).unwrap_err().to_string().contains("not a whole number"));
        bytes[3073] = 12;
        std::fs::write(&truncated, &bytes).unwrap();
        let err = cifar10(&[&truncated]).unwrap_err().to_string();
        assert!(err.contains("truncated.bin") && err.contains("record 1 has label 12"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(feature = "images")]
    #[test]
    fn image_folder_sorts_classes_resizes_and_rejects_garbage() {
        let root = temp("folder");
        for (class, value) in [("dog", 200u8), ("cat", 50)] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            let image = image::RgbImage::from_pixel(8, 6, image::Rgb([value, 0, 255]));
            image.save(root.join(class).join("a.png")).unwrap();
        }
        let (data, classes) = image_folder(&root, 3, 4, 4).unwrap();
        assert_eq!(classes, vec!["cat", "dog"]);
        assert_eq!((data.labels.clone(), data.sample_len), (vec![0, 1], 48));
        let plane = |sample: usize, c: usize| &data.features[sample * 48 + c * 16..sample * 48 + (c + 1) * 16];
        assert!(plane(0, 0).iter().all(|&v| (v - 50.0 / 255.0).abs() < 1e-6));
        assert!(plane(1, 2).iter().all(|&v| v == 1.0));
        std::fs::write(root.join("cat").join("broken.png"), b"not an image").unwrap();
        let err = image_folder(&root, 3, 4, 4).unwrap_err().to_string();
        assert!(err.contains("broken.png"), "{err}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn normalize_and_augment() {
        let mut data = Dataset { features: vec![0.5, 0.5, 1.0, 1.0], labels: vec![0], sample_len: 4 };
        normalize(&mut data, &[0.5, 0.0], &[0.25, 2.0]).unwrap();
        assert_eq!(data.features, vec![0.0, 0.0, 0.5, 0.5]);
        assert!(normalize(&mut data, &[0.5], &[0.0]).is_err());

        // A flip-only augmentation mirrors rows; a crop keeps values and adds zero padding.
        let image: Vec<f32> = (1..=6).map(|v| v as f32).collect(); // 1 channel, 2x3
        let flip = Augment { channels: 1, height: 2, width: 3, pad: 0, flip: true };
        let mut rng = SplitMix64::new(0, 0);
        let outcomes: Vec<Vec<f32>> = (0..20)
            .map(|_| {
                let mut b = image.clone();
                flip.apply(&mut b, &mut rng);
                b
            })
            .collect();
        assert!(outcomes.contains(&vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]) && outcomes.contains(&image));
        let crop = Augment { pad: 1, flip: false, ..flip };
        for _ in 0..20 {
            let mut b = image.clone();
            crop.apply(&mut b, &mut rng);
            assert!(b.iter().all(|v| *v == 0.0 || image.contains(v)));
        }
    }
}
