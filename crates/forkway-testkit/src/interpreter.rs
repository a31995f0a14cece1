//! Which CPython the benches compare against: `FORKWAY_PYTHON` when set, else the fastest
//! python3 on the machine. Shared by the benches (through `bench::python`) and by
//! `cargo xtask bench`, so both pick the same way; std and serde_json only.
//!
//! The fastest matters: an interpreter built from source without profile-guided optimisation
//! can be half as fast as the distribution's, and a ratio against a slow CPython flatters
//! forkway. A short calibration loop (pickling and calling, what multiprocessing does per
//! message) decides; start-up is not part of it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run by each candidate: its identity, its build flags, and the calibration loop's best time.
const PROBE: &str = r#"
import json, pickle, sys, sysconfig, time
class Box:
    def __init__(self):
        self.v = 0
def step(b, i, d):
    b.v = b.v + 1
    d[i & 255] = (i, "x")
    return pickle.loads(pickle.dumps(d[i & 255]))
def loop():
    t = time.perf_counter()
    b, d = Box(), {}
    for i in range(20000):
        step(b, i, d)
    return time.perf_counter() - t
best = min(loop() for _ in range(5))
ca = sysconfig.get_config_var("CONFIG_ARGS") or ""
cf = (sysconfig.get_config_var("PY_CFLAGS") or "") + " " + (sysconfig.get_config_var("PY_CFLAGS_NODIST") or "")
opt = [f for f in cf.split() if f.startswith("-O")]
print(json.dumps({
    "executable": sys.executable,
    "version": sys.version.replace("\n", " "),
    "pgo": "--enable-optimizations" in ca,
    "lto": "--with-lto" in ca or "-flto" in cf,
    "opt": opt[-1] if opt else "",
    "calibration_ms": best * 1e3,
}))
"#;

/// A probed interpreter.
#[derive(Clone, Debug)]
pub struct Interpreter {
    /// The executable itself (a pyenv shim resolved to what it runs).
    pub path: PathBuf,
    /// `sys.version`, e.g. "3.11.2 (main, …) [GCC 12.2.0]".
    pub version: String,
    /// What sysconfig records of the build, e.g. "PGO+LTO, -O3" or "no PGO, no LTO, -O3".
    pub build: String,
    /// Whether sysconfig records an optimised build (`--enable-optimizations` or LTO).
    pub optimized: bool,
    /// The calibration loop's best time (lower is faster).
    pub calibration_ms: f64,
    /// Why this one: "FORKWAY_PYTHON" or "fastest of N".
    pub chosen_because: String,
    /// Every candidate of the race, this one included: (path, version, calibration ms), in the
    /// order found; empty when `FORKWAY_PYTHON` named the interpreter.
    pub raced: Vec<(PathBuf, String, f64)>,
}

impl Interpreter {
    /// For summary files.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.path.display().to_string(),
            "version": self.version,
            "build": self.build,
            "optimized_per_sysconfig": self.optimized,
            "calibration_ms": self.calibration_ms,
            "chosen_because": self.chosen_because,
            "candidates": self.raced.iter().map(|(path, version, ms)| serde_json::json!({
                "path": path.display().to_string(),
                "version": version.split_whitespace().next().unwrap_or("?"),
                "calibration_ms": ms,
            })).collect::<Vec<_>>(),
        })
    }

    /// One line for tables: "/usr/bin/python3, 3.11.2, …".
    pub fn describe(&self) -> String {
        let short = self.version.split_whitespace().next().unwrap_or("?");
        format!(
            "{} (Python {short}; {}; calibration {:.1} ms; {})",
            self.path.display(),
            self.build,
            self.calibration_ms,
            self.chosen_because
        )
    }
}

/// Runs the probe in `python`; `None` when it is not a working python3.
pub fn probe(python: &Path) -> Option<Interpreter> {
    let out = Command::new(python).args(["-c", PROBE]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let (pgo, lto) = (json["pgo"].as_bool()?, json["lto"].as_bool()?);
    let opt = json["opt"].as_str().unwrap_or("");
    let mut build = format!(
        "{}, {}{}",
        if pgo { "PGO" } else { "no PGO" },
        if lto { "LTO" } else { "no LTO" },
        if opt.is_empty() {
            String::new()
        } else {
            format!(", {opt}")
        }
    );
    let executable = PathBuf::from(json["executable"].as_str()?);
    if !pgo && executable.starts_with("/usr/bin") {
        // Debian and Ubuntu run the profile-guided build from their packaging, not through
        // configure: sysconfig does not record it, the calibration shows it.
        build += " recorded (a distribution's build: its packaging may optimise outside configure)";
    }
    Some(Interpreter {
        path: executable,
        version: json["version"].as_str()?.to_owned(),
        build,
        optimized: pgo || lto,
        calibration_ms: json["calibration_ms"].as_f64()?,
        chosen_because: String::new(),
        raced: Vec::new(),
    })
}

/// /usr/bin/python3, every python3 and python3.x on PATH, and every pyenv version's.
pub fn candidates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from("/usr/bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))
        .unwrap_or_else(|| PathBuf::from("/root/.pyenv"));
    if let Ok(versions) = std::fs::read_dir(pyenv.join("versions")) {
        let mut v: Vec<PathBuf> = versions.flatten().map(|e| e.path().join("bin")).collect();
        v.sort();
        dirs.extend(v);
    }
    let is_python3 = |name: &str| {
        name == "python3"
            || name
                .strip_prefix("python3.")
                .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_python3(n))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(name);
            if !found.contains(&path) {
                found.push(path);
            }
        }
    }
    found
}

/// `FORKWAY_PYTHON` when set (probed, not raced), else the fastest working candidate; the
/// candidates' calibration times go to stderr. `None` without any python3.
pub fn choose() -> Option<Interpreter> {
    if let Some(forced) = std::env::var_os("FORKWAY_PYTHON").filter(|p| !p.is_empty()) {
        let Some(mut chosen) = probe(Path::new(&forced)) else {
            eprintln!("FORKWAY_PYTHON={forced:?} is not a working python3: CPython rows skipped");
            return None;
        };
        chosen.chosen_because = "FORKWAY_PYTHON".to_owned();
        return Some(chosen);
    }
    // Three rounds over all candidates (A B C, A B C, …), each one's best: a noisy moment on a
    // shared machine then cannot make one interpreter look slow.
    let mut probed: Vec<Interpreter> = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    for round in 0..3 {
        let list = if round == 0 { candidates() } else { paths.clone() };
        for candidate in list {
            let Some(found) = probe(&candidate) else { continue };
            // Shims, symlinks and PATH duplicates name the same executable: race it once.
            let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            match probed.iter_mut().find(|p| real(&p.path) == real(&found.path)) {
                Some(known) if round > 0 => {
                    known.calibration_ms = known.calibration_ms.min(found.calibration_ms)
                }
                Some(_) => {}
                None => {
                    paths.push(found.path.clone());
                    probed.push(found);
                }
            }
        }
    }
    for p in &probed {
        eprintln!(
            "  python candidate {:<45} {:>7.1} ms  ({})",
            p.path.display(),
            p.calibration_ms,
            p.version.split_whitespace().next().unwrap_or("?")
        );
    }
    let n = probed.len();
    let raced = probed
        .iter()
        .map(|p| (p.path.clone(), p.version.clone(), p.calibration_ms))
        .collect();
    let mut chosen = probed
        .into_iter()
        .min_by(|a, b| a.calibration_ms.total_cmp(&b.calibration_ms))?;
    chosen.chosen_because = format!("fastest of {n} found");
    chosen.raced = raced;
    Some(chosen)
}
