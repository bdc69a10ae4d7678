//! Labelled grey images: Fashion-MNIST where Debian's `dataset-fashion-mnist` installs it (or
//! any directory with its four IDX files), tiny sets the tests write; subsets of a chosen
//! size with every class equally represented, a dev split carved from training, downsampling,
//! and the batches the learner reads.
//!
//! Every image of a batch has the same size, so batches need no padding (and no mask).

use super::idx::{Idx, IdxError};
use crate::rng::SplitMix64;
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// Where `apt install dataset-fashion-mnist` puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's classes, by label.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Which half of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// 60,000 images.
    Train,
    /// 10,000 images, held out: scored once, never used for choices.
    Test,
}

impl Split {
    /// The images and labels files of this split, as the dataset names them.
    pub fn files(self) -> [&'static str; 2] {
        match self {
            Split::Train => ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"],
            Split::Test => ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
        }
    }
}

/// Why the images could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageDataError {
    #[error("Fashion-MNIST is not in {dir} ({file} is missing): install Debian's package (apt install dataset-fashion-mnist) or pass --data DIR, a directory with its four IDX files")]
    Missing { dir: PathBuf, file: String },
    #[error(transparent)]
    Idx(#[from] IdxError),
    #[error("{path} holds an array of dimensions {dims:?}: expected {what}")]
    Shape {
        path: PathBuf,
        what: &'static str,
        dims: Vec<usize>,
    },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    Count {
        images: PathBuf,
        n_images: usize,
        labels: PathBuf,
        n_labels: usize,
    },
    #[error("{path}: label {label} of item {index} is not below the {classes} classes")]
    Label {
        path: PathBuf,
        index: usize,
        label: u8,
        classes: usize,
    },
}

/// Labelled grey images of one size.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub height: usize,
    pub width: usize,
    /// `len * height * width` bytes, row-major (0 = black).
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
    /// Labels are `0..classes`.
    pub classes: usize,
}

