//! What a pixel attends to: for one image and one query token (a pixel, a patch, or the class
//! token), its attention over the image in every layer and head, drawn over the image as a
//! PNG. A CNN's receptive field is fixed by its kernels; this is the learned one.

use super::image_transformer::ImageTransformer;
use crate::attention_plot::{draw_text, shade, text_width, GLYPH, INK, WHITE};
use burn::prelude::*;
use image::{Rgb, RgbImage};

/// Screen pixels per image pixel.
const SCALE: u32 = 5;
const GAP: u32 = 12;
const MARK: Rgb<u8> = Rgb([220, 30, 30]);

/// Which token's attention to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// The token holding this pixel (row, column of the image the model reads).
    Pixel(usize, usize),
    /// The class token (a model with class-token pooling).
    Class,
}

/// Why the map cannot be drawn.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AttentionMapError {
    #[error("pixel ({row}, {col}) is outside the {height}x{width} image")]
    Outside {
        row: usize,
        col: usize,
        height: usize,
        width: usize,
    },
    #[error("this model pools by the mean: it has no class token")]
    NoClassToken,
}

/// One image's attention maps for `query`: `maps[layer][head]` is the query token's weight
/// on every grid cell (row-major `grid.0 x grid.1`; the class token's own weight left out).
#[derive(Debug, Clone)]
pub struct AttentionMaps {
    pub grid: (usize, usize),
    pub patch: usize,
    /// The grid cell of the query, `None` for the class token.
    pub cell: Option<(usize, usize)>,
    pub maps: Vec<Vec<Vec<f32>>>,
}

/// Run `model` on one image (`pixels`, row-major `height x width`, values `0..=255`) and
/// collect the query's attention.
pub fn attention_maps<B: Backend>(
    model: &ImageTransformer<B>,
    pixels: &[u8],
    height: usize,
    width: usize,
    query: Query,
    device: &B::Device,
) -> Result<AttentionMaps, AttentionMapError> {
    let patch = model.patch_size();
    let grid = (height / patch, width / patch);
    let class = model.class_token.is_some();
    let (token, cell) = match query {
        Query::Pixel(row, col) => {
            if row >= height || col >= width {
                return Err(AttentionMapError::Outside {
                    row,
                    col,
                    height,
                    width,
                });
            }
            let cell = (row / patch, col / patch);
            (usize::from(class) + cell.0 * grid.1 + cell.1, Some(cell))
        }
        Query::Class if class => (0, None),
        Query::Class => return Err(AttentionMapError::NoClassToken),
    };
    let values: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let images = Tensor::<B, 3>::from_data(TensorData::new(values, [1, height, width]), device);
    let out = model.forward(images);
    let first = usize::from(class);
    let maps = out
        .weights
        .into_iter()
        .map(|weights| {
            let [_, heads, tokens, _] = weights.dims();
            let row: Vec<f32> = weights
                .slice([0..1, 0..heads, token..token + 1, 0..tokens])
                .into_data()
                .convert::<f32>()
                .to_vec()
                .expect("f32 weights");
            row.chunks(tokens)
                .map(|head| head[first..].to_vec())
                .collect()
        })
        .collect();
    Ok(AttentionMaps {
        grid,
        patch,
        cell,
        maps,
    })
}

/// Draw the image with the query marked, then for every layer a row of heads: the image in
/// grey under the attention in blue (each map scaled to its own largest weight).
pub fn render(
    heading: &str,
    pixels: &[u8],
    height: usize,
    width: usize,
    maps: &AttentionMaps,
) -> RgbImage {
    let (w, h) = (width as u32 * SCALE, height as u32 * SCALE);
    let heads = maps.maps.first().map_or(0, Vec::len) as u32;
    let label = GLYPH + 4;
    let cell_w = w + GAP;
    let cell_h = h + label + GAP;
    let layers = maps.maps.len() as u32;
    let width_px = (GAP + (heads + 1) * cell_w).max(text_width(heading) + 2 * GAP);
    let height_px = GAP + label + layers.max(1) * cell_h;
    let mut img = RgbImage::from_pixel(width_px, height_px, WHITE);
    draw_text(&mut img, GAP, GAP / 2, heading, INK);
    let grey = |p: u8| {
        let v = 255 - p; // dark garments on white, as the dataset's pictures are shown
        Rgb([v, v, v])
    };
    let top = GAP + label;
    for (l, layer) in maps.maps.iter().enumerate() {
        let y0 = top + l as u32 * cell_h;
        // The image itself, with the query's cell outlined.
        draw_text(&mut img, GAP, y0, &format!("layer {}", l + 1), INK);
        let y_img = y0 + label;
        let panel = Panel {
            y: y_img,
            height,
            width,
            cell: maps.cell.map(|cell| (cell, maps.patch as u32 * SCALE)),
        };
        panel.draw(&mut img, GAP, |r, c| grey(pixels[r * width + c]));
        for (head, weights) in layer.iter().enumerate() {
            let x0 = GAP + (head as u32 + 1) * cell_w;
            draw_text(&mut img, x0, y0, &format!("head {}", head + 1), INK);
            let max = weights.iter().cloned().fold(f32::MIN_POSITIVE, f32::max);
            panel.draw(&mut img, x0, |r, c| {
                let at = (r / maps.patch) * maps.grid.1 + c / maps.patch;
                let heat = shade(weights[at] / max);
                let under = grey(pixels[r * width + c]);
                // The image shows faintly through the heat.
                let mix = |a: u8, b: u8| ((a as u32 * 3 + b as u32) / 4) as u8;
                Rgb([
                    mix(heat[0], under[0]),
                    mix(heat[1], under[1]),
                    mix(heat[2], under[2]),
                ])
            });
        }
    }
    img
}

