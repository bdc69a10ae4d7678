//! Scoring an image classifier: accuracy and the confusion matrix.

use super::classifier::ImageClassifier;
use super::dataset::{ImageBatcher, ImageSet};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How a classifier did on a set of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub items: usize,
    pub correct: usize,
    /// `confusion[truth][predicted]`: how many images of class `truth` were called
    /// `predicted`.
    pub confusion: Vec<Vec<usize>>,
}

impl Evaluation {
    /// From `(truth, predicted)` pairs over `classes` classes.
    pub fn from_pairs(classes: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut confusion = vec![vec![0; classes]; classes];
        let (mut items, mut correct) = (0, 0);
        for (truth, predicted) in pairs {
            confusion[truth][predicted] += 1;
            items += 1;
            correct += usize::from(truth == predicted);
        }
        Self {
            items,
            correct,
            confusion,
        }
    }

    /// Percent correct.
    pub fn accuracy(&self) -> f64 {
        100.0 * self.correct as f64 / self.items.max(1) as f64
    }

    /// The confusion matrix as text: one row per true class (named by `names` where given),
    /// one column per predicted class, and each row's accuracy.
    pub fn table(&self, names: &[&str]) -> String {
        let name = |c: usize| names.get(c).map_or(c.to_string(), |n| n.to_string());
        let classes = self.confusion.len();
        let mut out = format!("{:>12} |", "true \\ said");
        for c in 0..classes {
            out += &format!(" {:>5}", c);
        }
        out += " | correct\n";
        for (truth, row) in self.confusion.iter().enumerate() {
            let total: usize = row.iter().sum();
            out += &format!(
                "{:>12} |",
                format!("{truth} {}", name(truth))
                    .chars()
                    .take(12)
                    .collect::<String>()
            );
            for count in row {
                out += &format!(" {count:>5}");
            }
            out += &format!(
                " | {:5.1}%\n",
                100.0 * row[truth] as f64 / total.max(1) as f64
            );
        }
        out
    }
}

/// Predicted classes of every image of `set`, in batches of `batch_size`.
pub fn predict<B: Backend>(
    model: &ImageClassifier<B>,
    set: &ImageSet,
    batch_size: usize,
    device: &B::Device,
) -> Vec<usize> {
    let mut out = Vec::with_capacity(set.len());
    for items in set.batches(batch_size.max(1)) {
        let batch = ImageBatcher.batch_items::<B>(&items, device);
        let predicted: Vec<i64> = model
            .logits(batch.images)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .expect("class indices");
        out.extend(predicted.into_iter().map(|c| c as usize));
    }
    out
}

/// Score `model` on `set`.
pub fn evaluate<B: Backend>(
    model: &ImageClassifier<B>,
    set: &ImageSet,
    batch_size: usize,
) -> Evaluation {
    let device = model.devices().into_iter().next().unwrap_or_default();
    let predicted = predict(model, set, batch_size, &device);
    Evaluation::from_pairs(
        set.classes,
        set.labels.iter().map(|&l| l as usize).zip(predicted),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_and_accuracy() {
        let eval = Evaluation::from_pairs(3, [(0, 0), (0, 2), (1, 1), (2, 2), (2, 2)]);
        assert_eq!(
            eval.confusion,
            vec![vec![1, 0, 1], vec![0, 1, 0], vec![0, 0, 2]]
        );
        assert_eq!((eval.items, eval.correct), (5, 4));
        assert!((eval.accuracy() - 80.0).abs() < 1e-9);
        let table = eval.table(&["a", "b", "c"]);
        assert!(table.contains("0 a") && table.contains(" 50.0%"), "{table}");
    }
}
