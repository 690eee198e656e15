//! The deployment files (Dockerfile, deploy/kubernetes) pass tests/deploy_check.sh: strict
//! schemas, the restricted Pod Security Standard, the ConfigMap's debut.toml, hadolint. And
//! the PSS check can fail: a manifest without capabilities and seccomp is refused. The
//! validators come from DEPLOY_CHECK_TOOLS, which tests/run.sh sets.

use std::path::Path;
use std::process::Command;

use debut_tests::*;

/// Runs the check script over `manifests`; returns (passed, stdout + stderr).
fn deploy_check(manifests: Option<&Path>, debut: Option<&Path>) -> (bool, String) {
    let tools = std::env::var_os("DEPLOY_CHECK_TOOLS").unwrap_or_else(|| {
        panic!(
            "DEPLOY_CHECK_TOOLS is unset: run tests/run.sh, which installs kubernetes-validate and \
             hadolint into a virtual environment and points DEPLOY_CHECK_TOOLS at its bin directory"
        )
    });
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("tests/deploy_check.sh")).args(manifests).env("DEPLOY_CHECK_TOOLS", tools);
    match debut {
        Some(bin) => cmd.env("DEBUT_BIN", bin),
        None => cmd.env_remove("DEBUT_BIN"),
    };
    let out = cmd.output().expect("running tests/deploy_check.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn the_deployment_files_pass_every_check() {
    let (ok, out) = deploy_check(None, Some(&debut_bin()));
    assert!(ok, "{out}");
    assert!(out.contains("restricted PSS ok") && out.contains("debut accepts them"), "{out}");
}

#[test]
fn a_pod_without_dropped_capabilities_or_seccomp_fails_the_restricted_check() {
    let dir = scratch_dir("deploy-pss");
    let manifest = std::fs::read_to_string(repo_root().join("deploy/kubernetes/debut.yaml")).unwrap();
    // Both are one-line flow mappings in the example; drop them.
    let stripped: String = manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with("capabilities:") && !l.trim_start().starts_with("seccompProfile:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(stripped.len() < manifest.len(), "nothing stripped: the manifest's layout changed");
    std::fs::write(dir.join("debut.yaml"), stripped).unwrap();
    let (ok, out) = deploy_check(Some(dir.path()), None);
    assert!(!ok, "the stripped manifest passed:\n{out}");
    assert!(
        out.contains("restricted PSS FAIL")
            && out.contains("capabilities.drop must include ALL")
            && out.contains("seccompProfile RuntimeDefault or Localhost must be set"),
        "{out}"
    );
    // The schema still holds: the failure is the security check's.
    assert!(!out.contains("-- schema: FAILED") && out.contains("deploy checks FAILED: pss"), "{out}");
}
