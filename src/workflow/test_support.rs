//! A pipeline on a temporary store, for unit tests that need the real commit.

use crate::config::Config;
use crate::store::Store;
use crate::workflow::pipeline::Pipeline;

pub const REPORT: &[u8] = b"From: Alice <alice@bank.example>\r\nTo: cert@cert.example\r\nSubject: Phishing at our bank\r\nMessage-ID: <r1@bank.example>\r\n\r\nhttps://phish.example/login\r\n";

pub fn pipeline(dir: &std::path::Path) -> Pipeline {
    let toml = format!(
        "[team]\nname = \"CERT Example\"\naddress = \"cert@cert.example\"\ntag = \"CERT-EX\"\ndomain = \"cert.example\"\n\
         [store]\npath = \"{}\"\n[outbox]\ntransport = \"file\"\n[outbox.file]\ndir = \"{}\"\n",
        dir.join("store").display(),
        dir.join("outbox").display()
    );
    let cfg = Config::from_toml(&toml, &dir.join("csirtd.toml")).unwrap();
    let store = Store::open(&cfg.store.path, 8).unwrap();
    Pipeline::new(store, cfg).unwrap()
}
