//! The DFS pieces that live on every rank: path rules ([`path`]) and the block
//! store ([`store`], the only user of memmap2). The namespace is the name node's
//! (`namenode`); moving blocks between ranks is the engines' job.

pub mod offline;
pub mod path;
pub mod store;

pub use path::normalize;
pub use store::BlockStore;
