//! What a report says: indicators, and (with issue 6) machine-readable
//! report formats, correlation and classification.

pub mod arf;
pub mod indicators;
pub mod text;
pub mod xarf;
