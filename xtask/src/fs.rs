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
