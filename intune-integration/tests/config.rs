//! The configuration: TOML without secrets, secrets and overrides from the environment.

use std::collections::HashMap;

use intune_integration::Error;
use intune_integration::config::IntegrationConfig;
use intune_integration::mdm::MdmServerSettings;
use intune_integration::version::IseVersion;
use secrecy::ExposeSecret as _;

const FILE: &str = r#"
app_display_name = "Cisco ISE prod"

[ise]
url = "https://ise-pan.example.com"
username = "api-admin"
tls_pin_sha256 = "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D"

[entra]
tenant_id = "11111111-2222-3333-4444-555555555555"
client_id = "66666666-7777-8888-9999-000000000000"
"#;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn secrets_come_from_the_environment_only() {
    let mut c = IntegrationConfig::from_toml(FILE).expect("parses");
    assert_eq!(c.app_display_name, "Cisco ISE prod");
    assert_eq!(c.mdm_server_name, "Intune");
    assert!(
        matches!(c.validate(), Err(Error::Config { .. })),
        "no secrets yet"
    );
    c.apply_env(env(&[
        ("ISE_INTUNE_ISE_PASSWORD", "ise-secret"),
        ("ISE_INTUNE_CLIENT_SECRET", "entra-secret"),
        ("ISE_INTUNE_ISE_URL", "https://ise-2.example.com"),
    ]));
    c.validate().expect("complete");
    assert_eq!(c.ise.url, "https://ise-2.example.com");
    assert_eq!(
        c.ise
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .as_deref(),
        Some("ise-secret")
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("ise-secret") && !shown.contains("entra-secret"),
        "{shown}"
    );
}

