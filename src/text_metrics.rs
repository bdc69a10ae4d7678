//! BLEU and chrF with sacreBLEU's default definitions (sacreBLEU 2.x: BLEU with the `13a`
//! tokeniser, 4-grams, `exp` smoothing; chrF with character 6-grams, beta 2, whitespace
//! removed). Checked against values sacreBLEU computed (`scripts/sacrebleu_reference.py`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// sacreBLEU's `13a` tokeniser (mteval-v13a).
pub fn tokenize_13a(line: &str) -> Vec<String> {
    static RULES: OnceLock<[(regex::Regex, &'static str); 3]> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            // period and comma, unless preceded by a digit
            (regex::Regex::new(r"([^0-9])([\.,])").unwrap(), "$1 $2 "),
            // period and comma, unless followed by a digit
            (regex::Regex::new(r"([\.,])([^0-9])").unwrap(), " $1 $2"),
            // dash preceded by a digit
            (regex::Regex::new(r"([0-9])(-)").unwrap(), "$1 $2 "),
        ]
    });
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    // Most ASCII punctuation becomes its own token (the apostrophe, period, comma and dash are
    // handled by the rules above or not at all).
    let mut spaced = String::with_capacity(line.len() + 8);
    spaced.push(' ');
    for c in line.chars() {
        if matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/') {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    spaced.push(' ');
    for (re, replacement) in rules {
        spaced = re.replace_all(&spaced, *replacement).into_owned();
    }
    spaced.split_whitespace().map(String::from).collect()
}

fn ngrams<T: std::hash::Hash + Eq + Clone>(items: &[T], n: usize) -> HashMap<Vec<T>, usize> {
    let mut counts = HashMap::new();
    if items.len() >= n {
        for window in items.windows(n) {
            *counts.entry(window.to_vec()).or_insert(0) += 1;
        }
    }
    counts
}

/// Corpus BLEU and its parts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bleu {
    pub score: f64,
    pub precisions: [f64; 4],
    pub brevity_penalty: f64,
    pub hyp_len: usize,
    pub ref_len: usize,
}

/// Corpus BLEU of `hypotheses` against `references` (one or more per hypothesis).
pub fn corpus_bleu(hypotheses: &[String], references: &[Vec<String>]) -> Bleu {
    let mut correct = [0usize; 4];
    let mut total = [0usize; 4];
    let (mut hyp_len, mut ref_len) = (0usize, 0usize);
    for (hyp, refs) in hypotheses.iter().zip(references) {
        let hyp = tokenize_13a(hyp);
        let refs: Vec<Vec<String>> = refs.iter().map(|r| tokenize_13a(r)).collect();
        hyp_len += hyp.len();
        // The closest reference length; ties go to the shorter reference.
        ref_len += refs
            .iter()
            .map(|r| r.len())
            .min_by_key(|&len| (len.abs_diff(hyp.len()), len))
            .unwrap_or(0);
        for n in 1..=4 {
            let hyp_counts = ngrams(&hyp, n);
            let mut max_ref: HashMap<Vec<String>, usize> = HashMap::new();
            for r in &refs {
                for (gram, count) in ngrams(r, n) {
                    let slot = max_ref.entry(gram).or_insert(0);
                    *slot = (*slot).max(count);
                }
            }
            correct[n - 1] += hyp_counts
                .iter()
                .map(|(gram, &count)| count.min(max_ref.get(gram).copied().unwrap_or(0)))
                .sum::<usize>();
            total[n - 1] += hyp.len().saturating_sub(n - 1);
        }
    }
    let mut precisions = [0.0; 4];
    let mut smooth = 1.0;
    for n in 0..4 {
        if total[n] == 0 {
            break;
        }
        precisions[n] = if correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total[n] as f64)
        } else {
            100.0 * correct[n] as f64 / total[n] as f64
        };
    }
    let brevity_penalty = if hyp_len >= ref_len {
        1.0
    } else if hyp_len == 0 {
        0.0
    } else {
        (1.0 - ref_len as f64 / hyp_len as f64).exp()
    };
    let score = if correct[0] == 0 {
        0.0
    } else {
        let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
        brevity_penalty * (precisions.iter().map(|&p| log(p)).sum::<f64>() / 4.0).exp()
    };
    Bleu {
        score,
        precisions,
        brevity_penalty,
        hyp_len,
        ref_len,
    }
}

