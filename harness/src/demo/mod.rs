//! The built-in demo cluster: `node` is one server process, `cluster`
//! starts, kills, pauses and tears down a set of them on loopback.

pub mod cluster;
pub mod node;
