//! Behaviour tests of orchestra live in `tests/`.
