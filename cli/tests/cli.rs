//! The binary's own commands: help, policy check, config errors.

use std::process::Command;

// Not `#[test]` functions, so clippy.toml's allow-panic-in-tests does not
// cover them.
fn wrnexus(args: &[&str]) -> std::process::Output {
    wrnexus_with(args, &[])
}

/// `wrnexus args` with `env` added to a copy of this process's environment
/// cleared of `WRNEXUS_*` settings.
#[allow(clippy::panic, reason = "a binary that cannot start fails the test")]
fn wrnexus_with(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wrnexus"));
    for (name, _) in std::env::vars() {
        if name.starts_with("WRNEXUS_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run wrnexus: {e}"))
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_lists_every_command() {
    let out = wrnexus(&["--help"]);
    assert!(out.status.success());
    let help = text(&out);
    for command in ["dev", "gateway", "control-plane", "migrate", "policy"] {
        assert!(
            help.contains(command),
            "{command} missing from --help:\n{help}"
        );
    }
    let dev = text(&wrnexus(&["dev", "--help"]));
    for flag in [
        "--listen",
        "--admin-listen",
        "--data-dir",
        "WRNEXUS_LISTEN",
        "WRNEXUS_DATA_DIR",
    ] {
        assert!(dev.contains(flag), "{flag} missing from dev --help:\n{dev}");
    }
}

#[test]
fn policy_check_accepts_the_shipped_policies() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let out = wrnexus(&["policy", "check", dir]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("policies valid"));
}

#[test]
fn policy_check_names_file_and_line_and_fails() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/schema.cedarschema"
    );
    std::fs::copy(shipped, dir.path().join("schema.cedarschema"))?;
    std::fs::write(
        dir.path().join("bad.cedar"),
        "// ok so far\n\npermit (principal, action == WRNexus::Action::\"fly\", resource);\n",
    )?;
    let out = wrnexus(&["policy", "check", &dir.path().display().to_string()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("bad.cedar:3:"), "{message}");
    Ok(())
}

