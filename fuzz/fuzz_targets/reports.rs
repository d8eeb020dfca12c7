//! The machine-report readers: ARF, X-ARF, IODEF, ACNS, Shadowserver
//! (mail, zip and CSV), and the receiving MTA's Authentication-Results.
#![no_main]
use csirtd::analysis::{acns, arf, iodef, shadowserver, xarf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(m) = mail_parser::MessageParser::default().parse(data) {
        let _ = arf::parse(&m);
        let _ = xarf::parse(&m);
        let _ = iodef::parse(&m);
        let _ = acns::parse(&m);
        let _ = shadowserver::parse(&m);
    }
    let text = String::from_utf8_lossy(data);
    let _ = iodef::parse_document(&text);
    let _ = acns::parse_xml(&text);
    let _ = csirtd::auth::trusted::from_results(data, "mx.cert.example");
    let _ = shadowserver::parse_csv(&text);
    let _ = shadowserver::unzip_csv(data, 64 << 20);
    let _ = shadowserver::report_type_of(&text);
});
