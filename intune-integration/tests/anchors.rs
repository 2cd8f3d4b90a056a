//! The shipped trust anchors, checked against fingerprints computed independently with
//! `openssl x509 -noout -fingerprint -sha1|-sha256 -in /etc/ssl/certs/<name>.pem`.

use intune_integration::CertificateError;
use intune_integration::anchors::{
    AnchorOrigin, BUILTIN_ANCHOR_SET_VERSION, TrustAnchor, TrustAnchorSet,
};
use intune_integration::certs::Certificate;

const OPENSSL: &[(&str, &str, &str)] = &[
    (
        "DigiCert Global Root G2",
        "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4",
        "CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F",
    ),
    (
        "DigiCert Global Root CA",
        "A8985D3A65E5E5C4B2D7D66D40C6DD2FB19C5436",
        "4348A0E9444C78CB265E058D5E8944B4D84F9662BD26DB257F8934A443C70161",
    ),
    (
        "DigiCert Global Root G3",
        "7E04DE896A3E666D00E687D33FFAD93BE83D349E",
        "31AD6648F8104138C738F39EA4320133393E3A18CC02296EF97C2AC9EF6731D0",
    ),
    (
        "Microsoft RSA Root Certificate Authority 2017",
        "73A5E64A3BFF8316FF0EDCCC618A906E4EAE4D74",
        "C741F70F4B2A8D88BF2E71C14122EF53EF10EBA0CFA5E64CFA20F418853073E0",
    ),
    (
        "Microsoft ECC Root Certificate Authority 2017",
        "999A64C37FF47D9FAB95F14769891460EEC4C3C5",
        "358DF39D764AF9E1B766E9C972DF352EE15CFAC227AF6AD1D70E8E4A6EDCBA02",
    ),
];

#[test]
fn builtin_anchors_parse_and_match_openssl() {
    let set = TrustAnchorSet::builtin();
    assert_eq!(set.version(), BUILTIN_ANCHOR_SET_VERSION);
    let got: Vec<(&str, String, String)> = set
        .anchors()
        .iter()
        .map(|a| {
            (
                a.name(),
                a.certificate().sha1().to_hex(),
                a.certificate().sha256().to_hex(),
            )
        })
        .collect();
    let want: Vec<(&str, String, String)> = OPENSSL
        .iter()
        .map(|(n, s1, s256)| (*n, (*s1).to_owned(), (*s256).to_owned()))
        .collect();
    assert_eq!(got, want);
    for a in set.anchors() {
        assert!(a.certificate().is_ca(), "{}", a.name());
        assert!(a.certificate().is_self_issued(), "{}", a.name());
        assert_eq!(a.origin(), AnchorOrigin::Builtin);
        assert!(a.purpose().len() > 40, "{} explains why", a.name());
        // The anchor's name is its certificate's common name, as ISE lists it.
        assert_eq!(a.certificate().common_name().as_deref(), Some(a.name()));
        assert!(
            !a.name().contains('\''),
            "ISE's security filter refuses apostrophes"
        );
    }
}

#[test]
fn missing_from_compares_by_sha256() {
    let set = TrustAnchorSet::builtin();
    let present = [
        set.anchors()[0].certificate().sha256(),
        set.anchors()[3].certificate().sha256(),
    ];
    let missing: Vec<&str> = set
        .missing_from(&present)
        .iter()
        .map(|a| a.name())
        .collect();
    assert_eq!(
        missing,
        [
            "DigiCert Global Root CA",
            "DigiCert Global Root G3",
            "Microsoft ECC Root Certificate Authority 2017"
        ]
    );
    let all: Vec<_> = set
        .anchors()
        .iter()
        .map(|a| a.certificate().sha256())
        .collect();
    assert!(set.missing_from(&all).is_empty());
}

#[test]
fn callers_add_and_remove_their_own() {
    let mut set = TrustAnchorSet::builtin();
    let proxy_root = Certificate::from_pem(include_str!("data/root.pem")).expect("fixture parses");
    let anchor =
        TrustAnchor::new("Proxy root", "TLS inspection proxy", proxy_root.clone()).expect("a CA");
    assert_eq!(anchor.origin(), AnchorOrigin::Custom);
    assert!(set.add(anchor.clone()));
    assert!(!set.add(anchor), "same fingerprint twice is refused");
    assert_eq!(set.anchors().len(), 6);
    assert!(set.contains(&proxy_root.sha256()));
    let removed = set.remove(&proxy_root.sha256()).expect("present");
    assert_eq!(removed.name(), "Proxy root");
    assert_eq!(set, TrustAnchorSet::builtin());

    let leaf = Certificate::from_pem(include_str!("data/leaf.pem")).expect("fixture parses");
    assert!(matches!(
        TrustAnchor::new("leaf", "wrong", leaf),
        Err(CertificateError::AnchorNotCa { .. })
    ));
    let mut empty = TrustAnchorSet::empty("mine-1");
    assert_eq!(empty.version(), "mine-1");
    assert!(empty.anchors().is_empty());
    assert!(empty.add(TrustAnchor::new("Proxy root", "p", proxy_root).expect("a CA")));
}
