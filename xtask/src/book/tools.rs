//! The mdBook programs the book is built with, found or installed, and the staged `book.toml`
//! each build edits.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The mdBook this book is built with.
pub const MDBOOK_VERSION: &str = "0.5.4";
/// The gettext tools for mdBook (`mdbook-xgettext`, `mdbook-gettext`); 0.4 is the first release
/// for mdBook 0.5.
pub const I18N_HELPERS_VERSION: &str = "0.4.0";

/// Finds mdBook, installing it with cargo when missing.
pub fn mdbook(install: bool) -> Result<PathBuf, String> {
    tool("mdbook", "mdbook", MDBOOK_VERSION, install)
}

/// Finds `program` on `PATH` or in cargo's `bin`, else installs `krate` at `version` with
/// `cargo install --locked` (when `install`).
pub(super) fn tool(program: &str, krate: &str, version: &str, install: bool) -> Result<PathBuf, String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let installed = home.join("bin").join(program);
    if installed.exists() {
        return Ok(installed);
    }
    if let Ok(out) = Command::new(program).arg("--version").output() {
        if out.status.success() {
            return Ok(PathBuf::from(program));
        }
    }
    let command = format!("cargo install {krate} --locked --version {version}");
    if !install {
        return Err(format!("{program} is not installed ({command})"));
    }
    eprintln!("{program} is not installed: installing it with `{command}` (a few minutes, once)…");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["install", krate, "--locked", "--version", version])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`{command}` failed (see above); install it by hand and rerun"
        ));
    }
    Ok(installed)
}

/// Runs `mdbook build` on a staged book; any ERROR in its log is a failure (mdBook logs a broken
/// include as an error but still exits 0).
pub(super) fn mdbook_build(mdbook: &Path, book: &Path, out_dir: &Path) -> Result<(), String> {
    let out = Command::new(mdbook)
        .arg("build")
        .arg(book)
        .arg("--dest-dir")
        .arg(out_dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", mdbook.display()))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || log.contains("ERROR") {
        return Err(format!("mdbook build failed:\n{log}"));
    }
    Ok(())
}

/// Edits the staged `book.toml`.
pub(super) fn edit_config(book: &Path, edit: impl FnOnce(&mut toml::Table)) -> Result<(), String> {
    let path = book.join("book.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut config: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    edit(&mut config);
    let text = toml::to_string(&config).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

pub(super) fn table<'a>(config: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    let entry = config
        .entry(key.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    match entry {
        toml::Value::Table(t) => t,
        _ => unreachable!("just made a table"),
    }
}
