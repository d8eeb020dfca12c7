//! A property of the one reading (issue 12): whatever the MIME headers of a
//! handler-signed mail are shuffled, duplicated or bent into, either the
//! verdict is not `good` and no signed content is handed on, or the text
//! handed on (and so anything relayed or executed) is exactly the text
//! inside the signed entity. Signed by the real gpg; examined by csirtd's
//! engine, with seeded random mutants.

mod common;
use common::gpg::{signed_entity, Gpg};
use csirtd::pgp::{covered, Engine, FromFacts, Keyring, Verdict};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const HANNA: &str = "handler@cert.example";
const WORDS: &str =
    "The site is down.\r\n/status resolved\r\n\r\n> New ticket [CERT-EX #2026-00001]: x\r\n";
const INNER: &str =
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";

/// Hostile header lines an attacker adds, at the top or in the signed part.
const HOSTILE: &[&str] = &[
    "Content-Type: multipart/mixed; boundary=\"evil\"",
    "Content-Type : multipart/mixed; boundary=\"evil\"",
    "Content-Type: text/plain",
    "Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"SIG\"; boundary=\"evil\"",
    "Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"SIG\"; boundary*0=\"evil\"",
    "Content-Transfer-Encoding: base64",
    "Content-Transfer-Encoding: quoted-printable",
    "MIME-Version: 1.0",
    "MIME-Version : 1.0",
    "content-type: multipart/alternative; boundary=SIG",
    "X-Note: harmless",
];

const EVIL_PART: &str = "--evil\r\nContent-Type: text/plain\r\n\r\n/tlp clear\r\nRun http://evil.example/fix.exe\r\n\r\n";

fn mutate(rng: &mut StdRng, genuine: &str) -> String {
    let (head, body) = genuine.split_once("\r\n\r\n").expect("header end");
    let mut top: Vec<String> = head.split("\r\n").map(str::to_string).collect();
    let (pre, rest) = body.split_once("--SIG\r\n").expect("first delimiter");
    let (part, tail) = rest.split_once("\r\n--SIG\r\n").expect("second delimiter");
    let (part_head, part_body) = part.split_once("\r\n\r\n").expect("part header end");
    let mut inner: Vec<String> = part_head.split("\r\n").map(str::to_string).collect();
    let mut preamble = pre.to_string();
    for _ in 0..rng.gen_range(1..5) {
        match rng.gen_range(0..7) {
            0 => top.shuffle(rng),
            1 => {
                let i = rng.gen_range(0..top.len());
                let dup = top[i].clone();
                top.insert(rng.gen_range(0..=top.len()), dup);
            }
            2 => {
                let h = HOSTILE[rng.gen_range(0..HOSTILE.len())];
                top.insert(rng.gen_range(0..=top.len()), h.to_string());
            }
            3 => preamble = format!("{EVIL_PART}{preamble}"),
            // Changes to the signed part itself must break the signature.
            4 => inner.shuffle(rng),
            5 => {
                let h = HOSTILE[rng.gen_range(0..HOSTILE.len())];
                inner.insert(rng.gen_range(0..=inner.len()), h.to_string());
            }
            _ => preamble.push_str("--SIGX\r\n"),
        }
    }
    format!(
        "{}\r\n\r\n{preamble}--SIG\r\n{}\r\n\r\n{part_body}\r\n--SIG\r\n{tail}",
        top.join("\r\n"),
        inner.join("\r\n")
    )
}

#[test]
fn what_is_handed_on_is_the_signed_text_or_nothing() {
    let handler = Gpg::new();
    handler.gen("Hanna Handler <handler@cert.example>");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hanna.asc"), handler.export(HANNA)).unwrap();
    let engine = Engine::new(Keyring::load(dir.path()).unwrap(), None);
    let genuine = String::from_utf8(signed_entity(
        &handler,
        HANNA,
        "From: Hanna Handler <handler@cert.example>\r\nTo: cert@cert.example\r\nSubject: Re: [CERT-EX #2026-00001] x\r\nMessage-ID: <h1@cert.example>\r\n",
        &format!("{INNER}{WORDS}"),
        &[],
    ))
    .unwrap();
    let from = FromFacts {
        addresses: vec![HANNA.into()],
        header_count: 1,
        sender: None,
    };
    let ex = engine.examine(genuine.as_bytes(), &from);
    assert_eq!(
        ex.verification.status,
        Verdict::Good,
        "{:?}",
        ex.verification
    );
    let text = covered::read(ex.signed.as_ref().expect("signed")).text;
    assert_eq!(text, WORDS);

    let mut rng = StdRng::seed_from_u64(12);
    let (mut good, mut refused) = (0, 0);
    for n in 0..400 {
        let raw = mutate(&mut rng, &genuine);
        let ex = engine.examine(raw.as_bytes(), &from);
        match (&ex.verification.status, &ex.signed) {
            (Verdict::Good, Some(c)) => {
                good += 1;
                let got = covered::read(c).text;
                assert_eq!(got, text, "mutant {n} handed on other text:\n{raw}");
                let relayed = csirtd::mail::quote::strip_reply(&got);
                for line in relayed.lines() {
                    assert!(WORDS.contains(line), "mutant {n}: {line:?} is not signed");
                }
            }
            (Verdict::Good, None) => panic!("mutant {n}: good without content"),
            (_, Some(_)) => panic!("mutant {n}: content handed on for a verdict that is not good"),
            (_, None) => refused += 1,
        }
        assert!(!ex.verification.detail.is_empty());
    }
    // Both outcomes occur, or the mutations tested nothing.
    assert!(good > 20 && refused > 100, "good {good}, refused {refused}");
}
