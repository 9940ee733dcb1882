//! A runner for Prometheus's promqltest files (`*.test`): the conformance
//! suite that proves this crate answers PromQL exactly as Prometheus does.
//!
//! [`format`] parses a file into commands, [`load`] expands series
//! descriptions, [`storage`] holds loaded data in memory behind the
//! [`pharos_model::Queryable`] seam, [`rewrite`] builds the `@`-modifier
//! re-runs of instant evals, [`run`] executes a file and compares results.

pub mod format;
pub mod load;
pub mod rewrite;
pub mod run;
pub mod storage;

#[cfg(test)]
mod tests;
