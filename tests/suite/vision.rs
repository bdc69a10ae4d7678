//! Issue 28: self-attention on images and the CNN baseline, end to end on a toy task the test
//! writes as IDX files: which quadrant of an 8x8 image is bright.

use crate::common;

use seq2seq::vision::cnn::CnnConfig;
use seq2seq::vision::dataset::ImageSet;
use seq2seq::vision::idx::Idx;
use seq2seq::vision::image_transformer::{ImageTransformerConfig, Pooling};
use seq2seq::vision::train::{load, train, ImageTrainError};
use seq2seq::vision::{evaluate, ClassifierConfig, ImageData, ImageTrainConfig, ImageTrainOptions};

type B = burn::backend::Autodiff<seq2seq::backend::Flex>;

/// `n` 8x8 images: dim noise everywhere, one 4x4 quadrant bright; the label is the quadrant.
fn quadrants(n: usize, seed: u64) -> (Idx, Idx) {
    let mut rng = seq2seq::rng::SplitMix64(seed);
    let mut pixels = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let quadrant = i % 4;
        let (top, left) = ((quadrant / 2) * 4, (quadrant % 2) * 4);
        for r in 0..8 {
            for c in 0..8 {
                let inside = (top..top + 4).contains(&r) && (left..left + 4).contains(&c);
                let base = if inside { 150 } else { 0 };
                pixels.push((base + rng.below(100)) as u8);
            }
        }
        labels.push(quadrant as u8);
    }
    (
        Idx {
            dims: vec![n, 8, 8],
            data: pixels,
        },
        Idx {
            dims: vec![n],
            data: labels,
        },
    )
}

fn write_set(dir: &std::path::Path, n: usize) -> ImageSet {
    let (images, labels) = quadrants(n, 5);
    images.write(&dir.join("images.gz"), true).unwrap();
    labels.write(&dir.join("labels"), false).unwrap();
    ImageSet::from_idx(&dir.join("images.gz"), &dir.join("labels"), 4).unwrap()
}

fn config(model: ClassifierConfig) -> ImageTrainConfig {
    ImageTrainConfig {
        model,
        downsample: 1,
        train_images: 0,
        dev_images: 100,
        epochs: 15,
        batch_size: 16,
        learning_rate: 3e-3,
        weight_decay: 0.0,
        seed: 1,
    }
}

#[test]
fn both_models_learn_which_quadrant_is_bright() {
    let dir = common::TempDir::new("vision", "quadrants");
    let all = write_set(&dir, 500);
    assert_eq!(
        (all.len(), all.height, all.width, all.classes),
        (500, 8, 8, 4)
    );
    let transformer = ClassifierConfig::Transformer(
        ImageTransformerConfig::new(8, 8, 4)
            .with_patch(2)
            .with_d_model(16)
            .with_n_heads(2)
            .with_d_ff(32)
            .with_n_layers(1)
            .with_dropout(0.0)
            .with_pooling(Pooling::Mean),
    );
    let cnn = ClassifierConfig::Cnn(
        CnnConfig::new(8, 8, 4)
            .with_channels(vec![4])
            .with_hidden(16)
            .with_dropout(0.0),
    );
    for (name, model) in [("transformer", transformer), ("cnn", cnn)] {
        let config = config(model);
        let data = ImageData::carve(&config, &all);
        assert_eq!((data.train.len(), data.dev.len()), (400, 100));
        let options = ImageTrainOptions {
            out: dir.join(name),
            resume: false,
            plain: true,
            interrupter: None,
        };
        let report = train::<B>(&config, &data, &options, Default::default()).unwrap();
        println!("{name}: dev accuracy {:.1}%", report.dev.accuracy());
        assert!(
            report.dev.accuracy() >= 95.0,
            "{name}: dev accuracy {:.1}%",
            report.dev.accuracy()
        );
        // The saved model scores the same as the one in memory.
        let (saved, model) =
            load::<seq2seq::backend::Flex>(&dir.join(name), &Default::default()).unwrap();
        assert_eq!(saved.epochs, 15);
        assert_eq!(evaluate(&model, &data.dev, 32), report.dev);
        // A second run into the same place is refused, not overwritten.
        let again = train::<B>(&config, &data, &options, Default::default()).unwrap_err();
        assert!(
            matches!(again, ImageTrainError::RunExists { epoch: 15, .. }),
            "{again}"
        );
        // A checkpoint cut short (a process killed while saving it) is moved aside: --resume
        // continues from the epoch before and finishes the run.
        let checkpoints = dir.join("runs").join(name).join("checkpoint");
        let last = checkpoints.join("model-15.mpk");
        let bytes = std::fs::read(&last).unwrap();
        std::fs::write(&last, &bytes[..bytes.len() / 2]).unwrap();
        let resume = ImageTrainOptions {
            resume: true,
            ..options.clone()
        };
        let resumed = train::<B>(&config, &data, &resume, Default::default()).unwrap();
        assert!(checkpoints.join("model-15.mpk.damaged").is_file());
        assert!(checkpoints.join("model-15.mpk").is_file());
        assert_eq!(resumed.epochs, 15);
        assert!(resumed.dev.accuracy() >= 95.0, "{name} resumed");
    }
}

#[test]
fn mismatched_configs_and_files_are_named() {
    let dir = common::TempDir::new("vision", "errors");
    let all = write_set(&dir, 40);
    // A model for 28x28 images on 8x8 data.
    let config = config(ClassifierConfig::Cnn(CnnConfig::new(28, 28, 4)));
    let data = ImageData::carve(
        &ImageTrainConfig {
            dev_images: 8,
            ..config.clone()
        },
        &all,
    );
    let options = ImageTrainOptions {
        out: dir.join("m"),
        resume: false,
        plain: true,
        interrupter: None,
    };
    let err = train::<B>(&config, &data, &options, Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("28x28") && err.contains("8x8"), "{err}");
    // Labels of 40 items against images of 39.
    let (images, _) = quadrants(39, 1);
    images.write(&dir.join("short"), false).unwrap();
    let err = ImageSet::from_idx(&dir.join("short"), &dir.join("labels"), 4)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("39 images") && err.contains("40 labels"),
        "{err}"
    );
    // A label file given as the images.
    let err = ImageSet::from_idx(&dir.join("labels"), &dir.join("labels"), 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[count, rows, columns]"), "{err}");
    // A truncated gzipped file.
    let bytes = std::fs::read(dir.join("images.gz")).unwrap();
    std::fs::write(dir.join("cut.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let err = ImageSet::from_idx(&dir.join("cut.gz"), &dir.join("labels"), 4).unwrap_err();
    assert!(format!("{err:#}").contains("cut.gz"), "{err}");
}
