//! Test support: what people read, compared with its reviewed snapshot under `tests/snapshots/`,
//! or rewritten there with `UPDATE_SNAPSHOTS=1` (then read the diff before committing).

use std::path::Path;

/// Compares `actual` with `tests/snapshots/{folder}/{name}`, or rewrites it.
pub fn assert_snapshot(folder: &str, name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(folder)
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{name} differs from its snapshot {}; if the change is intended, run with UPDATE_SNAPSHOTS=1 and review the diff.\n--- actual ---\n{actual}",
        path.display()
    );
}
