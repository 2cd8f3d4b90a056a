//! Tests of the certificate toolkit against fixtures whose values were computed with
//! OpenSSL (`openssl x509 -noout -fingerprint -sha1|-sha256 -serial -dates`) and Python's
//! `base64` module, never with this crate.

use intune_integration::CertificateError;
use intune_integration::certs::{
    Certificate, MAX_INPUT_BYTES, Sha1Fingerprint, Sha256Fingerprint, order_chains,
};
use time::macros::datetime;

const ROOT: &str = include_str!("data/root.pem");
const ROOT2: &str = include_str!("data/root2.pem");
const INTER: &str = include_str!("data/inter.pem");
const LEAF: &str = include_str!("data/leaf.pem");
const ISE: &str = include_str!("data/ise-selfsigned.pem");
const LEAF_KEY: &str = include_str!("data/leaf-key.pem");

// openssl x509 -in leaf.pem -noout -fingerprint -sha1 / -sha256
const LEAF_SHA1: &str = "92562573EA182C6F9BC75386F38C511D7E3CBBFA";
const LEAF_SHA256: &str = "089E303A3F8E373473E23D1B2433A6D151396FAFCE7EAC3F6035541196CEF71C";
// python3: base64.b64encode / urlsafe_b64encode(...).rstrip('=') of the digests above
const LEAF_GRAPH_KEY_ID: &str = "klYlc+oYLG+bx1OG84xRHX48u/o=";
const LEAF_X5T: &str = "klYlc-oYLG-bx1OG84xRHX48u_o";
const LEAF_X5T_S256: &str = "CJ4wOj-ONzRz4j0bJDOm0VE5b6_Ofqw_YDVUEZbO9xw";

fn one(pem: &str) -> Certificate {
    Certificate::from_pem(pem).expect("fixture parses")
}

#[test]
fn leaf_fields_match_openssl() {
    let leaf = one(LEAF);
    assert_eq!(leaf.sha1().to_hex(), LEAF_SHA1);
    assert_eq!(leaf.sha256().to_hex(), LEAF_SHA256);
    assert_eq!(leaf.graph_key_identifier(), LEAF_GRAPH_KEY_ID);
    assert_eq!(leaf.x5t(), LEAF_X5T);
    assert_eq!(leaf.x5t_s256(), LEAF_X5T_S256);
    assert_eq!(leaf.subject(), "CN=ise.example.test,O=Example Test");
    assert_eq!(
        leaf.issuer(),
        "CN=Example Test Intermediate,O=Example Test,C=US"
    );
    assert_eq!(leaf.common_name().as_deref(), Some("ise.example.test"));
    assert_eq!(leaf.serial(), "ABCDEF");
    assert_eq!(leaf.not_before(), datetime!(2026-11-27 00:22:33 UTC));
    assert_eq!(leaf.not_after(), datetime!(2029-03-01 00:22:33 UTC));
    assert!(!leaf.is_ca());
    assert!(!leaf.is_self_issued());
    assert!(leaf.is_valid_at(datetime!(2027-01-01 00:00:00 UTC)));
    assert!(!leaf.is_valid_at(datetime!(2029-03-01 00:22:34 UTC)));
}

#[test]
fn other_fixtures_match_openssl() {
    let cases = [
        (
            ROOT,
            "454EDA8B9BC01A6EC6EE606AC473DD1899479723",
            "248D867DF18749C1AC0E90B7E725ADC862CEB4E390F9D9E8FB7DEA082B60D717",
            "71E92A5F8858A274932DA7E892C2BB4AF6E2F785",
            true,
        ),
        (
            INTER,
            "C4A122385447A432FB851420D761F58CA00D057C",
            "74DB79B8519E5693D655512207AF3DBCDCD6E287F3C825BC176436E0B146D3F8",
            "1001",
            true,
        ),
        (
            ISE,
            "4C977CEC9B9E3B9EFE3B0C39FC703E174EA09D4D",
            "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D",
            "7E797F01BDA8467DC56FE73534DDB205076625B6",
            // `openssl req -x509` writes basicConstraints CA:TRUE
            // (openssl x509 -noout -ext basicConstraints).
            true,
        ),
    ];
    for (pem, sha1, sha256, serial, is_ca) in cases {
        let c = one(pem);
        assert_eq!(c.sha1().to_hex(), sha1);
        assert_eq!(c.sha256().to_hex(), sha256);
        assert_eq!(c.serial(), serial);
        assert_eq!(c.is_ca(), is_ca, "{}", c.subject());
    }
    assert!(one(ISE).is_self_issued());
    assert_eq!(
        one(ISE).subject(),
        "CN=ise.example.test,OU=Certificate Services System Certificate,O=Cisco"
    );
}

