//! `.forkway/progress.json`: what a learner has done, keyed by lesson id and check id, so that
//! renumbering lessons or checks loses nothing. Unknown ids are kept and ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    pub version: u32,
    #[serde(default)]
    pub lessons: BTreeMap<String, LessonProgress>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct LessonProgress {
    #[serde(default)]
    pub started: bool,
    #[serde(default)]
    pub passed: bool,
    /// Status of each check in the last full run (every check of the lesson), by check id: the
    /// lesson's score in the course list comes from these alone.
    #[serde(default)]
    pub checks: BTreeMap<String, String>,
    /// Statuses from runs restricted with `--exercise` or `--only` since the last full run, by
    /// check id. Newer than `checks`; a full run clears them. Kept apart so that running one
    /// exercise never passes for the lesson's score.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alone: BTreeMap<String, String>,
    /// The best score of any full run, kept beside the last run's statuses.
    #[serde(default)]
    pub best: u32,
    /// How many hints were shown, by exercise id.
    #[serde(default)]
    pub hints: BTreeMap<String, usize>,
}

pub fn dir(root: &Path) -> PathBuf {
    root.join(".forkway")
}

fn path(root: &Path) -> PathBuf {
    dir(root).join("progress.json")
}

impl LessonProgress {
    /// The latest status of a check: from a restricted run since the last full run, else from
    /// the last full run.
    pub fn status(&self, check: &str) -> Option<&str> {
        self.alone
            .get(check)
            .or_else(|| self.checks.get(check))
            .map(String::as_str)
    }
}

impl Progress {
    /// Loads progress; a missing file is a fresh start, a corrupt one is set aside (not lost).
    pub fn load(root: &Path) -> Progress {
        let p = path(root);
        let Ok(text) = std::fs::read_to_string(&p) else {
            return Progress {
                version: 1,
                ..Default::default()
            };
        };
        match serde_json::from_str(&text) {
            Ok(progress) => progress,
            Err(e) => {
                let aside = p.with_extension("json.corrupt");
                let _ = std::fs::rename(&p, &aside);
                eprintln!(
                    "note: {} was unreadable ({e}); kept it as {}",
                    p.display(),
                    aside.display()
                );
                Progress {
                    version: 1,
                    ..Default::default()
                }
            }
        }
    }

    pub fn save(&self, root: &Path) -> Result<(), String> {
        let p = path(root);
        std::fs::create_dir_all(dir(root)).map_err(|e| format!("{}: {e}", dir(root).display()))?;
        let tmp = p.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &p).map_err(|e| format!("{}: {e}", p.display()))
    }

    pub fn lesson(&mut self, id: &str) -> &mut LessonProgress {
        self.lessons.entry(id.to_owned()).or_default()
    }
}