#[test]
fn secrets_in_the_file_and_unknown_keys_are_refused() {
    let with_secret = format!("{FILE}\n[extra]\n");
    assert!(matches!(
        IntegrationConfig::from_toml(&with_secret),
        Err(Error::Config { .. })
    ));
    let password = FILE.replace(
        "username = \"api-admin\"",
        "username = \"api-admin\"\npassword = \"x\"",
    );
    match IntegrationConfig::from_toml(&password) {
        Err(Error::Config { what }) => assert!(what.contains("ISE_INTUNE_ISE_PASSWORD"), "{what}"),
        other => panic!("unexpected: {other:?}"),
    }
    let no_tls = FILE.replace("tls_pin_sha256", "# tls_pin_sha256");
    let mut c = IntegrationConfig::from_toml(&no_tls).expect("parses");
    c.apply_env(env(&[
        ("ISE_INTUNE_ISE_PASSWORD", "a"),
        ("ISE_INTUNE_CLIENT_SECRET", "b"),
    ]));
    match c.validate() {
        Err(Error::Config { what }) => assert!(what.contains("tls_pin_sha256"), "{what}"),
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn mdm_settings_follow_the_release() {
    let s = MdmServerSettings::for_release(
        &IseVersion::new(3, 1, 8),
        "Intune",
        "client",
        "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        "https://graph.microsoft.com",
    )
    .expect("supported");
    assert_eq!(
        s.token_audience,
        "https://api.manage.microsoft.com//.default"
    );
    assert_eq!(s.authentication_type, "OAuth - Client Credentials");
    assert!(s.checklist().contains(
        "Token Issuing URL:         https://login.microsoftonline.com/t/oauth2/v2.0/token"
    ));
    // 3.2 patch 3 has the new audience but not the compliance API: refused.
    assert!(matches!(
        MdmServerSettings::for_release(&IseVersion::new(3, 2, 3), "n", "c", "t", "d"),
        Err(Error::UnsupportedIseVersion {
            install: "ISE 3.2 patch 4",
            ..
        })
    ));
    assert!(matches!(
        MdmServerSettings::for_release(&IseVersion::new(3, 1, 2), "n", "c", "t", "d"),
        Err(Error::UnsupportedIseVersion { .. })
    ));
}

#[test]
fn admin_key_decryption_errors_are_typed() {
    use intune_integration::keys::decrypt_pkcs8_pem;
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    match decrypt_pkcs8_pem(legacy, "pw") {
        Err(Error::AdminKey { what }) => assert!(what.contains("legacy"), "{what}"),
        other => panic!("unexpected: {other:?}"),
    }
    assert!(matches!(
        decrypt_pkcs8_pem("garbage", "pw"),
        Err(Error::AdminKey { .. })
    ));
    let cert = include_str!("data/leaf.pem");
    match decrypt_pkcs8_pem(cert, "pw") {
        Err(Error::AdminKey { what }) => assert!(what.contains("CERTIFICATE"), "{what}"),
        other => panic!("unexpected: {other:?}"),
    }
    // An unencrypted PKCS#8 key passes through.
    let key = include_str!("data/leaf-key.pem");
    assert!(decrypt_pkcs8_pem(key, "").expect("plain key").len() > 1000);
}

#[test]
fn secrets_are_refused_however_written_and_never_echoed() {
    const SECRET: &str = "Hunter2-do-not-print";
    let cases = [
        format!("{FILE}\n[extra]\n\"password\" = \"{SECRET}\"\n"),
        FILE.replace(
            "[entra]",
            &format!("[entra]\ncredentials = {{ Client_Secret = \"{SECRET}\" }}"),
        ),
        FILE.replace(
            "username = \"api-admin\"",
            &format!("username = \"api-admin\"\nPASSWORD = \"{SECRET}\""),
        ),
        FILE.replace(
            "username = \"api-admin\"",
            &format!("username = \"api-admin\"\n'admin-password' = \"{SECRET}\""),
        ),
    ];
    for text in &cases {
        match IntegrationConfig::from_toml(text) {
            Err(Error::Config { what }) => {
                assert!(what.contains("looks like a secret"), "{what}");
                assert!(!what.contains(SECRET), "{what}");
            }
            other => panic!("unexpected for {text}: {other:?}"),
        }
    }
}

#[test]
fn parse_and_type_errors_name_the_place_not_the_text() {
    const SECRET: &str = "Hunter2-do-not-print";
    // A malformed line that holds a secret-looking value.
    let broken = FILE.replace(
        "username = \"api-admin\"",
        &format!("username = \"api-admin\"\ncomment {SECRET}"),
    );
    match IntegrationConfig::from_toml(&broken) {
        Err(Error::Config { what }) => {
            assert!(
                what.starts_with("invalid TOML at line 7, column 9"),
                "{what}"
            );
            assert!(!what.contains(SECRET), "{what}");
        }
        other => panic!("unexpected: {other:?}"),
    }
    let wrong_type = FILE.replace(
        "username = \"api-admin\"",
        &format!("username = \"api-admin\"\ners_csrf = \"{SECRET}\""),
    );
    match IntegrationConfig::from_toml(&wrong_type) {
        Err(Error::Config { what }) => {
            assert_eq!(
                what,
                "`ise.ers_csrf` at line 7, column 12 has the wrong type or value"
            );
        }
        other => panic!("unexpected: {other:?}"),
    }
    match IntegrationConfig::from_toml(&format!("{FILE}\n[extra]\nname = 1\n")) {
        Err(Error::Config { what }) => assert!(what.contains("unknown field `extra`"), "{what}"),
        other => panic!("unexpected: {other:?}"),
    }
    // An unknown key: where it is, and every valid key, the list whole.
    match IntegrationConfig::from_toml(&format!("bogus = 1\n{FILE}")) {
        Err(Error::Config { what }) => assert_eq!(
            what,
            "`bogus` at line 1, column 1 unknown field `bogus`, expected one of \
             `app_display_name`, `mdm_server_name`, `cloud`, `app_client_id`, \
             `mdm_confirmed`, `mdm_removed`, `ise`, `entra`, `anchors`, `enforce`, `expiry`, `audit`, \
             `attributes`, \
             `verify_as_node`, `node_key_file`"
        ),
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn validate_rejects_bad_pins_and_empty_names() {
    let complete = |text: &str| {
        let mut c = IntegrationConfig::from_toml(text).expect("parses");
        c.apply_env(env(&[
            ("ISE_INTUNE_ISE_PASSWORD", "a"),
            ("ISE_INTUNE_CLIENT_SECRET", "b"),
        ]));
        c.validate()
    };
    complete(FILE).expect("valid");
    let colons = FILE.replace(
        "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D",
        "47:18:FF:21:B9:20:65:68:A1:A9:BE:51:54:80:E1:BF:2E:E1:4B:27:0E:EC:8C:E3:4C:EA:69:2E:0F:34:C9:0D",
    );
    complete(&colons).expect("colon-separated pin");
    // The ISE client's own rule, read once: as openssl prints it, or spaced.
    for written in [
        "SHA256 Fingerprint=47:18:FF:21:B9:20:65:68:A1:A9:BE:51:54:80:E1:BF:2E:E1:4B:27:0E:EC:8C:E3:4C:EA:69:2E:0F:34:C9:0D",
        "47 18 FF 21 B9 20 65 68 A1 A9 BE 51 54 80 E1 BF 2E E1 4B 27 0E EC 8C E3 4C EA 69 2E 0F 34 C9 0D",
    ] {
        let text = FILE.replace(
            "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D",
            written,
        );
        complete(&text).expect(written);
        let pin: ise_client::Sha256Pin = written.parse().expect("the client reads it too");
        assert_eq!(
            pin.to_string(),
            "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D"
        );
    }
    for (text, needle) in [
        (
            FILE.replace(
                "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D",
                "4718FF21",
            ),
            "tls_pin_sha256",
        ),
        (
            FILE.replace(
                "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D",
                "ZZ18FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D",
            ),
            "tls_pin_sha256",
        ),
        (
            FILE.replace("\"Cisco ISE prod\"", "\"  \""),
            "app_display_name",
        ),
    ] {
        match complete(&text) {
            Err(Error::Config { what }) => assert!(what.contains(needle), "{what}"),
            other => panic!("unexpected: {other:?}"),
        }
    }
}

#[test]
fn relative_paths_are_taken_from_the_configuration_files_folder() {
    let dir = std::env::temp_dir().join(format!("ise-intune-relpaths-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("certs")).expect("dir");
    let file = dir.join("ise-intune.toml");
    std::fs::write(
        &file,
        "[ise]\nurl = \"https://ise.example\"\nusername = \"u\"\ntls_ca_file = \"certs/ise-ca.pem\"\n\
         [entra]\ntenant_id = \"t\"\nclient_id = \"c\"\nextra_ca_file = \"/etc/ssl/proxy.pem\"\n\
         [anchors]\nextra_files = [\"certs/root.pem\"]\n\
         [audit]\nfile = \"log/audit.jsonl\"\nkeep = 2\n",
    )
    .expect("write");
    // `load` resolves from the file's folder; the environment of a test process holds
    // no secrets, so the resolution is checked on the parsed file.
    let mut parsed = IntegrationConfig::from_toml(&std::fs::read_to_string(&file).expect("read"))
        .expect("parses");
    parsed.resolve_paths(&dir);
    assert_eq!(parsed.ise.tls_ca_file, Some(dir.join("certs/ise-ca.pem")));
    assert_eq!(parsed.audit.file, Some(dir.join("log/audit.jsonl")));
    assert_eq!(
        (parsed.audit.keep, parsed.audit.rotate_bytes),
        (2, 10 * 1024 * 1024)
    );
    assert_eq!(
        parsed.entra.extra_ca_file,
        Some(std::path::PathBuf::from("/etc/ssl/proxy.pem"))
    );
    assert_eq!(parsed.anchors.extra_files, vec![dir.join("certs/root.pem")]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fleet_pairs_missing_secret_is_named_by_its_own_variable() {
    let mut c = IntegrationConfig::from_toml(FILE).expect("parses");
    let mut sources = intune_integration::config::SecretSources::default();
    sources.ise_password_env = "EAST_ISE_PASSWORD".into();
    sources.client_secret_env = "EAST_CLIENT_SECRET".into();
    // The defaults are set, the pair's own are not: the pair is told of its own.
    c.apply_secrets(
        &sources,
        env(&[
            ("ISE_INTUNE_ISE_PASSWORD", "x"),
            ("ISE_INTUNE_CLIENT_SECRET", "y"),
        ]),
    );
    match c.validate() {
        Err(Error::Config { what }) => {
            assert_eq!(
                what,
                "the ISE password (the variable EAST_ISE_PASSWORD is not set) is missing"
            );
        }
        other => panic!("{other:?}"),
    }
    c.apply_secrets(&sources, env(&[("EAST_ISE_PASSWORD", "x")]));
    match c.validate() {
        Err(Error::Config { what }) => {
            assert!(
                what.contains("the variable EAST_CLIENT_SECRET is not set"),
                "{what}"
            );
            assert!(
                !what.contains("ISE_INTUNE_") && !what.contains("AZURE_"),
                "{what}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Without the overrides read, no override is offered for a missing setting.
    let mut bare = IntegrationConfig::from_toml("[ise]\nusername = \"u\"\n").expect("parses");
    bare.apply_secrets(&sources, env(&[]));
    match bare.validate() {
        Err(Error::Config { what }) => assert_eq!(what, "ise.url is missing"),
        other => panic!("{other:?}"),
    }
}

/// `[expiry] thresholds_days` reaches the options; without it, 30, 14 and 7.
#[test]
fn expiry_thresholds_come_from_the_configuration() {
    let default = IntegrationConfig::from_toml(FILE).expect("config");
    assert_eq!(default.expiry.thresholds_days, [30, 14, 7]);
    let set =
        IntegrationConfig::from_toml(&format!("{FILE}\n[expiry]\nthresholds_days = [21, 3]\n"))
            .expect("config");
    assert_eq!(set.expiry.thresholds_days, [21, 3]);
    match IntegrationConfig::from_toml(&format!("{FILE}\n[expiry]\ndays = [1]\n")) {
        Err(Error::Config { what }) => assert!(
            what.contains("unknown field `days`, expected `thresholds_days`"),
            "{what}"
        ),
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn the_rollout_is_read_from_enforce_and_refused_when_unknown() {
    use intune_integration::enforce::Rollout;
    let monitored = format!("{FILE}\n[enforce]\nrollout = \"monitor\"\n");
    let c = IntegrationConfig::from_toml(&monitored).expect("parses");
    assert_eq!(c.enforce.rollout, Rollout::Monitor);
    let plain = IntegrationConfig::from_toml(FILE).expect("parses");
    assert_eq!(plain.enforce.rollout, Rollout::Enforce);
    let wrong = format!("{FILE}\n[enforce]\nrollout = \"yolo\"\n");
    assert!(matches!(
        IntegrationConfig::from_toml(&wrong),
        Err(Error::Config { .. })
    ));
}

/// A URL written without its scheme, or with a bad port, is refused with what to write,
/// not with the URL parser's own words.
#[test]
fn a_url_that_is_not_one_says_what_to_write() {
    let validated = |url: &str| {
        let text = FILE.replace("https://ise-pan.example.com", url);
        let mut c = IntegrationConfig::from_toml(&text).expect("parses");
        c.apply_env(env(&[
            ("ISE_INTUNE_ISE_PASSWORD", "a"),
            ("ISE_INTUNE_CLIENT_SECRET", "b"),
        ]));
        match c.validate() {
            Err(Error::Config { what }) => what,
            other => panic!("{url}: {other:?}"),
        }
    };
    assert_eq!(
        validated("ise-pan.example.com"),
        "`ise.url` needs https:// before the host name (e.g. https://ise.example.com)"
    );
    assert_eq!(
        validated("https://ise-pan.example.com:99999"),
        "`ise.url` has a port that is not a number up to 65535"
    );
}
