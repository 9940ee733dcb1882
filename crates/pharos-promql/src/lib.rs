//! PromQL for pharos: the syntax tree ([`ast`]), a hand-written parser with
//! Prometheus's error messages and positions ([`parser`]), and the evaluator
//! over the [`pharos_model::Queryable`] seam.
//!
//! The syntax modules know nothing of storage; the evaluator knows storage
//! only through `pharos-model`'s traits.

pub mod ast;
pub mod engine;
pub mod parser;
pub mod promqltest;
pub mod value;
