//! Sequoia's random values, after csirtd's change to the nettle crate
//! (vendor/nettle/PATCHES.md): a default generator no longer seeds Yarrow
//! but reads the system's generator. What an attacker would look for:
//! repeated or empty values, the same key twice.

use sequoia_openpgp as openpgp;
use std::collections::HashSet;

#[test]
fn random_values_never_repeat_and_are_never_empty() {
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let mut buf = [0u8; 32];
        openpgp::crypto::random(&mut buf).unwrap();
        assert_ne!(buf, [0u8; 32], "an all-zero random value");
        assert!(seen.insert(buf), "a random value came twice");
    }
    // Lengths that are not a multiple of a block, and none at all.
    for len in [0usize, 1, 7, 33, 4096] {
        let mut buf = vec![0u8; len];
        openpgp::crypto::random(&mut buf).unwrap();
        if len >= 33 {
            assert!(buf.iter().any(|b| *b != 0), "{len} bytes all zero");
        }
    }
}

#[test]
fn generated_keys_and_session_keys_differ() {
    use openpgp::cert::CertBuilder;
    let a = CertBuilder::general_purpose(Some("a <a@example.org>"))
        .generate()
        .unwrap()
        .0;
    let b = CertBuilder::general_purpose(Some("a <a@example.org>"))
        .generate()
        .unwrap()
        .0;
    assert_ne!(a.fingerprint(), b.fingerprint());
    let s1 = openpgp::crypto::SessionKey::new(32).unwrap();
    let s2 = openpgp::crypto::SessionKey::new(32).unwrap();
    assert_ne!(&s1[..], &s2[..]);
}
