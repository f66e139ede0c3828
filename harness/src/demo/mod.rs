//! The built-in demo database: `node` is one server process (`faultline
//! demo-node`); `systems::demo` starts a cluster of them.

pub mod node;
