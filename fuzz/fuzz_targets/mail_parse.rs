//! The intake's parse of hostile bytes: facts, flags and the analysis
//! that reads the parsed message (indicators, machine reports).
#![no_main]
use csirtd::config::LimitsConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = LimitsConfig {
        max_message_size: 1 << 20,
        max_stored_size: 4 << 20,
        max_mime_depth: 16,
        max_parts: 200,
        ..LimitsConfig::default()
    };
    let _ = csirtd::mail::parse::parse(data, &limits);
    let _ = csirtd::mail::body::text_of(data, None, 1 << 20);
});
