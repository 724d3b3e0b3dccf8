//! Tests of hot reload: a candidate that drops an action a route uses is
//! refused and counted, and the last good set keeps serving.

use super::*;
use std::path::Path;

const ACTIONS: &str = "action read, write, admin, billing appliesTo";

/// A copy of the shipped policies whose schema declares `export` too.
fn with_export(dir: &Path) -> std::io::Result<()> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    for entry in std::fs::read_dir(&shipped)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cedar")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, dir.join(name))?;
        }
    }
    let schema = std::fs::read_to_string(shipped.join("schema.cedarschema"))?;
    assert!(schema.contains(ACTIONS), "the schema lists the actions");
    std::fs::write(
        dir.join("schema.cedarschema"),
        schema.replace(
            ACTIONS,
            "action read, write, admin, billing, export appliesTo",
        ),
    )
}

/// The set in force.
fn in_force(watched: &Watched) -> Arc<PolicyEngine> {
    match watched.slot.read() {
        Ok(engine) => engine.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// The rules `docs/policies.md` gives for an `export` action.
const EXPORT_RULES: &str = r#"// Members and above may export their data.
@id("role-export")
permit (
  principal,
  action == WRNexus::Action::"export",
  resource
)
when { ["owner", "admin", "member"].contains(context.role) };

// A suspended workspace only looks: exporting with POST is closed to it.
@id("suspended-export")
@code("workspace_read_only")
forbid (
  principal,
  action == WRNexus::Action::"export",
  resource
)
when
{
  context.workspace_status == "suspended" &&
  !(["GET", "HEAD"].contains(context.method))
};
"#;

fn counted(metrics: &Metrics, result: &str) -> u64 {
    metrics
        .policy_reloads
        .with_label_values(&["live", result])
        .get()
}

#[tokio::test]
async fn a_set_without_an_action_a_route_uses_is_refused() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    with_export(dir.path())?;
    let source = PolicySource::Dir(dir.path().to_path_buf());
    let first = load_checked(&source)?;
    assert!(first.knows_action("export"));
    let metrics = Metrics::new()?;
    let watched = Watched {
        source,
        slot: Arc::new(RwLock::new(Arc::new(first))),
        set: "live",
        metrics: metrics.clone(),
        uses: Arc::from(vec![ActionUse {
            route: "exports".to_string(),
            action: "export".to_string(),
        }]),
    };

    // The candidate is a valid set on its own, but the route would fail closed.
    let schema = std::fs::read_to_string(dir.path().join("schema.cedarschema"))?;
    std::fs::write(
        dir.path().join("schema.cedarschema"),
        schema.replace(", export appliesTo", " appliesTo"),
    )?;
    assert!(!watched.reload().await, "the candidate was taken");
    assert_eq!(counted(&metrics, "refused"), 1);
    assert_eq!(counted(&metrics, "ok"), 0);
    assert!(
        in_force(&watched).knows_action("export"),
        "the last good set keeps serving"
    );

    // Declared again (with one more rule): taken.
    std::fs::write(dir.path().join("schema.cedarschema"), schema)?;
    std::fs::write(dir.path().join("export.cedar"), EXPORT_RULES)?;
    assert!(watched.reload().await, "the good candidate was refused");
    assert_eq!(counted(&metrics, "ok"), 1);
    let engine = in_force(&watched);
    assert!(engine.policy_text("role-export").is_some());
    Ok(())
}
