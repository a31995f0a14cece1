//! `cargo xtask export`: a starter repository for a class.
//!
//! The chosen lessons' exercise regions are blanked; the reference bodies are nowhere in the
//! output (no git history, no `.forkway/` copies, no tests that exercise the reference beyond the
//! graded checks, no doctests of blanked crates); a student README and a GitHub Classroom
//! workflow are added. A final scan proves that no line of a blanked solution survives.

use std::path::Path;

use crate::lesson::Lesson;
use crate::{find, load, regions};

/// What an export did.
pub struct Exported {
    pub blanked: Vec<String>,
    pub removed: Vec<String>,
}

pub fn export(root: &Path, lessons: &[Lesson], chosen: &[u32], out: &Path) -> Result<Exported, String> {
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(format!(
            "{} exists and is not empty: export never overwrites a folder",
            out.display()
        ));
    }
    crate::fs::copy_workspace(root, out)?;
    // Maintainer-only files: CI runs `verify`, which needs the reference.
    let _ = std::fs::remove_dir_all(out.join(".ci"));
    let chosen: Vec<&Lesson> = lessons.iter().filter(|l| chosen.contains(&l.number)).collect();
    let mut done = Exported {
        blanked: Vec::new(),
        removed: Vec::new(),
    };
    for lesson in &chosen {
        for ex in &lesson.exercises {
            let path = out.join(&ex.file);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", ex.file))?;
            std::fs::write(&path, regions::blank(&text, &ex.region, &ex.id, &ex.title)?)
                .map_err(|e| e.to_string())?;
            done.blanked.push(format!("{} (exercise {})", ex.file, ex.id));
        }
        for t in &lesson.reference_tests {
            if std::fs::remove_file(out.join(t)).is_ok() {
                done.removed.push(t.clone());
            }
        }
        for package in &lesson.reference_doctests {
            disable_doctests(out, package)?;
        }
        // Wrong answers are the reference with one mistake: near-solutions, never handed out.
        if let Some(dir) = crate::mutants::lesson_dir(root, lesson) {
            let wrong = out.join(dir.strip_prefix(root).unwrap_or(&dir)).join("wrong");
            if wrong.exists() {
                std::fs::remove_dir_all(&wrong).map_err(|e| format!("{}: {e}", wrong.display()))?;
                done.removed.push(format!(
                    "{}/",
                    wrong.strip_prefix(out).unwrap_or(&wrong).display()
                ));
            }
        }
    }
    std::fs::write(out.join("README.md"), student_readme(lessons, &chosen)).map_err(|e| e.to_string())?;
    let workflow = out.join(".github").join("workflows");
    std::fs::create_dir_all(&workflow).map_err(|e| e.to_string())?;
    std::fs::write(workflow.join("classroom.yml"), CLASSROOM_WORKFLOW).map_err(|e| e.to_string())?;
    let leaks = solution_leaks(root, &chosen, out)?;
    if !leaks.is_empty() {
        // Never leave a starter with solutions in it lying around: remove what we wrote.
        let _ = std::fs::remove_dir_all(out);
        return Err(format!(
            "the export would contain solution lines, so {} was removed:\n  {}",
            out.display(),
            leaks.join("\n  ")
        ));
    }
    Ok(done)
}

/// Finds the crate folder of `package` and turns its doctests off.
fn disable_doctests(out: &Path, package: &str) -> Result<(), String> {
    for dir in ["crates", "."] {
        let Ok(entries) = std::fs::read_dir(out.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let manifest = entry.path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else {
                continue;
            };
            if !text.lines().any(|l| l.trim() == format!("name = \"{package}\"")) {
                continue;
            }
            // Several lessons may list the same package: patch it once.
            if text.lines().any(|l| l.trim() == "doctest = false") {
                return Ok(());
            }
            let patched = if text.contains("\n[lib]\n") {
                text.replacen(
                    "\n[lib]\n",
                    "\n[lib]\n# Off in the starter: they would test your unfinished code.\ndoctest = false\n",
                    1,
                )
            } else {
                format!("{text}\n[lib]\n# Off in the starter: they would test your unfinished code.\ndoctest = false\n")
            };
            return std::fs::write(&manifest, patched).map_err(|e| e.to_string());
        }
    }
    Ok(())
}