#[test]
fn config_errors_name_file_and_key() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wrnexus.toml");
    std::fs::write(
        &file,
        "[gateway]\nlisten = \"127.0.0.1:0\"\nupstreem = \"http://x\"\n",
    )?;
    let out = wrnexus(&["gateway", "--config", &file.display().to_string()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("wrnexus.toml") && message.contains("upstreem"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_route_naming_an_undeclared_action_stops_the_gateway() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wrnexus.toml");
    std::fs::write(
        &file,
        "[gateway]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
         control_plane_url = \"http://127.0.0.1:1\"\n\
         [[gateway.routes]]\nname = \"app\"\nupstream = \"http://127.0.0.1:3000\"\n\
         actions = [{ methods = [\"POST\"], path_prefix = \"/x\", action = \"launch\" }]\n",
    )?;
    let out = wrnexus(&["gateway", "--config", &file.display().to_string()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("launch") && message.contains("app"),
        "{message}"
    );
    Ok(())
}

#[test]
fn config_check_accepts_the_example_and_names_bad_keys() -> Result<(), Box<dyn std::error::Error>> {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/config/wrnexus.example.toml"
    );
    let out = wrnexus(&["config", "check", example]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("valid ([gateway], [control_plane])"),
        "{}",
        text(&out)
    );

    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.toml");
    let mut config = std::fs::read_to_string(example)?;
    config = config.replace(
        "stale_bound_secs = 30",
        "stale_bound_secs = 30\nstale_bond = 3",
    );
    std::fs::write(&bad, &config)?;
    let out = wrnexus(&["config", "check", &bad.display().to_string()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("bad.toml") && message.contains("stale_bond"),
        "{message}"
    );

    let routes = dir.path().join("routes.toml");
    std::fs::write(
        &routes,
        "[gateway]\nlisten = \"127.0.0.1:8080\"\ncontrol_plane_url = \"http://127.0.0.1:7070\"\n\n\
         [[gateway.routes]]\nname = \"app\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:3000\"\n\
         actions = [{ path_prefix = \"/x\", action = \"launch\" }]\n",
    )?;
    let out = wrnexus(&["config", "check", &routes.display().to_string()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("launch"), "{}", text(&out));
    Ok(())
}

/// A copy of the shipped policies, with `export` declared when `export`.
fn policy_dir(to: &std::path::Path, export: bool) -> std::io::Result<()> {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(&from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cedar")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, to.join(name))?;
        }
    }
    let schema = std::fs::read_to_string(from.join("schema.cedarschema"))?;
    let schema = if export {
        schema.replace("billing appliesTo", "billing, export appliesTo")
    } else {
        schema
    };
    std::fs::write(to.join("schema.cedarschema"), schema)
}

#[test]
fn config_check_holds_the_shadow_set_to_the_routes_and_reads_the_poll_interval()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (live, shadow) = (dir.path().join("live"), dir.path().join("shadow"));
    policy_dir(&live, true)?;
    policy_dir(&shadow, false)?;
    let config = |poll: &str| {
        format!(
            "[policies]\ndir = {:?}\nshadow_dir = {:?}\n{poll}\n\
             [gateway]\nlisten = \"127.0.0.1:8080\"\ncontrol_plane_url = \"http://127.0.0.1:7070\"\n\
             allow_stale_revocation = true\n\n\
             [[gateway.routes]]\nname = \"app\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:3000\"\n\
             actions = [{{ path_prefix = \"/export\", action = \"export\" }}]\n",
            live.display().to_string(),
            shadow.display().to_string(),
        )
    };
    let file = dir.path().join("wrnexus.toml");
    std::fs::write(&file, config("poll_interval_ms = 5000"))?;
    let out = wrnexus(&["config", "check", &file.display().to_string()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "wrnexus.toml:3: `policies.shadow_dir`: route `app` uses action `export`, which the shadow policies' schema does not declare"
        ),
        "{}",
        text(&out)
    );

    // With the action declared in the shadow set too, the file is valid.
    policy_dir(&shadow, true)?;
    let out = wrnexus(&["config", "check", &file.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));

    std::fs::write(&file, config("poll_interval_ms = 0"))?;
    let out = wrnexus(&["config", "check", &file.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("poll_interval_ms must be at least 1"),
        "{}",
        text(&out)
    );
    Ok(())
}

/// A gateway-only config whose line 4 is `trusted_proxies`.
const GATEWAY: &str = "[gateway]\nlisten = \"127.0.0.1:8080\"\ncontrol_plane_url = \"http://127.0.0.1:7070\"\n\
                       trusted_proxies = [\"10.0.0.0/8\"]\nupstream = \"http://127.0.0.1:3000\"\n\
                       allow_stale_revocation = true\n";

#[test]
fn config_check_names_the_field_file_and_line_of_a_bad_cidr()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wrnexus.toml");
    std::fs::write(&file, GATEWAY.replace("10.0.0.0/8", "10.0.0.0/33"))?;
    let out = wrnexus(&["config", "check", &file.display().to_string()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("wrnexus.toml:4: `gateway.trusted_proxies`: `10.0.0.0/33` is not an IP address or CIDR block"),
        "{message}"
    );
    // A start refuses it the same way, before anything listens.
    let out = wrnexus(&["gateway", "--config", &file.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("wrnexus.toml:4: `gateway.trusted_proxies`"),
        "{}",
        text(&out)
    );
    Ok(())
}

#[test]
fn config_check_reads_the_environment_and_names_its_variables()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wrnexus.toml");
    std::fs::write(&file, GATEWAY)?;
    let path = file.display().to_string();
    // Arrays and durations from the environment.
    let out = wrnexus_with(
        &["config", "check", &path],
        &[
            (
                "WRNEXUS_GATEWAY__TRUSTED_PROXIES",
                r#"["10.0.0.0/8","::1"]"#,
            ),
            ("WRNEXUS_GATEWAY__CACHE_TTL_SECS", "10s"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = wrnexus_with(
        &["config", "check", &path],
        &[(
            "WRNEXUS_GATEWAY__TRUSTED_PROXIES",
            r#"["10.0.0.0/8","::1/200"]"#,
        )],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("environment variable `WRNEXUS_GATEWAY__TRUSTED_PROXIES`: `::1/200`"),
        "{}",
        text(&out)
    );
    let out = wrnexus_with(
        &["config", "check", &path],
        &[("WRNEXUS_GATEWAY__CACHE_TTL_SECS", "a minute")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains(
            "environment variable `WRNEXUS_GATEWAY__CACHE_TTL_SECS`: `a minute` is not a duration"
        ),
        "{}",
        text(&out)
    );
    Ok(())
}
