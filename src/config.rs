//! Run-wide settings and the limits that bound every queue, message and wait.
//! Built once by `cli` from flags and `VESPER_*` variables; read everywhere else.

use std::path::PathBuf;

/// How a rank binds itself to cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinMode {
    /// Divide the node's allowed cores among its local ranks (the default).
    Auto,
    /// Like auto, but always one core per rank.
    Core,
    /// No binding.
    None,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub workers: Option<u32>,
    pub dfs_root: Option<PathBuf>,
    pub block_size_bytes: u64,
    pub replication: u32,
    pub pin: PinMode,
    pub quiet: bool,
    pub uv_value_limit_bytes: u64,
    pub uv_total_limit_bytes: u64,
    pub grace_period_ms: u64,
    pub report: Option<PathBuf>,
    pub trace: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: None,
            dfs_root: None,
            block_size_bytes: 16 << 20,
            replication: 1,
            pin: PinMode::Auto,
            quiet: false,
            uv_value_limit_bytes: 64 << 20,
            uv_total_limit_bytes: 4 << 30,
            grace_period_ms: 60_000,
            report: None,
            trace: None,
        }
    }
}

/// Engine polling: spin this long after the last event before sleeping...
pub const POLL_SPIN_US: u64 = 200;
/// ...then sleep, doubling from the minimum to the maximum while idle.
pub const POLL_SLEEP_US_MIN: u64 = 20;
pub const POLL_SLEEP_US_MAX: u64 = 2_000;
/// ...but at most this while a reply from another rank is awaited.
pub const POLL_SLEEP_US_EXPECTING: u64 = 50;
/// Largest single MPI message for block payloads (well under `i32::MAX` elements).
pub const DATA_CHUNK_BYTES: usize = 1 << 30;
/// Largest block size accepted on the command line.
pub const BLOCK_SIZE_BYTES_MAX: u64 = 1 << 34;
/// Files up to this size written in one piece are kept inline by the name node.
pub const INLINE_FILE_BYTES_MAX: usize = 4096;
/// Largest path accepted by the DFS, in bytes.
pub const PATH_BYTES_MAX: usize = 4096;
/// Largest retry count a job may ask for.
pub const JOB_RETRIES_MAX: u32 = 100;
/// Tasks a worker holds beyond its cores, so short jobs do not leave it idle.
pub const WORKER_PREFETCH_TASKS: u32 = 64;
/// Map-reduce chunks in flight per worker.
pub const MAPREDUCE_CHUNKS_IN_FLIGHT: u32 = 8;
/// Time every rank gets to leave after the coordinator says shutdown.
pub const SHUTDOWN_TIMEOUT_MS: u64 = 5_000;

/// Parses sizes such as `16MiB`, `4GiB`, `512k`, `1000`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| {
        format!("invalid size {text:?}: expected a number with an optional unit such as 16MiB")
    })?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
            "invalid size unit {other:?} in {text:?}: use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB"
        ))
        }
    };
    if number < 0.0 || !number.is_finite() {
        return Err(format!("invalid size {text:?}"));
    }
    Ok((number * multiplier as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        for (text, bytes) in [
            ("16MiB", 16 << 20),
            ("4GiB", 4 << 30),
            ("1000", 1000),
            ("1.5k", 1500),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("").is_err());
    }
}
