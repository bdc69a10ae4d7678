//! [`SpeechAttention`] drawn as a PNG: the log-mel spectrogram on top, then the cross
//! attention of the alignment heads and of each decoder layer below it, one row per output
//! token, time running left to right on a shared axis (1 pixel per 10 ms frame, 2 per 20 ms
//! encoder position). Each attention row is scaled to its own maximum, so that a token's
//! focus shows whatever its spread.

use super::attention::SpeechAttention;
use crate::attention_plot::{draw_text, shade, text_width, GLYPH, INK, WHITE};
use image::{Rgb, RgbImage};

const GAP: u32 = 24;
const ROW: u32 = 12;
const MEL_ROW: u32 = 2;
const AXIS: u32 = GLYPH + 8;
const TICK: Rgb<u8> = Rgb([150, 150, 150]);

/// Which panels to draw besides the spectrogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechPanels {
    /// The alignment heads' mean only.
    Alignment,
    /// The alignment heads, then every layer's mean over its heads.
    All,
}

struct Grid<'a> {
    title: String,
    rows: &'a [Vec<f32>],
    labels: &'a [String],
    row_h: u32,
    /// Pixels per column.
    col_w: u32,
    /// Scale each row to its maximum (attention) or the whole grid to its range (spectrogram).
    per_row: bool,
    /// Draw the first row at the bottom (frequency axes).
    flip: bool,
}

/// Draw `att` as one image.
pub fn render_speech_attention(att: &SpeechAttention, which: SpeechPanels) -> RgbImage {
    let heads = att
        .alignment_heads
        .iter()
        .map(|[l, h]| format!("L{}H{}", l + 1, h + 1))
        .collect::<Vec<_>>()
        .join(" ");
    let no_labels: Vec<String> = Vec::new();
    let mut grids = vec![Grid {
        title: format!(
            "log-mel spectrogram ({} bands, low at the bottom), {:.1} s",
            att.mel.len(),
            att.seconds
        ),
        rows: &att.mel,
        labels: &no_labels,
        row_h: MEL_ROW,
        col_w: 1,
        per_row: false,
        flip: true,
    }];
    grids.push(Grid {
        title: format!("cross attention, mean of the alignment heads ({heads}); each row scaled to its maximum"),
        rows: &att.alignment,
        labels: &att.tokens,
        row_h: ROW,
        col_w: 2,
        per_row: true,
        flip: false,
    });
    if which == SpeechPanels::All {
        for (l, layer) in att.layers.iter().enumerate() {
            grids.push(Grid {
                title: format!(
                    "cross attention, decoder layer {}, mean of its heads",
                    l + 1
                ),
                rows: layer,
                labels: &att.tokens,
                row_h: ROW,
                col_w: 2,
                per_row: true,
                flip: false,
            });
        }
    }
    let label_w = att.tokens.iter().map(|t| text_width(t)).max().unwrap_or(0) + 8;
    let frames = att.mel.first().map_or(0, Vec::len) as u32;
    let heading = format!("\"{}\"", att.text);
    let width = (2 * GAP + label_w + frames)
        .max(
            grids
                .iter()
                .map(|g| text_width(&g.title))
                .max()
                .unwrap_or(0)
                + label_w
                + 2 * GAP,
        )
        .max(text_width(&heading) + 2 * GAP);
    let height = GAP
        + 2 * GLYPH
        + grids
            .iter()
            .map(|g| GLYPH + 6 + g.rows.len() as u32 * g.row_h + AXIS + GAP)
            .sum::<u32>();
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    draw_text(&mut img, GAP, GAP / 2, &heading, INK);
    let x0 = GAP + label_w;
    let mut y = GAP + 2 * GLYPH;
    for grid in &grids {
        draw_text(&mut img, x0, y, &grid.title, INK);
        y += GLYPH + 6;
        let (lo, hi) = range(grid.rows);
        let n = grid.rows.len() as u32;
        for (r, row) in grid.rows.iter().enumerate() {
            let top = if grid.flip {
                y + (n - 1 - r as u32) * grid.row_h
            } else {
                y + r as u32 * grid.row_h
            };
            if let Some(label) = grid.labels.get(r) {
                let lx = x0.saturating_sub(4 + text_width(label));
                draw_text(&mut img, lx, top + (grid.row_h - GLYPH) / 2, label, INK);
            }
            let (lo, hi) = if grid.per_row {
                (0.0, row.iter().copied().fold(0.0, f32::max))
            } else {
                (lo, hi)
            };
            for (c, &v) in row.iter().enumerate() {
                let w = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
                let color = shade(w);
                for dy in 0..grid.row_h {
                    for dx in 0..grid.col_w {
                        img.put_pixel(x0 + c as u32 * grid.col_w + dx, top + dy, color);
                    }
                }
            }
        }
        y += n * grid.row_h;
        // The time axis: a tick and its label every second (100 frames).
        let mut second = 0;
        while second * 100 <= frames {
            let x = x0 + second * 100;
            for dy in 0..4 {
                if x < width {
                    img.put_pixel(x, y + dy, TICK);
                }
            }
            draw_text(&mut img, x + 2, y + 4, &format!("{second}s"), TICK);
            second += 1;
        }
        y += AXIS + GAP;
    }
    img
}

/// The smallest and largest value of a grid.
fn range(rows: &[Vec<f32>]) -> (f32, f32) {
    rows.iter()
        .flatten()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tokens attending to opposite ends of 1 s of audio: the first row is dark on the
    /// left and light on the right, the second the other way round; the image holds the
    /// spectrogram's 100 frames and the attention's 50 positions at 2 pixels each.
    #[test]
    fn rows_are_drawn_where_their_weight_is() {
        let mut first = vec![0.0f32; 50];
        first[0] = 1.0;
        let mut second = vec![0.0f32; 50];
        second[49] = 0.5;
        let att = SpeechAttention {
            text: "hi".into(),
            tokens: vec!["hi".into(), "<|endoftext|>".into()],
            seconds: 1.0,
            mel: vec![(0..100).map(|i| i as f32).collect(); 3],
            layers: vec![vec![first.clone(), second.clone()]],
            alignment: vec![first, second],
            alignment_heads: vec![[0, 0]],
        };
        let img = render_speech_attention(&att, SpeechPanels::Alignment);
        let label_w = text_width("<|endoftext|>") + 8;
        let x0 = GAP + label_w;
        // The alignment grid starts below the heading, the spectrogram and its axis.
        let y = GAP + 2 * GLYPH + (GLYPH + 6 + 3 * MEL_ROW + AXIS + GAP) + GLYPH + 6;
        let dark = shade(1.0);
        assert_eq!(*img.get_pixel(x0, y + 1), dark);
        assert_eq!(*img.get_pixel(x0 + 98, y + 1), shade(0.0));
        assert_eq!(
            *img.get_pixel(x0 + 98, y + ROW + 1),
            dark,
            "scaled to its maximum"
        );
        assert_eq!(*img.get_pixel(x0, y + ROW + 1), shade(0.0));
        // The spectrogram: its first frame lowest (white), its last highest (dark).
        let mel_y = GAP + 2 * GLYPH + GLYPH + 6;
        assert_eq!(*img.get_pixel(x0, mel_y), shade(0.0));
        assert_eq!(*img.get_pixel(x0 + 99, mel_y), dark);
        assert!(img.width() >= x0 + 100);
    }
}