/// [hyp, ref, match] counts of character n-grams for n = 1..=6.
fn chrf_stats(hyp: &[char], reference: &[char]) -> Vec<[usize; 3]> {
    (1..=6)
        .map(|n| {
            let h = ngrams(hyp, n);
            let r = ngrams(reference, n);
            let matched = h
                .iter()
                .map(|(gram, &count)| count.min(r.get(gram).copied().unwrap_or(0)))
                .sum();
            [h.values().sum(), r.values().sum(), matched]
        })
        .collect()
}

/// sacreBLEU's chrF F-score of summed statistics (beta 2, effective-order averaging).
fn chrf_from_stats(stats: &[[usize; 3]]) -> f64 {
    let factor = 4.0; // beta^2
    let (mut avg_prec, mut avg_rec, mut order) = (0.0, 0.0, 0);
    for &[n_hyp, n_ref, n_match] in stats {
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += n_match as f64 / n_hyp as f64;
            avg_rec += n_match as f64 / n_ref as f64;
            order += 1;
        }
    }
    if order == 0 {
        return 0.0;
    }
    avg_prec /= order as f64;
    avg_rec /= order as f64;
    if avg_prec + avg_rec == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec)
}

/// Corpus chrF: per sentence the reference with the best F-score, statistics summed.
pub fn corpus_chrf(hypotheses: &[String], references: &[Vec<String>]) -> f64 {
    let strip = |s: &str| {
        s.split_whitespace()
            .collect::<String>()
            .chars()
            .collect::<Vec<char>>()
    };
    let mut total = vec![[0usize; 3]; 6];
    for (hyp, refs) in hypotheses.iter().zip(references) {
        let hyp = strip(hyp);
        let best = refs
            .iter()
            .map(|r| chrf_stats(&hyp, &strip(r)))
            .max_by(|a, b| chrf_from_stats(a).total_cmp(&chrf_from_stats(b)));
        if let Some(stats) = best {
            for (t, s) in total.iter_mut().zip(stats) {
                for k in 0..3 {
                    t[k] += s[k];
                }
            }
        }
    }
    chrf_from_stats(&total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_13a_splits_punctuation_but_not_numbers() {
        assert_eq!(
            tokenize_13a("It's 3.5 km, isn't it?"),
            vec!["It's", "3.5", "km", ",", "isn't", "it", "?"]
        );
        assert_eq!(tokenize_13a("end."), vec!["end", "."]);
        assert_eq!(tokenize_13a("1-2 a-b"), vec!["1", "-", "2", "a-b"]);
    }

    #[test]
    fn matches_sacrebleu_on_the_fixture() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sacrebleu.json");
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let strings = |key: &str| -> Vec<String> {
            fixture[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let hyps = strings("hypotheses");
        let refs: Vec<Vec<String>> = strings("references").into_iter().map(|r| vec![r]).collect();
        let bleu = corpus_bleu(&hyps, &refs);
        let f = |key: &str| fixture[key].as_f64().unwrap();
        assert!(
            (bleu.score - f("bleu")).abs() < 1e-9,
            "{} vs {}",
            bleu.score,
            f("bleu")
        );
        assert!((bleu.brevity_penalty - f("bleu_bp")).abs() < 1e-12);
        assert_eq!(bleu.hyp_len as f64, f("bleu_sys_len"));
        assert_eq!(bleu.ref_len as f64, f("bleu_ref_len"));
        for (ours, theirs) in bleu
            .precisions
            .iter()
            .zip(fixture["bleu_precisions"].as_array().unwrap())
        {
            assert!((ours - theirs.as_f64().unwrap()).abs() < 1e-9);
        }
        let chrf = corpus_chrf(&hyps, &refs);
        assert!((chrf - f("chrf")).abs() < 1e-9, "{chrf} vs {}", f("chrf"));
    }

    #[test]
    fn identical_text_scores_100_and_disjoint_text_scores_0() {
        let text = vec!["a b c d e".to_string()];
        let refs = vec![vec!["a b c d e".to_string()]];
        assert!((corpus_bleu(&text, &refs).score - 100.0).abs() < 1e-9);
        assert!((corpus_chrf(&text, &refs) - 100.0).abs() < 1e-9);
        let other = vec![vec!["x y z w v".to_string()]];
        assert_eq!(corpus_bleu(&text, &other).score, 0.0);
        assert_eq!(corpus_chrf(&text, &other), 0.0);
    }
}