impl ImageSet {
    /// The images of an IDX images file (`[count, rows, columns]`) with the labels of an IDX
    /// labels file (`[count]`), each label below `classes`.
    pub fn from_idx(images: &Path, labels: &Path, classes: usize) -> Result<Self, ImageDataError> {
        let pictures = Idx::read(images)?;
        let [count, height, width] = pictures.dims[..] else {
            return Err(ImageDataError::Shape {
                path: images.to_path_buf(),
                what: "[count, rows, columns]",
                dims: pictures.dims,
            });
        };
        let names = Idx::read(labels)?;
        let [n_labels] = names.dims[..] else {
            return Err(ImageDataError::Shape {
                path: labels.to_path_buf(),
                what: "[count]",
                dims: names.dims,
            });
        };
        if n_labels != count {
            return Err(ImageDataError::Count {
                images: images.to_path_buf(),
                n_images: count,
                labels: labels.to_path_buf(),
                n_labels,
            });
        }
        if let Some((index, &label)) = names
            .data
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= classes)
        {
            return Err(ImageDataError::Label {
                path: labels.to_path_buf(),
                index,
                label,
                classes,
            });
        }
        Ok(Self {
            height,
            width,
            pixels: pictures.data,
            labels: names.data,
            classes,
        })
    }

    /// A split of Fashion-MNIST from `dir` (default [`FASHION_MNIST_DIR`]).
    pub fn fashion_mnist(dir: Option<&Path>, split: Split) -> Result<Self, ImageDataError> {
        let dir = dir.unwrap_or(Path::new(FASHION_MNIST_DIR));
        let [images, labels] = split.files().map(|f| dir.join(f));
        for file in [&images, &labels] {
            if !file.exists() {
                return Err(ImageDataError::Missing {
                    dir: dir.to_path_buf(),
                    file: file
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                });
            }
        }
        Self::from_idx(&images, &labels, FASHION_CLASSES.len())
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of item `i`, row-major.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.height * self.width;
        &self.pixels[i * size..(i + 1) * size]
    }

    /// The items at `indices`, in that order.
    pub fn pick(&self, indices: &[usize]) -> Self {
        Self {
            height: self.height,
            width: self.width,
            pixels: indices
                .iter()
                .flat_map(|&i| self.image(i).iter().copied())
                .collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// Every item's index, shuffled by `seed`, then dealt class by class in turn: any prefix
    /// holds every class as equally as the data allows.
    fn stratified_order(&self, seed: u64) -> Vec<usize> {
        let mut rng = SplitMix64(seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.classes];
        for (i, &label) in self.labels.iter().enumerate() {
            by_class[label as usize].push(i);
        }
        for members in &mut by_class {
            // Fisher-Yates.
            for i in (1..members.len()).rev() {
                members.swap(i, rng.below(i + 1));
            }
        }
        let longest = by_class.iter().map(Vec::len).max().unwrap_or(0);
        (0..longest)
            .flat_map(|round| by_class.iter().filter_map(move |m| m.get(round).copied()))
            .collect()
    }

    /// Split into `(rest, dev)`: `dev` has `n` items (all classes equally, chosen by `seed`),
    /// `rest` the others, both in their original order.
    pub fn split_dev(&self, n: usize, seed: u64) -> (Self, Self) {
        let order = self.stratified_order(seed);
        let n = n.min(order.len());
        let mut dev: Vec<usize> = order[..n].to_vec();
        let mut rest: Vec<usize> = order[n..].to_vec();
        dev.sort_unstable();
        rest.sort_unstable();
        (self.pick(&rest), self.pick(&dev))
    }

    /// `n` items (all, if fewer), every class equally represented, chosen by `seed`; the
    /// subsets of one seed are nested (the 1,000 are among the 5,000).
    pub fn subset(&self, n: usize, seed: u64) -> Self {
        let order = self.stratified_order(seed);
        self.pick(&order[..n.min(order.len())])
    }

    /// Every image shrunk by `factor` in both directions, each new pixel the mean of a
    /// `factor x factor` block (rounded): 28x28 becomes 14x14 with 2, so pixels as tokens
    /// (196 of them) fit a CPU.
    pub fn downsample(&self, factor: usize) -> Self {
        assert!(
            factor >= 1 && self.height.is_multiple_of(factor) && self.width.is_multiple_of(factor),
            "downsampling by {factor} needs sides divisible by it ({}x{})",
            self.height,
            self.width
        );
        if factor == 1 {
            return self.clone();
        }
        let (h, w) = (self.height / factor, self.width / factor);
        let area = (factor * factor) as u32;
        let mut pixels = Vec::with_capacity(self.len() * h * w);
        for i in 0..self.len() {
            let image = self.image(i);
            for r in 0..h {
                for c in 0..w {
                    let mut sum = 0u32;
                    for dr in 0..factor {
                        for dc in 0..factor {
                            sum += image[(r * factor + dr) * self.width + c * factor + dc] as u32;
                        }
                    }
                    pixels.push(((sum + area / 2) / area) as u8);
                }
            }
        }
        Self {
            height: h,
            width: w,
            pixels,
            labels: self.labels.clone(),
            classes: self.classes,
        }
    }

    /// Items cut into batches of `batch_size` in order (the learner's data loader shuffles
    /// the batches; [`ImageSet::shuffled_batches`] shuffles the items within them too).
    pub fn batches(&self, batch_size: usize) -> Vec<ImageItems> {
        let all: Vec<usize> = (0..self.len()).collect();
        self.batches_of(&all, batch_size)
    }

    /// Items in an order shuffled by `seed`, cut into batches of `batch_size`.
    pub fn shuffled_batches(&self, batch_size: usize, seed: u64) -> Vec<ImageItems> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        let mut rng = SplitMix64(seed);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        self.batches_of(&order, batch_size)
    }

    fn batches_of(&self, order: &[usize], batch_size: usize) -> Vec<ImageItems> {
        assert!(batch_size > 0, "batch_size must be positive");
        order
            .chunks(batch_size)
            .map(|chunk| {
                let part = self.pick(chunk);
                ImageItems {
                    height: part.height,
                    width: part.width,
                    pixels: part.pixels,
                    labels: part.labels,
                }
            })
            .collect()
    }
}

