//! Paragraphs in, sentences out: a line cut at Unicode sentence boundaries (UAX #29), so that
//! a model trained on single sentences translates a paragraph one sentence at a time, and the
//! outputs joined back on one line (`seq2seq infer --split-sentences`; the server's paragraph
//! inputs use the same two functions).

use unicode_segmentation::UnicodeSegmentation;

/// The sentences of `line` in order, each trimmed; whitespace-only pieces are dropped, so a
/// blank line has none. UAX #29 ends a sentence after `.`, `?` or `!` (and their closing
/// quotes and brackets) followed by a space and a capital or another sentence start, and at
/// paragraph separators; it does not know abbreviations ("Dr. Smith" is two pieces).
pub fn split_sentences(line: &str) -> Vec<&str> {
    line.split_sentence_bounds()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The outputs of one line's sentences, joined back in order with single spaces (empty
/// outputs skipped).
pub fn join_sentences<S: AsRef<str>>(outputs: &[S]) -> String {
    outputs
        .iter()
        .map(|s| s.as_ref().trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paragraph_is_cut_after_its_sentence_ends() {
        assert_eq!(
            split_sentences(
                "A man is riding a bicycle. Two dogs play!  Where is the cat? \"Here.\" Fine"
            ),
            [
                "A man is riding a bicycle.",
                "Two dogs play!",
                "Where is the cat?",
                "\"Here.\"",
                "Fine"
            ]
        );
        // A decimal point or a lowercase continuation is no boundary.
        assert_eq!(
            split_sentences("It costs 3.50 euros. ok then"),
            ["It costs 3.50 euros. ok then"]
        );
        assert_eq!(split_sentences("Ein Satz."), ["Ein Satz."]);
        assert!(split_sentences("   ").is_empty());
        assert!(split_sentences("").is_empty());
        // Non-Latin scripts: the ideographic full stop ends a sentence too.
        assert_eq!(
            split_sentences("我们走。你们呢？"),
            ["我们走。", "你们呢？"]
        );
    }

    #[test]
    fn outputs_are_joined_in_order() {
        assert_eq!(
            join_sentences(&["Ein Mann fährt.", " ", "Zwei Hunde. "]),
            "Ein Mann fährt. Zwei Hunde."
        );
        assert_eq!(join_sentences::<&str>(&[]), "");
    }
}
