//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same bodies the fuzzers run, so a regression of any property found or
//! kept there fails the ordinary test suite, without a sanitizer build.

use std::path::Path;
use wrnexus_fuzz::TARGETS;

#[test]
fn every_corpus_input_keeps_its_property() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, check) in TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut replayed = 0;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            check(&data);
            replayed += 1;
        }
        assert!(replayed > 0, "the {name} corpus is empty");
    }
    Ok(())
}
