//! How `Predictor::predict_many` cuts its inputs into batches for its threads.

use std::ops::Range;

/// Cut inputs sorted by length (`lengths`, ascending) into batches of at most `batch_size`,
/// at least one per thread when there are enough inputs: a batch larger than a thread's share
/// is split. When that leaves one batch per thread (`--batch-size` at least the share, e.g.
/// all inputs at once), the cut points balance the batches' total length instead of their
/// counts, since decoding time grows with length: cut by counts, the thread with the longest
/// half of the inputs worked alone at the end. Returns ranges into the sorted order.
pub(super) fn batch_ranges(
    lengths: &[usize],
    batch_size: usize,
    threads: usize,
) -> Vec<Range<usize>> {
    let n = lengths.len();
    let threads = threads.max(1);
    let share = n.div_ceil(threads).max(1);
    let size = batch_size.clamp(1, share);
    let by_count = || (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect();
    if size < share || threads == 1 || n < threads {
        return by_count();
    }
    // The decoding cost of an input: its tokens plus BEGIN and END.
    let total: usize = lengths.iter().map(|l| l + 2).sum();
    let mut ranges = Vec::with_capacity(threads);
    let (mut start, mut sum) = (0, 0);
    for (i, len) in lengths.iter().enumerate() {
        sum += len + 2;
        let done = ranges.len() + 1;
        // Close a batch once it reaches its share of the total, leaving an input for each
        // batch still to come (and close it when only that many are left).
        let left = n - (i + 1);
        let reached = sum * threads >= total * done;
        if done < threads && left >= threads - done && (reached || left == threads - done) {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    ranges.push(start..n);
    if ranges.iter().any(|r| r.len() > batch_size) {
        return by_count();
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::batch_ranges;

    /// The ranges cover 0..n in order, without gaps or overlaps.
    fn assert_partition(ranges: &[std::ops::Range<usize>], n: usize) {
        let mut at = 0;
        for r in ranges {
            assert_eq!(r.start, at, "{ranges:?}");
            assert!(r.end > r.start, "empty batch in {ranges:?}");
            at = r.end;
        }
        assert_eq!(at, n, "{ranges:?}");
    }

    #[test]
    fn batches_below_a_threads_share_are_cut_by_count() {
        let lengths: Vec<usize> = (0..10).collect();
        let ranges = batch_ranges(&lengths, 3, 2);
        assert_eq!(ranges, vec![0..3, 3..6, 6..9, 9..10]);
        // One thread: one batch of everything when the batch size allows it.
        assert_eq!(batch_ranges(&lengths, 64, 1), vec![0..10]);
    }

    #[test]
    fn one_batch_per_thread_balances_total_length_not_counts() {
        // Sorted lengths 1..=100: cut by count, the second half holds 3,775 + 100 of the
        // 5,250 + 200 units of work (cost = length + 2): 71%.
        let lengths: Vec<usize> = (1..=100).collect();
        let ranges = batch_ranges(&lengths, 1000, 2);
        assert_partition(&ranges, 100);
        assert_eq!(ranges.len(), 2);
        let cost =
            |r: &std::ops::Range<usize>| lengths[r.clone()].iter().map(|l| l + 2).sum::<usize>();
        let (a, b) = (cost(&ranges[0]), cost(&ranges[1]));
        assert!(a.abs_diff(b) <= 102, "{a} vs {b}: {ranges:?}");
        assert!(ranges[0].len() > ranges[1].len(), "{ranges:?}");
        // Three threads.
        let ranges = batch_ranges(&lengths, 1000, 3);
        assert_partition(&ranges, 100);
        assert_eq!(ranges.len(), 3);
        let costs: Vec<usize> = ranges.iter().map(cost).collect();
        let (lo, hi) = (costs.iter().min().unwrap(), costs.iter().max().unwrap());
        // Within two inputs' cost of each other (a cut falls between inputs).
        assert!(hi - lo <= 2 * 102, "{costs:?}");
    }

    #[test]
    fn a_balanced_cut_never_exceeds_the_batch_size_or_leaves_a_thread_empty() {
        // The batch size is the share: balancing would make the short batch larger than it.
        let lengths: Vec<usize> = (1..=100).collect();
        assert_eq!(batch_ranges(&lengths, 50, 2), vec![0..50, 50..100]);
        // Equal lengths: the balanced cut is the count cut.
        assert_eq!(batch_ranges(&[5; 9], 64, 3), vec![0..3, 3..6, 6..9]);
        // One very long input: every thread still gets a batch.
        let mut skewed = vec![1; 5];
        skewed.push(1000);
        let ranges = batch_ranges(&skewed, 64, 3);
        assert_partition(&ranges, 6);
        assert_eq!(ranges.len(), 3);
        // Fewer inputs than threads: one each.
        assert_eq!(batch_ranges(&[3, 4], 64, 4), vec![0..1, 1..2]);
        assert!(batch_ranges(&[], 64, 2).is_empty());
    }
}
