//! `--watch`: wait until an editable file changes.
//!
//! File events come from inotify on the folders of the files (editors often save by writing a
//! new file and renaming it over the old one, so watching the file itself would miss saves).
//! Modification times are polled as well: when a change shows up in the times but no event came,
//! events are not arriving (some network and container filesystems), and the watcher says so
//! and relies on polling from then on.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

pub struct Watcher {
    files: Vec<PathBuf>,
    inotify: Option<Inotify>,
    seen: BTreeMap<PathBuf, Option<SystemTime>>,
    /// Set once polling noticed a change that no event reported.
    pub events_missing: bool,
}

fn mtimes(files: &[PathBuf]) -> BTreeMap<PathBuf, Option<SystemTime>> {
    files
        .iter()
        .map(|f| (f.clone(), std::fs::metadata(f).and_then(|m| m.modified()).ok()))
        .collect()
}

impl Watcher {
    pub fn new(files: Vec<PathBuf>, use_events: bool) -> Watcher {
        let inotify = use_events
            .then(|| Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok())
            .flatten();
        if let Some(ino) = &inotify {
            let dirs: std::collections::BTreeSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
            for dir in dirs {
                let _ = ino.add_watch(
                    dir,
                    AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE,
                );
            }
        }
        let seen = mtimes(&files);
        Watcher {
            files,
            inotify,
            seen,
            events_missing: false,
        }
    }

    /// Forgets changes seen so far: the next `wait` reports only later ones.
    pub fn refresh(&mut self) {
        self.seen = mtimes(&self.files);
    }

    /// Blocks until one of the files changes (or `limit` passes; `None` waits forever) and
    /// returns the files that changed.
    pub fn wait(&mut self, limit: Option<Duration>) -> Vec<PathBuf> {
        let start = std::time::Instant::now();
        loop {
            let evented = self.poll_events(Duration::from_millis(300));
            let now = mtimes(&self.files);
            let changed: Vec<PathBuf> = now
                .iter()
                .filter(|(f, t)| self.seen.get(*f) != Some(t))
                .map(|(f, _)| f.clone())
                .collect();
            if !changed.is_empty() {
                // A save that landed between the poll's timeout and the reading of the times is
                // seen here first; its event is queued by now (the kernel queues it before the
                // rename returns), so look once more before deciding events are missing.
                let evented = evented || self.poll_events(Duration::ZERO);
                if !evented && self.inotify.is_some() && !self.events_missing {
                    self.events_missing = true;
                    eprintln!("note: file events do not seem to arrive here; watching by polling instead");
                }
                // Let an editor finish writing before we build.
                std::thread::sleep(Duration::from_millis(150));
                self.seen = mtimes(&self.files);
                return changed;
            }
            if limit.is_some_and(|l| start.elapsed() >= l) {
                return Vec::new();
            }
        }
    }

    /// Waits up to `timeout` for inotify events about our files; true if one came.
    fn poll_events(&mut self, timeout: Duration) -> bool {
        let Some(ino) = &self.inotify else {
            std::thread::sleep(timeout);
            return false;
        };
        let fd = ino.as_fd();
        let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        let ms = nix::poll::PollTimeout::try_from(timeout.as_millis() as i32)
            .unwrap_or(nix::poll::PollTimeout::MAX);
        if !matches!(nix::poll::poll(&mut fds, ms), Ok(n) if n > 0) {
            return false;
        }
        let names: Vec<std::ffi::OsString> = self
            .files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_owned()))
            .collect();
        ino.read_events()
            .unwrap_or_default()
            .iter()
            .any(|e| e.name.as_ref().is_some_and(|n| names.contains(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("forkway-watch-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("lesson.rs");
        std::fs::write(&f, "fn a() {}\n").expect("write");
        f
    }

    fn change_later(f: PathBuf) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            // Make sure the new mtime differs even on coarse-grained filesystems.
            std::thread::sleep(Duration::from_millis(50));
            let tmp = f.with_extension("tmp");
            std::fs::write(&tmp, "fn b() {}\n").expect("write");
            std::fs::rename(&tmp, &f).expect("rename"); // how many editors save
        })
    }

    #[test]
    fn events_report_a_save() {
        let f = temp_file("events");
        let mut w = Watcher::new(vec![f.clone()], true);
        let writer = change_later(f.clone());
        let changed = w.wait(Some(Duration::from_secs(20)));
        writer.join().expect("writer");
        assert_eq!(changed, vec![f.clone()]);
        assert!(!w.events_missing);
        let _ = std::fs::remove_dir_all(f.parent().expect("dir"));
    }

    #[test]
    fn polling_alone_still_sees_a_save() {
        let f = temp_file("polling");
        let mut w = Watcher::new(vec![f.clone()], false);
        let writer = change_later(f.clone());
        let changed = w.wait(Some(Duration::from_secs(20)));
        writer.join().expect("writer");
        assert_eq!(changed, vec![f.clone()]);
        assert!(
            w.wait(Some(Duration::from_millis(400))).is_empty(),
            "no second change"
        );
        let _ = std::fs::remove_dir_all(f.parent().expect("dir"));
    }
}
