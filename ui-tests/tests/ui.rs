//! trybuild cases for `#[derive(Conductor)]`.
//!
//! The compile-fail snapshots (`ui/fail/*.stderr`) hold rustc's own words,
//! which change between releases: they were taken with rustc 1.95 and are
//! checked with that version only; on any other the test is ignored, with
//! the reason shown by `cargo test`. Refresh them with
//! `TRYBUILD=overwrite cargo test -p orchestra-ui-tests` and review the diff.

#[test]
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr snapshots were taken with rustc 1.95; run with that version"
)]
fn compile_fail() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}

#[test]
fn compile_pass() {
    trybuild::TestCases::new().pass("tests/ui/pass/*.rs");
}
