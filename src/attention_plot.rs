//! Attention heatmaps as a PNG: one panel per layer and head, axes labelled with the symbols.

use image::{Rgb, RgbImage};

/// One heatmap: `weights[query][key]`, rows labelled by `rows`, columns by `cols`.
pub struct Panel {
    pub title: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub weights: Vec<Vec<f32>>,
}

const CELL: u32 = 22;
const GAP: u32 = 24;
pub(crate) const GLYPH: u32 = 8;
pub(crate) const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
pub(crate) const INK: Rgb<u8> = Rgb([20, 20, 20]);

pub(crate) fn text_width(text: &str) -> u32 {
    text.chars().count() as u32 * GLYPH
}

/// Draw ASCII text with the 8x8 bitmap font (other characters print as `?`).
pub(crate) fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, color: Rgb<u8>) {
    for (i, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY[code];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    let (px, py) = (x + i as u32 * GLYPH + col, y + row as u32);
                    if px < img.width() && py < img.height() {
                        img.put_pixel(px, py, color);
                    }
                }
            }
        }
    }
}

/// White (0) to dark blue (1).
pub(crate) fn shade(w: f32) -> Rgb<u8> {
    let w = w.clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32| (a + (b - a) * w).round() as u8;
    Rgb([lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0)])
}

fn panel_size(panel: &Panel, label_w: u32, label_h: u32) -> (u32, u32) {
    (
        label_w + panel.cols.len() as u32 * CELL,
        GLYPH + 6 + label_h + panel.rows.len() as u32 * CELL,
    )
}

/// Lay panels out in rows of `per_row` and draw them with a heading.
pub fn render(heading: &str, panels: &[Panel], per_row: usize) -> RgbImage {
    let per_row = per_row.max(1);
    let label_w = panels
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|s| text_width(s))
        .max()
        .unwrap_or(0)
        + 6;
    // Column labels are written vertically, one character per line.
    let label_h = panels
        .iter()
        .flat_map(|p| p.cols.iter())
        .map(|s| s.chars().count() as u32 * GLYPH)
        .max()
        .unwrap_or(0)
        + 4;
    let sizes: Vec<(u32, u32)> = panels
        .iter()
        .map(|p| panel_size(p, label_w, label_h))
        .collect();
    let col_w = sizes.iter().map(|s| s.0).max().unwrap_or(0);
    let row_h = sizes.iter().map(|s| s.1).max().unwrap_or(0);
    let n_rows = panels.len().div_ceil(per_row) as u32;
    let width = (GAP + per_row as u32 * (col_w + GAP)).max(text_width(heading) + 2 * GAP);
    let height = GAP + 2 * GLYPH + n_rows * (row_h + GAP);
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    draw_text(&mut img, GAP, GAP / 2, heading, INK);

    for (i, panel) in panels.iter().enumerate() {
        let x0 = GAP + (i % per_row) as u32 * (col_w + GAP);
        let y0 = GAP + 2 * GLYPH + (i / per_row) as u32 * (row_h + GAP);
        draw_text(&mut img, x0 + label_w, y0, &panel.title, INK);
        let grid_y = y0 + GLYPH + 6 + label_h;
        for (c, label) in panel.cols.iter().enumerate() {
            let x = x0 + label_w + c as u32 * CELL + (CELL - GLYPH) / 2;
            for (k, ch) in label.chars().enumerate() {
                draw_text(
                    &mut img,
                    x,
                    y0 + GLYPH + 6 + k as u32 * GLYPH,
                    &ch.to_string(),
                    INK,
                );
            }
        }
        for (r, label) in panel.rows.iter().enumerate() {
            let y = grid_y + r as u32 * CELL + (CELL - GLYPH) / 2;
            draw_text(
                &mut img,
                x0 + label_w - 4 - text_width(label),
                y,
                label,
                INK,
            );
            for (c, &w) in panel.weights[r].iter().enumerate() {
                let color = shade(w);
                for dy in 1..CELL {
                    for dx in 1..CELL {
                        img.put_pixel(
                            x0 + label_w + c as u32 * CELL + dx,
                            grid_y + r as u32 * CELL + dy,
                            color,
                        );
                    }
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavier_weights_are_darker_and_the_grid_has_its_size() {
        let panel = Panel {
            title: "L1 H1".into(),
            rows: vec!["K".into(), "AE1".into()],
            cols: vec!["c".into(), "a".into(), "t".into()],
            weights: vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.5, 0.5]],
        };
        let img = render("cross-attention", &[panel], 1);
        assert!(img.width() >= 3 * CELL && img.height() >= 2 * CELL);
        // Find the darkest and lightest cell colours drawn.
        let dark = shade(1.0);
        let mid = shade(0.5);
        assert!(img.pixels().any(|p| *p == dark));
        assert!(img.pixels().any(|p| *p == mid));
        assert!(dark.0[0] < mid.0[0] && mid.0[0] < 255);
    }
}

/// Which attention of a decoded input to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Decoder queries over encoder keys.
    Cross,
    /// Encoder self-attention.
    Encoder,
    /// Masked decoder self-attention.
    Decoder,
}

/// One panel per layer and head of the chosen attention (`None`: all three, cross first), with
/// the tokens on each axis, and the number of heads (panels per row).
pub fn panels(maps: &crate::infer::AttentionMaps, which: Option<Section>) -> (Vec<Panel>, usize) {
    // Decoder position i reads BEGIN and the outputs before i.
    let mut decoder_keys = vec!["<s>".to_string()];
    decoder_keys.extend(maps.output[..maps.output.len() - 1].iter().cloned());
    let sections = [
        (
            Section::Cross,
            "cross",
            &maps.cross,
            &maps.output,
            &maps.source,
        ),
        (
            Section::Encoder,
            "enc-self",
            &maps.encoder,
            &maps.source,
            &maps.source,
        ),
        (
            Section::Decoder,
            "dec-self",
            &maps.decoder,
            &maps.output,
            &decoder_keys,
        ),
    ];
    let mut panels = Vec::new();
    let mut heads = 1;
    for (section, name, layers, rows, cols) in sections {
        if which.is_some_and(|w| w != section) {
            continue;
        }
        for (l, layer) in layers.iter().enumerate() {
            heads = layer.len();
            for (h, weights) in layer.iter().enumerate() {
                panels.push(Panel {
                    title: format!("{name} L{} H{}", l + 1, h + 1),
                    rows: rows.clone(),
                    cols: cols.clone(),
                    weights: weights.clone(),
                });
            }
        }
    }
    (panels, heads)
}
