//! A fresh machine of the project's kind has the Rust toolchain, cc, make and perl, and no
//! cmake or libclang: no crate in the build graph of the workspace may need either.

use std::process::Command;

/// Crates whose build scripts run cmake or libclang.
const NEEDS_WHAT_A_FRESH_MACHINE_LACKS: &[&str] = &["cmake", "bindgen", "clang-sys"];

#[test]
fn nothing_in_the_build_graph_needs_cmake_or_libclang() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Normal and build dependencies of every workspace member, every feature the workspace
    // turns on; dev-dependencies are the tests' own (tests/run.sh installs nothing they need).
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["tree", "--workspace", "--locked", "--offline", "-e", "build,normal", "--prefix", "none"])
        .args(["--format", "{p}"])
        .output()
        .expect("running cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains(&"rdkafka-sys") && crates.contains(&"opus-rs"), "not the graph expected:\n{tree}");
    let found: Vec<&&str> = NEEDS_WHAT_A_FRESH_MACHINE_LACKS.iter().filter(|c| crates.contains(c)).collect();
    assert!(
        found.is_empty(),
        "crates needing cmake or libclang in the build graph: {found:?}\n(`cargo tree -i <crate> -e build,normal` shows who pulls them in)"
    );
}