/// Lines of the chosen lessons' reference regions that appear in the export's prose and
/// metadata (Markdown, TOML, YAML, text): a chapter or a hint that quotes a solution line.
/// Rust files are blanked by construction; a line that also stands outside the region in code
/// (`flush_std_streams();`) is shared code, not a solution. Only distinctive lines count (20+
/// characters once trimmed). The export also must not carry `.git` or `.forkway`.
fn solution_leaks(root: &Path, chosen: &[&Lesson], out: &Path) -> Result<Vec<String>, String> {
    let mut leaks = Vec::new();
    for hidden in [".git", ".forkway"] {
        if out.join(hidden).exists() {
            leaks.push(format!("{hidden}/ must not be exported"));
        }
    }
    let mut needles = Vec::new();
    for lesson in chosen {
        for ex in &lesson.exercises {
            let text = std::fs::read_to_string(root.join(&ex.file)).map_err(|e| e.to_string())?;
            let body = regions::body(&text, &ex.region)?;
            if regions::is_blank(&body) {
                continue;
            }
            for line in body
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 20 && !l.starts_with("//"))
            {
                needles.push((ex.id.clone(), line.to_owned()));
            }
        }
    }
    for path in crate::fs::files_under(out) {
        let prose = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["md", "toml", "yml", "yaml", "txt", "json"].contains(&e));
        // The lesson texts are what the runner shows the learner anyway: a statement names the
        // calls an exercise must make, on purpose (the specification lives there).
        let lesson_text = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("lesson") && n.ends_with(".toml"));
        if lesson_text {
            continue;
        }
        let Some(text) = prose.then(|| std::fs::read_to_string(&path).ok()).flatten() else {
            continue;
        };
        for (ex, needle) in &needles {
            if text.contains(needle.as_str()) {
                leaks.push(format!(
                    "{}: exercise {ex}: {needle}",
                    path.strip_prefix(out).unwrap_or(&path).display()
                ));
            }
        }
    }
    Ok(leaks)
}

fn student_readme(all: &[Lesson], chosen: &[&Lesson]) -> String {
    let mut s = String::from(
        "# forkway — your course repository\n\n\
         You rebuild Python's `multiprocessing` in Rust, on real OS processes, one lesson at a time.\n\n\
         ## Two commands\n\n\
         ```console\n\
         cargo xtask lesson 1    # start lesson 1 and run its checks (again after every change)\n\
         cargo test              # every test; the graded ones fail until you solve them\n\
         ```\n\n\
         `cargo xtask lesson 1 --watch` reruns the checks whenever you save. `cargo xtask hint 1` gives\n\
         the next hint, `cargo xtask reset 1` puts the starter back (your version is backed up first,\n\
         in `.forkway/backups/`). Read the book: `cargo xtask book`, or the Markdown in `book/src/`.\n\n\
         ## Your assignment\n\n",
    );
    for l in all {
        let state = if chosen.iter().any(|c| c.id == l.id) {
            "to solve"
        } else {
            "given, already working"
        };
        s.push_str(&format!(
            "- Lesson {}: {} — {} ({} points)\n",
            l.number,
            l.title,
            state,
            l.max_points()
        ));
    }
    s.push_str(
        "\n## How you are graded\n\n\
         Every push runs `cargo xtask grade --format classroom` (see `.github/workflows/classroom.yml`):\n\
         each graded check gives its points when it passes. Run `cargo xtask grade` yourself to see the\n\
         same table. Checks run each in their own process with a timeout; a check that leaves processes\n\
         running fails, so reap your children.\n",
    );
    s
}

/// The GitHub Classroom workflow of a starter repository.
pub const CLASSROOM_WORKFLOW: &str = r#"name: Autograding Tests
"on":
  - push
  - workflow_dispatch
  - repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Grade the forkway checks
        id: forkway
        run: cargo xtask grade --format classroom
        continue-on-error: true
      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
          FORKWAY_RESULTS: "${{ steps.forkway.outputs.result }}"
        with:
          runners: forkway
"#;

/// `cargo xtask export`: writes the starter and says what it blanked and left out.
pub fn command(root: &Path, out: &Path, only: &[u32]) -> Result<u8, String> {
    let lessons = load(root)?;
    let chosen: Vec<u32> = if only.is_empty() {
        lessons.iter().map(|l| l.number).collect()
    } else {
        only.to_vec()
    };
    for n in &chosen {
        find(&lessons, *n)?;
    }
    let done = export(root, &lessons, &chosen, out)?;
    println!("Starter repository written to {}", out.display());
    println!("Blanked:");
    for b in &done.blanked {
        println!("  {b}");
    }
    if !done.removed.is_empty() {
        println!("Left out (they test the reference beyond the graded checks):");
        for r in &done.removed {
            println!("  {r}");
        }
    }
    println!("Added README.md for students and .github/workflows/classroom.yml (grades with `cargo xtask grade --format classroom`).");
    println!(
        "Next: cd {} && git init && git add -A && git commit -m starter",
        out.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use yaml_rust2::YamlLoader;

    #[test]
    fn the_classroom_workflow_is_valid_yaml_that_grades_with_the_runner() {
        let docs = YamlLoader::load_from_str(super::CLASSROOM_WORKFLOW).expect("valid YAML");
        let wf = &docs[0];
        let steps = wf["jobs"]["run-autograding-tests"]["steps"]
            .as_vec()
            .expect("steps");
        let grade = steps
            .iter()
            .find(|s| s["id"].as_str() == Some("forkway"))
            .expect("a step with id forkway");
        assert_eq!(
            grade["run"].as_str(),
            Some("cargo xtask grade --format classroom")
        );
        let reporter = steps
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("classroom-resources/autograding-grading-reporter"))
            })
            .expect("the reporter step");
        assert_eq!(reporter["with"]["runners"].as_str(), Some("forkway"));
        assert_eq!(
            reporter["env"]["FORKWAY_RESULTS"].as_str(),
            Some("${{ steps.forkway.outputs.result }}")
        );
        assert_eq!(wf["permissions"]["checks"].as_str(), Some("write"));
    }
}
