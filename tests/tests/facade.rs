//! The facade crate works as a library user sees it: one dependency, one `use`.

use forkway::prelude::*;

#[test]
fn a_library_user_starts_and_joins_through_the_facade() {
    let mut p = Process::new(|| forkway::exit(5)).with_name("via-facade");
    p.start().expect("start");
    p.join_timeout(std::time::Duration::from_secs(20)).expect("join");
    assert_eq!(p.exitcode(), Some(5));
    assert_eq!(p.name(), "via-facade");
    assert_eq!(current_process().name, "MainProcess");
    assert!(parent_process().is_none());
    assert!(active_children().iter().all(|c| Some(c.pid()) != p.pid()));
}
