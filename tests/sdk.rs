//! The official Python SDK (`pip install meilisearch`) against Miroir.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn official_python_sdk_round_trip() {
    let check = std::process::Command::new("python3")
        .args(["-c", "import meilisearch"])
        .output();
    match check {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "the official Python SDK is needed: pip install meilisearch (.ci/run installs it)"
        ),
    }
    let nodes = start_nodes(3, NODE_KEY);
    let rest = format!(
        "[auth]\nmaster_key = \"sdk-master-key\"\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = 32\nreplication_factor = 1\n{FAST_HEALTH}{}",
        nodes_toml(&nodes, |_| 0)
    );
    let miroir = Miroir::start("", &rest);
    miroir.wait_ready(
        Duration::from_secs(10),
        &[("x-admin-key", "sdk-master-key")],
    );
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/sdk/python_sdk.py"
        ))
        .arg(format!("http://{}", miroir.addr))
        .arg("sdk-master-key")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python SDK run failed:\n{}\n{}\nmiroir log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        miroir.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all steps passed"));
}
