//! The checks of the scheduled update-check pipeline, which decide what is rebuilt:
//! `layer` (is every released image still on the current digest of its base?), `update`
//! (inside a released image: are there package upgrades?) and `evaluate` (their results →
//! one verdict per image, the report and JUnit). What they write and read is the contract in
//! [`crate::results`].

pub mod evaluate;
pub mod layer;
pub mod update;
