//! "Now" for the decisions that depend on age (retention, SLA due dates,
//! list periods). A debug build lets tests set it (`CSIRTD_TEST_NOW`,
//! RFC 3339), as other CSIRTD_TEST_* markers steer tests; a release build
//! always takes the clock.

use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var("CSIRTD_TEST_NOW").ok().and_then(|v| {
        OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339).ok()
    }) {
        return t;
    }
    OffsetDateTime::now_utc()
}
