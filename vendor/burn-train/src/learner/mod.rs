#[cfg(feature = "rl")]
mod rl;
#[cfg(feature = "rl")]
pub use rl::*;

mod application_logger;
mod base;
mod classification;
mod early_stopping;
mod regression;
mod sequence;
#[cfg(feature = "ddp")]
mod sharder;
mod summary;
mod supervised;
mod train_val;

pub use application_logger::*;
pub use base::*;
pub use classification::*;
pub use early_stopping::*;
pub use regression::*;
pub use sequence::*;
#[cfg(feature = "ddp")]
pub use sharder::*;
pub use summary::*;
pub use supervised::*;
pub use train_val::*;
