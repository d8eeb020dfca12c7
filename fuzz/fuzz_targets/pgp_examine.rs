//! OpenPGP examine and verify: the MIME walk, inline armor, decryption and
//! signature checks, and the reading of what a signature covers. With a
//! keyring of the shared corpus's keys when CSIRTD_FUZZ_KEYRING names a
//! directory, else empty (signatures are then unknown-key, and the walk and
//! packet parsing are still exercised).
#![no_main]
use csirtd::pgp::{covered, Engine, FromFacts, Keyring};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let ring = std::env::var_os("CSIRTD_FUZZ_KEYRING")
            .and_then(|d| Keyring::load(std::path::Path::new(&d)).ok())
            .unwrap_or_default();
        Engine::new(ring, None)
    })
}

fuzz_target!(|data: &[u8]| {
    let from = FromFacts {
        addresses: vec!["alice@openpgp.example".into()],
        header_count: 1,
        sender: None,
    };
    let ex = engine().examine(data, &from);
    if let Some(c) = &ex.signed {
        let _ = covered::read(c);
    }
});
