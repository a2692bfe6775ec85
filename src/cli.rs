//! The command line: `vesper [OPTIONS] [SCRIPT] [ARGS...]`, `vesper info`, and the
//! offline `vesper dfs ...` tools. Every flag also reads a `VESPER_*` variable.
//! Bad usage exits with status 2 and a one-line message (clap's convention).

use crate::config::{self, Config, PinMode};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "vesper",
    version,
    about = "Run a Python script in parallel: jobs with file dependencies, map-reduce, a shared dict and a distributed file system",
    after_help = "Launch with `mpirun -n N vesper script.py`, `srun vesper script.py`, or plain `vesper script.py` (spawns --workers local workers).\nOther commands: `vesper info`, `vesper dfs ls|cat|get|put|rm|fsck --root DIR`."
)]
pub struct RunArgs {
    /// After SCRIPT (or with none), a Python prompt on rank 0.
    #[arg(short, long, env = "VESPER_INTERACTIVE", value_parser = clap::builder::FalseyValueParser::new())]
    pub interactive: bool,
    /// Workers to spawn when started without mpirun or srun (default: one per core).
    #[arg(long, env = "VESPER_WORKERS", value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub workers: Option<u32>,
    /// Persistent DFS root; without it a temporary root is removed at exit.
    #[arg(long, env = "VESPER_DFS_ROOT")]
    pub dfs_root: Option<PathBuf>,
    /// DFS block size, e.g. 16MiB.
    #[arg(long, env = "VESPER_BLOCK_SIZE", default_value = "16MiB", value_parser = parse_block_size)]
    pub block_size: u64,
    /// Replicas of each DFS block.
    #[arg(long, env = "VESPER_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub replication: u32,
    /// Core pinning of ranks: auto, core or none.
    #[arg(long, env = "VESPER_PIN", default_value = "auto", value_parser = ["auto", "core", "none"])]
    pub pin: String,
    /// Largest UserView value, e.g. 64MiB.
    #[arg(long, env = "VESPER_UV_VALUE_LIMIT", default_value = "64MiB", value_parser = config::parse_size)]
    pub uv_value_limit: u64,
    /// Largest total size of all UserViews, e.g. 4GiB.
    #[arg(long, env = "VESPER_UV_TOTAL_LIMIT", default_value = "4GiB", value_parser = config::parse_size)]
    pub uv_total_limit: u64,
    /// Seconds running jobs get to finish after SIGTERM/SIGINT/SIGUSR1.
    #[arg(long, env = "VESPER_GRACE_PERIOD", default_value_t = 60)]
    pub grace_period: u64,
    /// Write a self-contained HTML timeline of the run.
    #[arg(long, env = "VESPER_REPORT")]
    pub report: Option<PathBuf>,
    /// Write the run's job attempts in the Chrome trace-event format (Perfetto).
    #[arg(long, env = "VESPER_TRACE")]
    pub trace: Option<PathBuf>,
    /// No progress line.
    #[arg(long, env = "VESPER_QUIET", value_parser = clap::builder::FalseyValueParser::new())]
    pub quiet: bool,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, env = "VESPER_LOG_LEVEL", default_value = "warn")]
    pub log_level: String,
    /// The Python script to run on rank 0.
    pub script: Option<PathBuf>,
    /// Arguments passed to the script as sys.argv[1:].
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

fn parse_block_size(text: &str) -> Result<u64, String> {
    let bytes = config::parse_size(text)?;
    if !(4096..=config::BLOCK_SIZE_BYTES_MAX).contains(&bytes) {
        return Err(format!(
            "block size must be between 4KiB and {}GiB",
            config::BLOCK_SIZE_BYTES_MAX >> 30
        ));
    }
    Ok(bytes)
}

impl RunArgs {
    pub fn config(&self) -> Config {
        Config {
            workers: self.workers,
            dfs_root: self.dfs_root.clone(),
            block_size_bytes: self.block_size,
            replication: self.replication,
            pin: match self.pin.as_str() {
                "core" => PinMode::Core,
                "none" => PinMode::None,
                _ => PinMode::Auto,
            },
            quiet: self.quiet,
            uv_value_limit_bytes: self.uv_value_limit,
            uv_total_limit_bytes: self.uv_total_limit,
            grace_period_ms: self.grace_period.saturating_mul(1000),
            report: self.report.clone(),
            trace: self.trace.clone(),
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "vesper dfs",
    about = "Offline tools for a persistent DFS (no MPI needed)"
)]
pub struct DfsArgs {
    #[command(subcommand)]
    pub command: DfsCommand,
}

#[derive(Args, Debug)]
pub struct RootArg {
    /// The persistent DFS root (the --dfs-root of the runs).
    #[arg(long, env = "VESPER_DFS_ROOT")]
    pub root: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum DfsCommand {
    /// List files under a prefix.
    Ls {
        #[command(flatten)]
        root: RootArg,
        #[arg(default_value = "/")]
        prefix: String,
    },
    /// Print a file to standard output.
    Cat {
        #[command(flatten)]
        root: RootArg,
        path: String,
    },
    /// Copy a DFS file to a local file.
    Get {
        #[command(flatten)]
        root: RootArg,
        path: String,
        local: PathBuf,
    },
    /// Copy a local file into the DFS.
    Put {
        #[command(flatten)]
        root: RootArg,
        local: PathBuf,
        path: String,
    },
    /// Remove a file (or, with -r, everything under a prefix).
    Rm {
        #[command(flatten)]
        root: RootArg,
        #[arg(short, long)]
        recursive: bool,
        path: String,
    },
    /// Check every block: missing, corrupt and under-replicated blocks.
    Fsck {
        #[command(flatten)]
        root: RootArg,
    },
}

/// What `main` should do.
pub enum Command {
    Run(Box<RunArgs>),
    Info,
    Dfs(DfsArgs),
}

/// Parses `std::env::args`; prints usage and exits 2 on bad usage.
pub fn parse() -> Command {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("info") => Command::Info,
        Some("dfs") => Command::Dfs(DfsArgs::parse_from(argv[1..].iter())),
        _ => Command::Run(Box::new(RunArgs::parse_from(argv.iter()))),
    }
}
