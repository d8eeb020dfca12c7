//! What a report says: indicators, and (with issue 6) machine-readable
//! report formats, correlation and classification.

pub mod acns;
pub mod arf;
pub mod budget;
pub mod chart;
pub mod classify;
pub mod constituency;
pub mod idn;
pub mod indicators;
pub mod iodef;
pub mod period;
pub mod query;
pub mod report;
pub mod row_fields;
pub mod shadowserver;
pub mod text;
pub mod timing;
pub mod tlp;
pub mod trends;
pub mod xarf;
