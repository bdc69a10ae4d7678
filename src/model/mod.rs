//! The Transformer (Vaswani et al. 2017), one file per concept.

pub mod attention;
pub mod ctc;
pub mod decoder;
pub mod dropout;
pub mod encoder;
pub mod feed_forward;
pub mod frontend;
pub mod mask;
pub mod positional;
pub mod sublayer;
pub mod tokenwise;
pub mod transformer;

pub use attention::{MhaOutput, MultiHeadAttention, MultiHeadAttentionConfig};
pub use decoder::{
    Decoder, DecoderCache, DecoderConfig, DecoderLayer, DecoderOutput, LayerCache, LayerStep,
};
pub use encoder::{Encoder, EncoderConfig, EncoderLayer, EncoderOutput};
pub use feed_forward::{Activation, FeedForward, FeedForwardConfig};
pub use positional::{Positional, PositionalEncoding, PositionalEncodingConfig};
pub use transformer::{ConfigError, DecoderKind, Transformer, TransformerConfig};
