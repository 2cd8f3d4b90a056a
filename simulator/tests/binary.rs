//! The `ise-intune-sim` binary writes its info file and serves until stopped.

use std::time::{Duration, Instant};

#[test]
fn binary_writes_the_info_file() {
    let dir = std::env::temp_dir().join(format!("sim-bin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("info.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ise-intune-sim"))
        .args([
            "--info-file",
            path.to_str().expect("utf-8"),
            "--ise-version",
            "3.1.0.518",
            "--ise-patch",
            "8",
            "--latency-ms",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let started = Instant::now();
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(&path)
            && !t.is_empty()
        {
            break t;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no info file");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    for key in [
        "tenant_id",
        "login_url",
        "graph_url",
        "intune_url",
        "ca_pem_path",
    ] {
        assert!(v[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    assert!(
        v["graph_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/v1.0"))
    );
    for key in [
        "url",
        "username",
        "password",
        "admin_cert_pem_path",
        "gui_url",
    ] {
        assert!(
            v["ise"][key].as_str().is_some_and(|s| !s.is_empty()),
            "ise.{key}"
        );
    }
    assert_eq!(v["ise"]["version"], "3.1.0.518");
    assert_eq!(v["ise"]["patch"], 8);
    assert!(v["automation"]["client_id"].as_str().is_some());
    assert!(v["automation"]["client_secret"].as_str().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
