//! Subjects: finding, stripping and composing ticket tags, sanitising.
#![no_main]
use csirtd::mail::subject::{sanitize, TagMatcher};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static TAGS: OnceLock<TagMatcher> = OnceLock::new();
    let tags = TAGS.get_or_init(|| TagMatcher::new("CERT-EX"));
    let s = String::from_utf8_lossy(data);
    for id in tags.find(&s) {
        let _ = tags.compose(id, &s, 200);
    }
    let _ = tags.strip(&s);
    let _ = sanitize(&s, 200);
});
