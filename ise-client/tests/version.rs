//! ISE versions as ISE reports them: parsing and ordering.

use ise_client::Error;
use ise_client::version::IseVersion;

fn v(major: u16, minor: u16, patch: u16) -> IseVersion {
    IseVersion::new(major, minor, patch)
}

#[test]
fn parses_what_ise_reports() {
    let ers = IseVersion::from_ers("3.1.0.518", "1,3,8").expect("ERS form");
    assert_eq!(
        (
            ers.major(),
            ers.minor(),
            ers.maintenance(),
            ers.build(),
            ers.patch()
        ),
        (3, 1, 0, Some(518), 8)
    );
    assert_eq!(ers.to_string(), "3.1.0.518 patch 8");
    assert_eq!(
        IseVersion::from_ers("3.3.0.430", "0")
            .expect("no patch")
            .patch(),
        0
    );
    assert_eq!(
        IseVersion::from_ers("3.3.0.430", "")
            .expect("empty")
            .patch(),
        0
    );
    assert_eq!(
        IseVersion::from_ers("3.2.0.542", " 4 ")
            .expect("spaces")
            .patch(),
        4
    );
    let api = IseVersion::from_patch_api("3.2.0.542", [1, 3]).expect("patch API");
    assert_eq!(api.to_string(), "3.2.0.542 patch 3");
    assert_eq!(
        IseVersion::from_patch_api("3.2.0.542", [])
            .expect("none")
            .patch(),
        0
    );

    for (text, want) in [
        ("3.1.0.518", IseVersion::from_ers("3.1.0.518", "0")),
        ("3.1.0.518 patch 8", IseVersion::from_ers("3.1.0.518", "8")),
        (
            "3.1.0.518 Patch 1,3,8",
            IseVersion::from_ers("3.1.0.518", "8"),
        ),
        ("3.1p8", Ok(v(3, 1, 8))),
        ("3.1 patch 8", Ok(v(3, 1, 8))),
        ("3.3", Ok(v(3, 3, 0))),
    ] {
        assert_eq!(
            text.parse::<IseVersion>().expect(text),
            want.expect("reference")
        );
    }
}

#[test]
fn unparseable_versions_are_typed_errors() {
    for bad in [
        "",
        "3",
        "three.one",
        "3.1.0.518.7",
        "3.x",
        "3.1 patch",
        "3.1 patch x",
        "-3.1",
    ] {
        assert!(
            matches!(
                bad.parse::<IseVersion>(),
                Err(Error::InvalidIseVersion { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        IseVersion::from_ers("3.1.0.518", "1,x"),
        Err(Error::InvalidIseVersion { .. })
    ));
    assert!(matches!(
        IseVersion::from_ers("", "1"),
        Err(Error::InvalidIseVersion { .. })
    ));
}

#[test]
fn ordering_is_release_then_patch_then_build() {
    let mut list = [
        "3.2.0.542 patch 1".parse::<IseVersion>().expect("ok"),
        "3.1.0.518 patch 8".parse().expect("ok"),
        "3.1.0.518 patch 3".parse().expect("ok"),
        "3.3.0.430".parse().expect("ok"),
        "3.0.0.458 patch 8".parse().expect("ok"),
    ];
    list.sort();
    let texts: Vec<String> = list.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "3.0.0.458 patch 8",
            "3.1.0.518 patch 3",
            "3.1.0.518 patch 8",
            "3.2.0.542 patch 1",
            "3.3.0.430"
        ]
    );
    assert!(v(3, 1, 8) > v(3, 1, 7));
    assert!(v(3, 2, 0) > v(3, 1, 10));
}
