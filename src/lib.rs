//! Vesper: a parallel computing platform for Python scripts on HPC machines.
//!
//! # Code map
//! Bottom layer (no outside dependencies beyond serde):
//! - `protocol`: every message between ranks and every request Python makes of the
//!   coordinator; serde + postcard. The only module with serde derives.
//! - `config`: run-wide settings and the named limits (units last).
//!
//! Sans-IO cores (events in, replies out; no MPI, no Python, no clock, no threads):
//! - `scheduler`: the job DAG: readiness by committed paths, placement, retries,
//!   cancellation, the no-hang rule. Knows nothing of MPI or Python.
//! - `namenode`: the DFS namespace and block map; `namenode::journal` makes its
//!   records durable.
//! - `userview`: the shared dicts, one owner ordering every operation.
//! - `mapreduce`: native reducers (rayon); no Python objects.
//! - `report`: renders recorded job attempts as the HTML report and the trace.
//!
//! Owners of outside dependencies:
//! - `transport`: the only module that calls MPI (rsmpi).
//! - `topology`: the only module that touches hwloc (hwlocality).
//! - `dfs::store`: the only user of memmap2; `dfs::path` holds the path rules.
//! - `py`: the only module that touches pyo3 (embedded CPython, `vesper._vesper`).
//!
//! Wiring:
//! - `engine`: the per-rank engine thread loop (the only thread using the
//!   transport) and the data-node service every rank runs in it.
//! - `coordinator`: rank 0's node: the cores wired to the transport and the script.
//! - `worker`: a worker's node: tasks to its Python thread, results back.
//! - `progress`: rank 0's progress line on a terminal (reads the coordinator's counts).
//! - `launch`: starting a rank: MPI, pinning, block store, engine thread, Python.
//! - `cli` (flags) and `main` come last; `dfs::offline` is `vesper dfs ...`.

pub mod cli;
pub mod config;
pub mod coordinator;
pub mod dfs;
pub mod engine;
pub mod launch;
pub mod mapreduce;
pub mod namenode;
pub mod progress;
pub mod protocol;
pub mod py;
pub mod report;
pub mod scheduler;
pub mod topology;
pub mod transport;
pub mod userview;
pub mod worker;
