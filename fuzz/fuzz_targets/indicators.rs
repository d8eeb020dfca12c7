//! Indicator extraction (IPs, domains, URLs, hashes, CVEs, refanging) over
//! arbitrary text.
#![no_main]
use csirtd::analysis::indicators::{Extractor, Found, Ignore};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static EXTRACTOR: OnceLock<Extractor> = OnceLock::new();
    let x = EXTRACTOR.get_or_init(|| Extractor::new(Ignore::default()));
    let text = String::from_utf8_lossy(data);
    let _ = x.extract(&text, &Found::Body);
});
