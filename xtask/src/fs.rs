//! File-tree helpers shared by verify, export and the book.

use std::path::{Path, PathBuf};

/// Every file below `dir`, recursively (unreadable folders are skipped).
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Copies the files git knows (tracked and untracked-but-not-ignored) into `to`.
pub(crate) fn copy_workspace(root: &Path, to: &Path) -> Result<(), String> {
    let out = std::process::Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !out.status.success() {
        return Err("git ls-files failed: verify needs a git checkout".into());
    }
    let _ = std::fs::remove_dir_all(to);
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let rel = String::from_utf8_lossy(name).into_owned();
        let from = root.join(&rel);
        if !from.is_file() {
            continue;
        }
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(to)).map_err(|e| e.to_string())?;
        std::fs::copy(&from, &dest).map_err(|e| format!("{rel}: {e}"))?;
    }
    Ok(())
}

/// Cargo's target directory for the workspace at `root`, as cargo itself resolves it
/// (`CARGO_TARGET_DIR`, `build.target-dir` in a config, or `<root>/target`). Everything xtask
/// writes or reads under "target" goes through this, so a learner or CI cache that moves the
/// target directory moves all of it.
pub fn target_dir(root: &Path) -> PathBuf {
    static CACHE: std::sync::Mutex<Vec<(PathBuf, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, t)) = cache.iter().find(|(r, _)| r == root) {
        return t.clone();
    }
    let t = resolve_target_dir(root).unwrap_or_else(|| root.join("target"));
    cache.push((root.to_path_buf(), t.clone()));
    t
}

fn resolve_target_dir(root: &Path) -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    meta["target_directory"].as_str().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_dir_follows_cargo_target_dir() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root");
        let moved = std::env::temp_dir().join(format!("forkway-target-{}", std::process::id()));
        // What `target_dir` asks cargo, with the variable a CI cache sets.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", &moved)
            .output()
            .expect("cargo metadata");
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(meta["target_directory"].as_str().map(PathBuf::from), Some(moved));
        assert!(target_dir(root).is_absolute());
    }
}
