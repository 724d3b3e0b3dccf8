//! Policy sets for the policy benchmarks: the shipped set copied into a
//! directory, with `extra` generated policies beside it, written as an
//! operator's own would be (permits and forbids of the other actions and
//! the other resource types, conditions naming other workspaces' ids, and
//! per-user grants in the form a linked template takes). Every generated
//! policy keeps the invariants and cannot err, so a checked load takes it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The directory of the shipped policies (schema, `*.cedar`, `tests/`).
pub fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// An id no request of the benchmarks uses: the `i`-th other workspace,
/// user or project (UUID-shaped, as the control plane mints them).
fn other(kind: u32, i: usize) -> String {
    format!("7e5d{kind:04x}-0000-4000-8000-{i:012x}")
}

/// `extra` generated policies, as the text of one `.cedar` file.
///
/// Half are written against one scope (permits and forbids of `read`,
/// `admin` and `billing`, on other workspaces and on projects, some for
/// API keys); half are per-user grants (`principal == User::"…"`, `resource
/// == Workspace::"…"`): the static policy a template linked for one user
/// and workspace stands for.
pub fn extra_policies(extra: usize) -> String {
    let mut text = String::new();
    for i in 0..extra {
        let workspace = other(1, i);
        let user = other(2, i);
        let project = other(3, i);
        let policy = if i % 2 == 1 {
            // The linked-template half: one grant per user and workspace,
            // of `write` one time in two (the benchmarked action).
            let action = if i % 4 == 1 { "write" } else { "read" };
            format!(
                "@id(\"grant-{i}\")\npermit (\n  principal == WRNexus::User::\"{user}\",\n  \
                 action == WRNexus::Action::\"{action}\",\n  resource == WRNexus::Workspace::\"{workspace}\"\n)\n\
                 when {{ [\"owner\", \"admin\", \"member\"].contains(context.role) && context.plan == \"team\" }};\n"
            )
        } else {
            match (i / 2) % 6 {
                0 => format!(
                    "@id(\"admin-enterprise-{i}\")\npermit (\n  principal,\n  \
                     action == WRNexus::Action::\"admin\",\n  resource == WRNexus::Workspace::\"{workspace}\"\n)\n\
                     when {{ [\"owner\", \"admin\"].contains(context.role) && context.plan == \"enterprise\" }};\n"
                ),
                1 => format!(
                    "@id(\"billing-freeze-{i}\")\n@code(\"billing_frozen\")\nforbid (\n  principal,\n  \
                     action == WRNexus::Action::\"billing\",\n  resource == WRNexus::Workspace::\"{workspace}\"\n)\n\
                     when {{ context.method != \"GET\" }};\n"
                ),
                2 => format!(
                    "@id(\"project-read-{i}\")\npermit (\n  principal is WRNexus::User,\n  \
                     action == WRNexus::Action::\"read\",\n  resource == WRNexus::Project::\"{project}\"\n)\n\
                     when {{ [\"owner\", \"admin\", \"member\", \"viewer\"].contains(context.role) }};\n"
                ),
                3 => format!(
                    "@id(\"key-no-admin-{i}\")\nforbid (\n  principal is WRNexus::ApiKey,\n  \
                     action == WRNexus::Action::\"admin\",\n  resource\n)\n\
                     when {{ principal.workspace == WRNexus::Workspace::\"{workspace}\" }};\n"
                ),
                4 => format!(
                    "@id(\"project-exports-{i}\")\nforbid (\n  principal,\n  \
                     action == WRNexus::Action::\"read\",\n  resource in WRNexus::Workspace::\"{workspace}\"\n)\n\
                     when {{ resource is WRNexus::Project && context.path == \"/app/exports\" }};\n"
                ),
                _ => format!(
                    "@id(\"legacy-path-{i}\")\nforbid (\n  principal,\n  action,\n  \
                     resource == WRNexus::Workspace::\"{workspace}\"\n)\n\
                     when {{ context.path == \"/app/legacy\" && context.method == \"DELETE\" }};\n"
                ),
            }
        };
        let _ = writeln!(text, "{policy}");
    }
    text
}

/// Write the shipped set, and `extra` generated policies in
/// `generated.cedar` (none: the file is removed), into `dir`. The shipped
/// decision tests (`tests/*.toml`) come along: a checked load runs them.
pub fn write_set(dir: &Path, extra: usize) -> std::io::Result<()> {
    let shipped = shipped_dir();
    std::fs::create_dir_all(dir.join("tests"))?;
    for entry in std::fs::read_dir(&shipped)? {
        let path = entry?.path();
        let wanted = path
            .extension()
            .is_some_and(|x| x == "cedar" || x == "cedarschema");
        if let (true, Some(name)) = (wanted, path.file_name()) {
            copy_if_changed(&path, &dir.join(name))?;
        }
    }
    for entry in std::fs::read_dir(shipped.join("tests"))? {
        let path = entry?.path();
        if let (true, Some(name)) = (
            path.extension().is_some_and(|x| x == "toml"),
            path.file_name(),
        ) {
            copy_if_changed(&path, &dir.join("tests").join(name))?;
        }
    }
    let generated = dir.join("generated.cedar");
    if extra == 0 {
        match std::fs::remove_file(&generated) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    } else {
        // Written beside the directory and renamed in: a poll of the
        // directory never sees half a file, nor a file of another name.
        let partial = dir.with_extension("generated-partial");
        std::fs::write(&partial, extra_policies(extra))?;
        std::fs::rename(&partial, &generated)?;
    }
    Ok(())
}

/// Copy `from` to `to` unless `to` already holds the same bytes (so that a
/// rewrite of a set changes only what differs).
fn copy_if_changed(from: &Path, to: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(from)?;
    if std::fs::read(to).ok().as_deref() != Some(bytes.as_slice()) {
        std::fs::write(to, bytes)?;
    }
    Ok(())
}