#[test]
fn bundle_with_crlf_text_between_blocks_and_headers() {
    let text = format!(
        "Bag Attributes\r\n    friendlyName: ise\r\nsubject=/CN=ise.example.test\r\n{}\r\n\
         some comment between blocks\r\n  {}\r\n\r\n{}",
        LEAF.replace('\n', "\r\n"),
        INTER.trim().replace('\n', "\r\n  "),
        ROOT
    );
    let certs = Certificate::parse_pem_bundle(&text).expect("bundle parses");
    let names: Vec<_> = certs
        .iter()
        .map(|c| c.common_name().expect("has a CN"))
        .collect();
    assert_eq!(
        names,
        [
            "ise.example.test",
            "Example Test Intermediate",
            "Example Test Root"
        ]
    );
}

#[test]
fn der_roundtrip_and_detection() {
    let leaf = one(LEAF);
    let from_der = Certificate::from_der(leaf.der()).expect("DER parses");
    assert_eq!(from_der, leaf);
    let detected = Certificate::parse_any(leaf.der()).expect("detected as DER");
    assert_eq!(detected, vec![leaf.clone()]);
    let pem = leaf.to_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(pem.lines().all(|l| l.len() <= 64));
    assert_eq!(Certificate::from_pem(&pem).expect("roundtrip"), leaf);
    assert_eq!(
        Certificate::parse_any(LEAF.as_bytes()).expect("detected as PEM"),
        vec![leaf]
    );
}

#[test]
fn empty_and_blank_input() {
    assert!(matches!(
        Certificate::parse_pem_bundle(""),
        Err(CertificateError::EmptyInput)
    ));
    assert!(matches!(
        Certificate::from_der(&[]),
        Err(CertificateError::EmptyInput)
    ));
    assert!(matches!(
        Certificate::parse_any(b" \r\n\t"),
        Err(CertificateError::EmptyInput)
    ));
    assert!(matches!(
        Certificate::parse_pem_bundle("just some text\n"),
        Err(CertificateError::NoCertificate)
    ));
    assert!(matches!(
        Certificate::parse_any(b"\x01\x02garbage"),
        Err(CertificateError::NoCertificate)
    ));
}

#[test]
fn bad_base64_is_reported_with_its_block() {
    let broken =
        format!("{LEAF}-----BEGIN CERTIFICATE-----\nMIIB$$$notbase64\n-----END CERTIFICATE-----\n");
    match Certificate::parse_pem_bundle(&broken) {
        Err(CertificateError::InvalidBase64 { block, .. }) => assert_eq!(block, 2),
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn wrong_labels_and_private_keys() {
    match Certificate::parse_pem_bundle(LEAF_KEY) {
        Err(CertificateError::PrivateKeyNotCertificate { block, label }) => {
            assert_eq!((block, label.as_str()), (1, "PRIVATE KEY"));
        }
        other => panic!("unexpected: {other:?}"),
    }
    let csr = LEAF.replace("CERTIFICATE", "CERTIFICATE REQUEST");
    assert!(matches!(
        Certificate::parse_pem_bundle(&csr),
        Err(CertificateError::UnexpectedPemLabel { block: 1, .. })
    ));
    let mismatched = LEAF.replace("END CERTIFICATE", "END X509 CRL");
    assert!(matches!(
        Certificate::parse_pem_bundle(&mismatched),
        Err(CertificateError::PemLabelMismatch { block: 1, .. })
    ));
    let unterminated = LEAF.replace("-----END CERTIFICATE-----", "");
    assert!(matches!(
        Certificate::parse_pem_bundle(&unterminated),
        Err(CertificateError::PemUnterminated { block: 1, .. })
    ));
    let empty_block = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        Certificate::parse_pem_bundle(empty_block),
        Err(CertificateError::EmptyPemBlock { block: 1 })
    ));
}

