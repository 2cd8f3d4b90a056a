//! Every row and boundary of the ISE version table in DESIGN.md.

use intune_integration::Error;
use intune_integration::version::{
    INTUNE_DEFAULT_SCOPE, INTUNE_RESOURCE, IntuneGates as _, IseVersion, TokenAudience,
};

fn v(major: u16, minor: u16, patch: u16) -> IseVersion {
    IseVersion::new(major, minor, patch)
}

#[test]
fn graph_support_and_audience_table() {
    let (r, d) = (
        TokenAudience::Resource(INTUNE_RESOURCE.into()),
        TokenAudience::Scope(INTUNE_DEFAULT_SCOPE.into()),
    );
    let rows: &[(IseVersion, Option<TokenAudience>, bool)] = &[
        (v(2, 7, 10), None, false),
        (v(3, 0, 0), None, false),
        (v(3, 0, 8), None, false),
        (v(3, 1, 0), None, false),
        (v(3, 1, 2), None, false),
        (v(3, 1, 3), Some(r.clone()), false),
        (v(3, 1, 5), Some(r.clone()), false),
        (v(3, 1, 7), Some(r.clone()), false),
        (v(3, 1, 8), Some(d.clone()), true),
        (v(3, 1, 10), Some(d.clone()), true),
        (v(3, 2, 0), Some(r.clone()), false),
        (v(3, 2, 2), Some(r.clone()), false),
        (v(3, 2, 3), Some(d.clone()), false),
        (v(3, 2, 4), Some(d.clone()), true),
        (v(3, 2, 7), Some(d.clone()), true),
        (v(3, 3, 0), Some(d.clone()), true),
        (v(3, 3, 2), Some(d.clone()), true),
        (v(3, 4, 0), Some(d.clone()), true),
        (v(4, 0, 0), Some(d.clone()), true),
    ];
    for (version, audience, v3) in rows {
        assert_eq!(
            version.supports_microsoft_graph(),
            audience.is_some(),
            "{version}"
        );
        match (version.token_audience(), audience) {
            (Ok(got), Some(want)) => assert_eq!(&got, want, "{version}"),
            (Err(Error::UnsupportedIseVersion { version: got, .. }), None) => {
                assert_eq!(got, *version)
            }
            (other, _) => panic!("{version}: unexpected {other:?}"),
        }
        assert_eq!(version.supports_compliance_v3(), *v3, "{version}");
        // Onboarding proceeds exactly where the compliance API exists.
        assert_eq!(version.check_release().is_ok(), *v3, "{version}");
    }
}

#[test]
fn audience_text_is_exact() {
    assert_eq!(INTUNE_RESOURCE, "https://api.manage.microsoft.com/");
    assert_eq!(
        IseVersion::new(3, 3, 0)
            .token_audience()
            .expect("3.3")
            .to_string(),
        "https://api.manage.microsoft.com//.default"
    );
}

/// Field Notice FN74227's rows: affected up to 3.1 p9, 3.2 p6, 3.3 p3, 3.4 p0.
#[test]
fn strong_mapping_rows_follow_the_field_notice() {
    let fix = |v: &str| {
        v.parse::<IseVersion>()
            .expect("version")
            .strong_mapping_fix()
    };
    assert_eq!(fix("3.1 patch 8"), Some("ISE 3.1 patch 10"));
    assert_eq!(fix("3.1 patch 9"), Some("ISE 3.1 patch 10"));
    assert_eq!(fix("3.1 patch 10"), None);
    assert_eq!(fix("3.2 patch 4"), Some("ISE 3.2 patch 7"));
    assert_eq!(fix("3.2 patch 6"), Some("ISE 3.2 patch 7"));
    assert_eq!(fix("3.2 patch 7"), None);
    assert_eq!(fix("3.3 patch 3"), Some("ISE 3.3 patch 4"));
    assert_eq!(fix("3.3 patch 4"), None);
    assert_eq!(fix("3.4 patch 0"), Some("ISE 3.4 patch 1"));
    assert_eq!(fix("3.4 patch 1"), None);
    assert_eq!(fix("3.5 patch 0"), None);
}
