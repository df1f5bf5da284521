//! trybuild cases for `#[derive(Conductor)]` live in `tests/`.