#[test]
fn truncated_garbage_and_trailing_der() {
    let der = one(LEAF).der().to_vec();
    for cut in [1, 2, 10, der.len() / 2, der.len() - 1] {
        assert!(
            matches!(
                Certificate::from_der(&der[..cut]),
                Err(CertificateError::InvalidDer { block: None, .. })
            ),
            "cut at {cut}"
        );
    }
    assert!(matches!(
        Certificate::from_der(&[0x30, 0x03, 0x02, 0x01, 0x05]),
        Err(CertificateError::InvalidDer { .. })
    ));
    let mut trailing = der.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        Certificate::from_der(&trailing),
        Err(CertificateError::InvalidDer { .. })
    ));
    // A PEM block whose base64 decodes to garbage names the block.
    let garbage_pem = "-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        Certificate::parse_pem_bundle(garbage_pem),
        Err(CertificateError::InvalidDer { block: Some(1), .. })
    ));
}

#[test]
fn every_prefix_of_a_bundle_is_handled_without_panic() {
    let bundle = format!("{LEAF}{INTER}");
    for cut in (0..bundle.len()).step_by(7) {
        let _ = Certificate::parse_pem_bundle(&bundle[..cut]);
    }
    let der = one(LEAF).der().to_vec();
    for cut in 0..der.len() {
        assert!(Certificate::from_der(&der[..cut]).is_err());
    }
}

#[test]
fn oversized_input_is_refused() {
    let big = "A".repeat(50 * 1024 * 1024);
    match Certificate::parse_pem_bundle(&big) {
        Err(CertificateError::InputTooLarge { size, limit }) => {
            assert_eq!(size, 50 * 1024 * 1024);
            assert_eq!(limit, MAX_INPUT_BYTES);
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert!(matches!(
        Certificate::parse_any(big.as_bytes()),
        Err(CertificateError::InputTooLarge { .. })
    ));
}

#[test]
fn expected_one_certificate() {
    let two = format!("{LEAF}{INTER}");
    assert!(matches!(
        Certificate::from_pem(&two),
        Err(CertificateError::ExpectedOneCertificate { found: 2 })
    ));
}

#[test]
fn fingerprints_parse_from_openssl_output() {
    let f: Sha1Fingerprint =
        "SHA1 Fingerprint=92:56:25:73:EA:18:2C:6F:9B:C7:53:86:F3:8C:51:1D:7E:3C:BB:FA"
            .parse()
            .expect("openssl form");
    assert_eq!(f, one(LEAF).sha1());
    let g: Sha256Fingerprint = LEAF_SHA256.to_ascii_lowercase().parse().expect("lowercase");
    assert_eq!(g, one(LEAF).sha256());
    assert!(matches!(
        "ABCD".parse::<Sha1Fingerprint>(),
        Err(CertificateError::InvalidFingerprint { kind: "SHA-1", .. })
    ));
    assert!(matches!(
        "ZZ".repeat(32).parse::<Sha256Fingerprint>(),
        Err(CertificateError::InvalidFingerprint {
            kind: "SHA-256",
            ..
        })
    ));
}

#[test]
fn chains_are_ordered_leaf_to_root() {
    let certs = vec![one(ROOT2), one(ROOT), one(LEAF), one(INTER), one(ISE)];
    let chains = order_chains(&certs);
    let summary: Vec<Vec<String>> = chains
        .iter()
        .map(|c| {
            c.iter()
                .map(|x| x.sha1().to_hex()[..8].to_owned())
                .collect()
        })
        .collect();
    // root2 has the same name as root but another key: the key identifiers keep it out
    // of the leaf's chain, and since it issued nothing here it is a chain of its own.
    assert_eq!(
        summary,
        vec![
            vec!["D95D69FD".to_owned()],
            vec!["92562573".into(), "C4A12238".into(), "454EDA8B".into()],
            vec!["4C977CEC".into()],
        ]
    );
}

#[test]
fn incomplete_chain_stops_where_the_set_ends() {
    let chains = order_chains(&[one(LEAF), one(LEAF), one(INTER)]);
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0].len(), 2);
    assert_eq!(chains[0][1], one(INTER));
}

