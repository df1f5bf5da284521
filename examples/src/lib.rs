//! Runnable examples of orchestra: see `examples/`.
