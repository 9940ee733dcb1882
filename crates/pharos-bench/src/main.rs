//! Load generator and benchmarks.
fn main() {}