#[test]
fn debug_output_is_compact() {
    let s = format!("{:?}", one(LEAF));
    assert!(s.contains("CN=ise.example.test"), "{s}");
    assert!(s.contains(LEAF_SHA1), "{s}");
}

#[test]
fn key_algorithms_are_named() {
    let anchors = intune_integration::anchors::TrustAnchorSet::builtin();
    let alg = |name: &str| {
        anchors
            .get(name)
            .expect("anchor")
            .certificate()
            .key_algorithm()
    };
    assert_eq!(alg("DigiCert Global Root G2"), "RSA");
    assert_eq!(alg("DigiCert Global Root G3"), "EC");
    assert_eq!(alg("Microsoft ECC Root Certificate Authority 2017"), "EC");
    assert!(
        anchors
            .get("Microsoft RSA Root Certificate Authority 2017")
            .expect("anchor")
            .certificate()
            .is_rsa()
    );
    // An EC Admin certificate would be refused with this error, which says what to do.
    let e = intune_integration::Error::NonRsaAdminCertificate {
        node: "ise-psn".into(),
        algorithm: "EC".into(),
    };
    assert!(e.to_string().contains("key type RSA"), "{e}");
}

/// Every certificate of the system's CA bundle (about 145 real roots from many
/// issuers, with every common attribute type and escape) and the fixtures: the fast
/// PEM reading gives the `pem` crate's bytes, and the names read as `x509-cert`'s own
/// `Display` writes them.
#[test]
fn fast_paths_agree_with_the_crates_they_shortcut() {
    use der::Decode as _;
    let mut text =
        std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    for fixture in [ROOT, ROOT2, INTER, LEAF, ISE] {
        text.push_str(fixture);
    }
    let ours = Certificate::parse_pem_bundle(&text).expect("bundle parses");
    let theirs = pem::parse_many(&text).expect("pem parses");
    assert_eq!(ours.len(), theirs.len());
    assert!(ours.len() >= 5);
    for (cert, block) in ours.iter().zip(&theirs) {
        assert_eq!(cert.der(), block.contents());
        let parsed = x509_cert::Certificate::from_der(block.contents()).expect("decodes");
        assert_eq!(
            cert.subject(),
            parsed.tbs_certificate().subject().to_string()
        );
        assert_eq!(cert.issuer(), parsed.tbs_certificate().issuer().to_string());
    }
}

/// Device certificates Intune issues carry the device GUID in a SAN URI (both forms)
/// and, for Windows strong mapping, a security identifier.
#[test]
fn intune_device_identity_from_san_uris() {
    let current =
        Certificate::from_pem(include_str!("data/device-endpoint-manager.pem")).expect("fixture");
    assert_eq!(
        current.san_uris(),
        vec![
            "ID:Microsoft Endpoint Manager:GUID:{6F9C2C3A-1B2D-4E5F-8A9B-0C1D2E3F4A5B}".to_owned(),
            "tag:microsoft.com,2022-09-14:sid:S-1-5-21-1004336348-1177238915-682003330-512"
                .to_owned(),
        ]
    );
    let id = current.intune_device_identity();
    assert_eq!(
        id.guid.as_deref(),
        Some("6f9c2c3a-1b2d-4e5f-8a9b-0c1d2e3f4a5b")
    );
    assert_eq!(
        id.sid.as_deref(),
        Some("S-1-5-21-1004336348-1177238915-682003330-512")
    );
    let legacy =
        Certificate::from_pem(include_str!("data/device-intune-legacy.pem")).expect("fixture");
    let id = legacy.intune_device_identity();
    assert_eq!(
        id.guid.as_deref(),
        Some("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")
    );
    assert_eq!(id.sid, None);
    // A certificate without them: nothing.
    let root = Certificate::from_pem(include_str!("data/root.pem")).expect("fixture");
    assert_eq!(root.intune_device_identity(), Default::default());
}
