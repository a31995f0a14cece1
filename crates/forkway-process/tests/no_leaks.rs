//! File descriptors: a process's life must not leak any, in the parent or into children.
//! One test in its own binary, so no other test opens or closes fds while it counts.

use forkway_testkit as support;

use forkway_process::Process;
use support::*;

fn open_fds() -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

#[test]
fn no_fd_leaks_in_parent_or_child() {
    let before = open_fds();
    for round in 0..20 {
        let mut p = Process::new(|| ());
        p.start().expect("start");
        match round % 4 {
            0 => {
                p.join().expect("join");
            }
            1 => {
                p.terminate().expect("terminate");
                p.join().expect("join");
            }
            2 => {
                p.join().expect("join");
                p.close().expect("close");
            }
            _ => drop(p),
        }
    }
    let after = open_fds();
    // read_dir itself holds one fd while listing, the same in both counts.
    assert_eq!(before, after, "fds leaked by start/join/terminate/close/drop");

    // Siblings' pidfds are closed in a new child: it only keeps what it needs.
    let (mut r, mut w) = pipe();
    let mut siblings: Vec<Process> = (0..3).map(|_| Process::new(|| ())).collect();
    for s in &mut siblings {
        s.start().expect("start");
    }
    let sibling_pids: Vec<u32> = siblings.iter().map(|s| s.pid().expect("pid")).collect();
    let probe = sibling_pids.clone();
    let mut p = Process::new(move || {
        // A pidfd's fdinfo names the process it refers to ("Pid:\t1234").
        let held: Vec<u32> = open_fds()
            .into_iter()
            .filter_map(|fd| std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok())
            .filter_map(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("Pid:")?.trim().parse().ok())
            })
            .filter(|pid| probe.contains(pid))
            .collect();
        send_line(&mut w, &format!("{held:?}"));
    });
    p.start().expect("start");
    assert_eq!(
        read_line(&mut r),
        "[]",
        "the child holds pidfds of its siblings {sibling_pids:?}"
    );
    assert_eq!(join_bounded(&p), 0);
    for s in &siblings {
        assert_eq!(join_bounded(s), 0);
    }
}
