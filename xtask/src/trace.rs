//! `cargo xtask trace <example> [-- args]`: run one of the crates' examples with
//! `FORKWAY_TRACE` set, then draw the merged trace as an SVG swimlane.
//!
//! Outputs go to `target/forkway-trace/NAME.json` (the Chrome trace: Perfetto, chrome://tracing)
//! and `NAME.svg`. `--book` runs the book's traced programs and rewrites the figures
//! `book/src/img/trace-*.svg`, which the chapters show.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The book's traced figures: (example, its arguments, figure name, title).
pub(crate) const BOOK_FIGURES: &[(&str, &[&str], &str, &str)] = &[
    (
        "tickets",
        &["--no-lock"],
        "trace-tickets-no-lock",
        "tickets --no-lock: every buyer reads 1 left before anyone writes",
    ),
    (
        "tickets",
        &[],
        "trace-tickets-lock",
        "tickets: with the lock, one buyer at a time between read and write",
    ),
    (
        "forkway-ipc/producer_consumer",
        &["1"],
        "trace-producer-consumer",
        "producer_consumer: ten buns and a Done sentinel through a Queue",
    ),
    (
        "bakery",
        &["1"],
        "trace-bakery",
        "bakery: the cook's join() returns after the last task_done",
    ),
    (
        "owner_died",
        &[],
        "trace-owner-died",
        "owner_died: a holder killed with the lock, the next acquirer recovers",
    ),
];

/// The crate (package name) whose `examples/` holds `example.rs`, and the example's name.
/// `crate/example` picks one where several crates have an example of that name.
fn find_example(root: &Path, example: &str) -> Result<(String, String), String> {
    if let Some((package, name)) = example.split_once('/') {
        let file = root
            .join("crates")
            .join(package)
            .join("examples")
            .join(format!("{name}.rs"));
        return if file.is_file() {
            Ok((package.to_owned(), name.to_owned()))
        } else {
            Err(format!("no example `{name}` in crates/{package}/examples"))
        };
    }
    let crates = root.join("crates");
    let entries = std::fs::read_dir(&crates).map_err(|e| format!("{}: {e}", crates.display()))?;
    let mut found: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("examples").join(format!("{example}.rs")).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok((one.clone(), example.to_owned())),
        [] => Err(format!("no example `{example}` in crates/*/examples")),
        many => Err(format!(
            "example `{example}` is in several crates: {}; name one, e.g. `{}/{example}`",
            many.join(", "),
            many[0]
        )),
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Builds and runs `example` with tracing into `json`, then renders `svg` titled `title`.
/// `quiet` hides the program's output (for the book's figures).
fn trace_example(
    root: &Path,
    example: &str,
    args: &[String],
    json: &Path,
    svg: &Path,
    title: &str,
    quiet: bool,
) -> Result<(), String> {
    let (package, example) = find_example(root, example)?;
    let example = example.as_str();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "-p", &package, "--example", example])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("building example `{example}` of {package} failed"));
    }
    let exe = target_dir(root).join("debug").join("examples").join(example);
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut cmd = Command::new(&exe);
    cmd.args(args)
        .current_dir(root)
        .env("FORKWAY_TRACE", json)
        .env("FORKWAY_FORK_WARNING", "0");
    if quiet {
        cmd.stdout(std::process::Stdio::null());
    }
    let status = cmd.status().map_err(|e| format!("{}: {e}", exe.display()))?;
    if !status.success() {
        eprintln!("{example} exited with {status}; drawing what it recorded");
    }
    let events = forkway_trace::read_trace(json).map_err(|e| e.to_string())?;
    let picture = forkway_trace::svg::render(&events, title);
    std::fs::write(svg, picture).map_err(|e| format!("{}: {e}", svg.display()))?;
    Ok(())
}

/// `cargo xtask trace <example> [--name NAME] [-- args]`.
pub(crate) fn command(root: &Path, example: &str, args: &[String], name: Option<&str>) -> Result<u8, String> {
    let name = name.map_or_else(
        || {
            // `crate/example` names a file `example…`: the crate is only there to choose.
            let short = example.rsplit('/').next().unwrap_or(example);
            std::iter::once(short.to_owned())
                .chain(args.iter().map(|a| a.trim_start_matches('-').to_owned()))
                .collect::<Vec<_>>()
                .join("-")
        },
        str::to_owned,
    );
    let out = target_dir(root).join("forkway-trace");
    let (json, svg) = (out.join(format!("{name}.json")), out.join(format!("{name}.svg")));
    let title = std::iter::once(example.rsplit('/').next().unwrap_or(example))
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    trace_example(root, example, args, &json, &svg, &title, false)?;
    println!(
        "trace:    {}  (open it in https://ui.perfetto.dev or chrome://tracing)",
        json.display()
    );
    println!("timeline: {}", svg.display());
    Ok(0)
}

/// `cargo xtask trace --book`: rewrites `book/src/img/trace-*.svg` from fresh runs.
pub(crate) fn book_figures(root: &Path) -> Result<u8, String> {
    let out = target_dir(root).join("forkway-trace");
    let img = root.join("book").join("src").join("img");
    for (example, args, figure, title) in BOOK_FIGURES {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let json = out.join(format!("{figure}.json"));
        let svg = img.join(format!("{figure}.svg"));
        trace_example(root, example, &args, &json, &svg, title, true)?;
        println!("{}", svg.display());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::find_example;

    #[test]
    fn an_example_in_several_crates_is_named_with_its_crate() {
        let root = std::env::temp_dir().join(format!("forkway-find-example-{}", std::process::id()));
        for krate in ["forkway-ipc", "forkway-mpi"] {
            let dir = root.join("crates").join(krate).join("examples");
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join("producer_consumer.rs"), "fn main() {}\n").expect("write");
        }
        let ambiguous = find_example(&root, "producer_consumer").expect_err("ambiguous");
        let chosen = find_example(&root, "forkway-ipc/producer_consumer");
        let missing = find_example(&root, "forkway-ipc/tickets");
        let _ = std::fs::remove_dir_all(&root);
        assert!(
            ambiguous.contains("`forkway-ipc/producer_consumer`"),
            "{ambiguous}"
        );
        assert_eq!(chosen, Ok(("forkway-ipc".into(), "producer_consumer".into())));
        assert!(missing.is_err());
    }
}
