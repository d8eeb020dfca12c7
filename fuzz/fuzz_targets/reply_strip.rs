//! A handler's reply: quote stripping, commands and advisory requests.
#![no_main]
use csirtd::mail::quote::strip_reply;
use csirtd::workflow::{advisory, commands};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let stripped = strip_reply(&s);
    // Every line kept is a line of the input: nothing is made up.
    for line in stripped.lines() {
        assert!(s.contains(line));
    }
    let _ = commands::parse(&stripped);
    let _ = advisory::parse_mail(&s);
});
