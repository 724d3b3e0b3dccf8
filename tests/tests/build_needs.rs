//! What a build needs: a fresh machine has a Rust toolchain and a C
//! compiler, not cmake, so no crate of the build may need cmake; and each
//! vendored crate is exactly its release plus its patch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::services;

/// Crates that list `cmake` as a build dependency but build without it
/// here, and why. Anything else that needs cmake fails the suite.
const BUILDS_WITHOUT_CMAKE: &[(&str, &str)] = &[(
    "aws-lc-sys",
    "builds its C sources with the `cc` crate on Linux x86_64/aarch64 unless \
     AWS_LC_SYS_CMAKE_BUILDER=1, FIPS or no-asm is asked for (builder/main.rs)",
)];

/// Crates that need a C library's own build system: never in the build.
const NEVER: &[&str] = &[
    "cmake",
    "libz-ng-sys",
    "libz-sys",
    "openssl-src",
    "boring-sys",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every package of `Cargo.lock` with the names of its dependencies.
fn locked_packages() -> TestResult<BTreeMap<String, Vec<String>>> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))?;
    let mut packages = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in block.lines().map(str::trim) {
            if let Some(n) = line.strip_prefix("name = ") {
                name = Some(n.trim_matches('"').to_string());
            } else if line.starts_with("dependencies = [") {
                in_deps = true;
            } else if in_deps && line == "]" {
                in_deps = false;
            } else if in_deps {
                let dep = line.trim_matches(|c| c == '"' || c == ',');
                let dep = dep.split(' ').next().unwrap_or(dep);
                deps.push(dep.to_string());
            }
        }
        let name = name.ok_or("a Cargo.lock package without a name")?;
        packages.entry(name).or_insert_with(Vec::new).extend(deps);
    }
    Ok(packages)
}

#[test]
fn no_crate_in_the_build_needs_cmake() -> TestResult {
    let packages = locked_packages()?;
    assert!(packages.contains_key("pingora-core"), "Cargo.lock not read");
    let needs_cmake: Vec<&String> = packages
        .iter()
        .filter(|(_, deps)| deps.iter().any(|d| d == "cmake"))
        .map(|(name, _)| name)
        .filter(|name| !BUILDS_WITHOUT_CMAKE.iter().any(|(ok, _)| ok == name))
        .collect();
    assert!(
        needs_cmake.is_empty(),
        "these crates build with cmake, which a fresh machine lacks: {needs_cmake:?}"
    );
    let never: Vec<&&str> = NEVER
        .iter()
        .filter(|n| n != &&"cmake" && packages.contains_key(**n))
        .collect();
    assert!(
        never.is_empty(),
        "crates that need a C build system: {never:?}"
    );
    // The zlib backend is the pure-Rust one.
    let flate2 = packages.get("flate2").ok_or("no flate2 in the build")?;
    assert!(
        flate2.iter().any(|d| d == "zlib-rs"),
        "flate2 uses {flate2:?}"
    );
    Ok(())
}

#[test]
fn vendored_crates_are_their_release_plus_their_patch() -> TestResult {
    let script = root().join("vendor/check.sh");
    let out = match Command::new("bash").arg(&script).output() {
        Ok(out) => out,
        Err(e) => return services::absent("bash", &e.to_string()).map(|_: Option<()>| ()),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(3) {
        // No registry reachable: nothing to compare with.
        return services::absent("the crates.io registry", &text).map(|_: Option<()>| ());
    }
    assert!(out.status.success(), "vendor/check.sh:\n{text}");
    for name in ["pingora-core", "pingora-proxy"] {
        assert!(text.contains(&format!("vendor/{name} = {name} ")), "{text}");
    }
    Ok(())
}
