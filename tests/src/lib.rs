//! Workspace-level tests of forkway: cross-crate scenarios, conformance with CPython's
//! behaviour, and (from lesson 2 on) property tests. The tests are in `tests/tests/`.
