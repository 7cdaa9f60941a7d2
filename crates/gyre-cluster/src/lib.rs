//! Gyre's cluster control plane.
pub mod topology;