/// One batch's items on the host (what the data loader stores and shuffles).
#[derive(Debug, Clone)]
pub struct ImageItems {
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

/// A batch on the device.
#[derive(Debug, Clone)]
pub struct ImageBatch<B: Backend> {
    /// `[batch, height, width]`, pixel values scaled to `0..=1`.
    pub images: Tensor<B, 3>,
    /// `[batch]`
    pub labels: Tensor<B, 1, Int>,
}

/// Makes [`ImageBatch`]es of [`ImageItems`] (each item is already one batch).
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageBatcher;

impl ImageBatcher {
    pub fn batch_items<B: Backend>(&self, items: &ImageItems, device: &B::Device) -> ImageBatch<B> {
        let batch = items.labels.len();
        let pixels: Vec<f32> = items.pixels.iter().map(|&p| p as f32 / 255.0).collect();
        let labels: Vec<i64> = items.labels.iter().map(|&l| l as i64).collect();
        ImageBatch {
            images: Tensor::from_data(
                TensorData::new(pixels, [batch, items.height, items.width]),
                device,
            ),
            labels: Tensor::from_data(TensorData::new(labels, [batch]), device),
        }
    }
}

impl<B: Backend> Batcher<B, ImageItems, ImageBatch<B>> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItems>, device: &B::Device) -> ImageBatch<B> {
        let mut all = items.into_iter();
        let mut first = all.next().expect("cannot batch zero batches");
        for more in all {
            first.pixels.extend(more.pixels);
            first.labels.extend(more.labels);
        }
        self.batch_items(&first, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4x4 images of 3 classes: item `i` has label `i % 3` and every pixel `i`.
    fn tiny(n: usize) -> ImageSet {
        ImageSet {
            height: 4,
            width: 4,
            pixels: (0..n)
                .flat_map(|i| std::iter::repeat_n(i as u8, 16))
                .collect(),
            labels: (0..n).map(|i| (i % 3) as u8).collect(),
            classes: 3,
        }
    }

    #[test]
    fn subsets_are_balanced_nested_and_dev_is_disjoint() {
        let set = tiny(30);
        let small = set.subset(6, 7);
        let mut counts = [0; 3];
        for &l in &small.labels {
            counts[l as usize] += 1;
        }
        assert_eq!(counts, [2, 2, 2]);
        let larger = set.subset(12, 7);
        for i in 0..small.len() {
            // The same item (pixel value = original index) at the same place.
            assert_eq!(small.image(i), larger.image(i));
        }
        let (rest, dev) = set.split_dev(9, 1);
        assert_eq!((rest.len(), dev.len()), (21, 9));
        let ids = |s: &ImageSet| (0..s.len()).map(|i| s.image(i)[0]).collect::<Vec<_>>();
        let (r, d) = (ids(&rest), ids(&dev));
        assert!(d.iter().all(|x| !r.contains(x)));
    }

    #[test]
    fn downsampling_averages_blocks() {
        let set = ImageSet {
            height: 2,
            width: 4,
            pixels: vec![0, 2, 10, 10, 4, 6, 10, 11],
            labels: vec![0],
            classes: 1,
        };
        let small = set.downsample(2);
        assert_eq!((small.height, small.width), (1, 2));
        // (0+2+4+6)/4 = 3; (10+10+10+11)/4 = 10.25 -> 10.
        assert_eq!(small.pixels, vec![3, 10]);
    }

    #[test]
    fn batches_have_distinct_shapes_and_scaled_pixels() {
        type B = crate::backend::tests::TestBackend;
        let set = tiny(5);
        let batches = set.batches(2);
        assert_eq!(batches.len(), 3);
        let batch = ImageBatcher.batch_items::<B>(&batches[1], &Default::default());
        assert_eq!(batch.images.dims(), [2, 4, 4]);
        assert_eq!(batch.labels.dims(), [2]);
        let first: Vec<f32> = batch.images.into_data().to_vec().unwrap();
        assert!((first[0] - 2.0 / 255.0).abs() < 1e-7);
        assert!((first[16] - 3.0 / 255.0).abs() < 1e-7);
    }

    #[test]
    fn a_missing_dataset_names_the_package() {
        let err = ImageSet::fashion_mnist(Some(Path::new("/nonexistent")), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dataset-fashion-mnist") && err.contains("t10k-images"),
            "{err}"
        );
    }
}