/// Where one image-sized panel of a layer's row goes, and the query cell to outline.
struct Panel {
    y: u32,
    height: usize,
    width: usize,
    /// The query's grid cell and its side in screen pixels.
    cell: Option<((usize, usize), u32)>,
}

impl Panel {
    /// Fill the panel at `x` pixel by pixel with `color(row, col)`, then outline the query.
    fn draw(&self, img: &mut RgbImage, x: u32, color: impl Fn(usize, usize) -> Rgb<u8>) {
        for r in 0..self.height {
            for c in 0..self.width {
                let (px, py) = (x + c as u32 * SCALE, self.y + r as u32 * SCALE);
                fill(img, px, py, SCALE, SCALE, color(r, c));
            }
        }
        if let Some(((row, col), side)) = self.cell {
            outline(
                img,
                x + col as u32 * side,
                self.y + row as u32 * side,
                side,
                MARK,
            );
        }
    }
}

fn fill(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, color: Rgb<u8>) {
    for py in y..(y + h).min(img.height()) {
        for px in x..(x + w).min(img.width()) {
            img.put_pixel(px, py, color);
        }
    }
}

fn outline(img: &mut RgbImage, x: u32, y: u32, side: u32, color: Rgb<u8>) {
    let last = side.saturating_sub(1);
    for i in 0..side {
        for (px, py) in [(x + i, y), (x + i, y + last), (x, y + i), (x + last, y + i)] {
            if px < img.width() && py < img.height() {
                img.put_pixel(px, py, color);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::TestBackend as B;
    use crate::vision::image_transformer::{ImageTransformerConfig, Pooling};

    #[test]
    fn maps_cover_the_grid_and_sum_to_at_most_one() {
        let device = Default::default();
        // 6x8 image, patches of 2: a 3x4 grid; 2 layers of 3 heads.
        let model = ImageTransformerConfig::new(6, 8, 5)
            .with_patch(2)
            .with_d_model(12)
            .with_n_heads(3)
            .init::<B>(&device);
        let pixels: Vec<u8> = (0..48).map(|i| (i * 5) as u8).collect();
        let maps = attention_maps(&model, &pixels, 6, 8, Query::Pixel(5, 3), &device).unwrap();
        assert_eq!((maps.grid, maps.cell), ((3, 4), Some((2, 1))));
        assert_eq!(maps.maps.len(), 2);
        assert_eq!(maps.maps[0].len(), 3);
        for head in &maps.maps[1] {
            assert_eq!(head.len(), 12);
            // The class token's share is left out: the rest sums to below 1.
            let sum: f32 = head.iter().sum();
            assert!(sum > 0.0 && sum < 1.0, "{sum}");
        }
        let png = render("test", &pixels, 6, 8, &maps);
        assert_eq!(png.width(), GAP + 4 * (8 * SCALE + GAP));
        let err = attention_maps(&model, &pixels, 6, 8, Query::Pixel(6, 0), &device).unwrap_err();
        assert!(matches!(err, AttentionMapError::Outside { .. }));
        let mean = ImageTransformerConfig::new(6, 8, 5)
            .with_patch(2)
            .with_d_model(12)
            .with_n_heads(3)
            .with_pooling(Pooling::Mean)
            .init::<B>(&device);
        let err = attention_maps(&mean, &pixels, 6, 8, Query::Class, &device).unwrap_err();
        assert_eq!(err, AttentionMapError::NoClassToken);
    }
}
