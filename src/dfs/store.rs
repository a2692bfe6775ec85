//! A rank's block store: one file per block replica under `<root>/rank-<r>/`,
//! written through and read back with memory maps. The only module that uses
//! memmap2. Thread-safe (it is only files): the engine thread serves remote reads
//! from it while a job on the same rank reads and writes local blocks directly.
//!
//! Checksums are checked on both sides of persistence: the CRC32C of a block is
//! computed before it is written and verified on every read.

use crate::protocol::{BlockId, Rank};
use memmap2::{Mmap, MmapOptions};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("block {block:016x} is not stored on rank {rank}")]
    Missing { block: BlockId, rank: Rank },
    #[error("block {block:016x} failed its checksum on rank {rank} (stored {found:08x}, expected {expected:08x})")]
    Corrupt {
        block: BlockId,
        rank: Rank,
        expected: u32,
        found: u32,
    },
    #[error("block {block:016x} on rank {rank}: {source}")]
    Io {
        block: BlockId,
        rank: Rank,
        #[source]
        source: std::io::Error,
    },
}

/// A block's bytes, memory-mapped (or empty for a zero-length block).
pub enum BlockBytes {
    Mapped(Mmap),
    Empty,
}

impl AsRef<[u8]> for BlockBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            BlockBytes::Mapped(map) => map,
            BlockBytes::Empty => &[],
        }
    }
}

pub struct BlockStore {
    dir: PathBuf,
    /// Directories of ranks a persistent root had in an earlier, larger run and
    /// that no rank of this run owns: this rank serves their blocks (see `adopt`).
    adopted: Vec<PathBuf>,
    rank: Rank,
    /// Flush every block to disk before it is acknowledged (a persistent root).
    /// A temporary root dies with the run, so its blocks skip the msync.
    durable: bool,
    /// Bytes read through `read` (local replicas), for the run report.
    local_read_bytes: AtomicU64,
}

pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

pub fn block_file_name(block: BlockId) -> String {
    format!("{block:016x}.blk")
}

pub fn rank_dir(root: &Path, rank: Rank) -> PathBuf {
    root.join(format!("rank-{rank}"))
}

impl BlockStore {
    pub fn open(root: &Path, rank: Rank, durable: bool) -> std::io::Result<BlockStore> {
        let dir = rank_dir(root, rank);
        fs::create_dir_all(&dir)?;
        Ok(BlockStore {
            dir,
            adopted: Vec::new(),
            rank,
            durable,
            local_read_bytes: AtomicU64::new(0),
        })
    }

    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Takes over the block directories `rank-k` under `root` with `k >= ranks`
    /// and `k % ranks == self.rank`: a persistent root written by a run with more
    /// ranks stays readable by a smaller one (on the same hosts).
    pub fn adopt(&mut self, root: &Path, ranks: u32) {
        let Ok(entries) = fs::read_dir(root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(k) = name
                .strip_prefix("rank-")
                .and_then(|k| k.parse::<u32>().ok())
            else {
                continue;
            };
            if k >= ranks && k % ranks.max(1) == self.rank {
                self.adopted.push(entry.path());
            }
        }
        self.adopted.sort();
    }

    /// Where a block is: this rank's own directory, else an adopted one.
    fn path(&self, block: BlockId) -> PathBuf {
        let name = block_file_name(block);
        let own = self.dir.join(&name);
        if self.adopted.is_empty() || own.exists() {
            return own;
        }
        self.adopted
            .iter()
            .map(|dir| dir.join(&name))
            .find(|p| p.exists())
            .unwrap_or(own)
    }

    fn io(&self, block: BlockId) -> impl Fn(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            block,
            rank: self.rank,
            source,
        }
    }

    /// Writes a block through a memory map under its final name and returns its
    /// checksum. No rename: a file cut short by a crash belongs to no committed file
    /// (commits come after writes), and its checksum would expose it anyway; a
    /// rename is a journaled metadata operation that costs more than a small block.
    pub fn write(&self, block: BlockId, bytes: &[u8]) -> Result<u32, StoreError> {
        let crc = crc32c(bytes);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.dir.join(block_file_name(block)))
            .map_err(self.io(block))?;
        if !bytes.is_empty() {
            file.set_len(bytes.len() as u64).map_err(self.io(block))?;
            // SAFETY: the file was just created by us and is not shared while mapped.
            let mut map =
                unsafe { MmapOptions::new().populate().map_mut(&file) }.map_err(self.io(block))?;
            map.copy_from_slice(bytes);
            if self.durable {
                map.flush().map_err(self.io(block))?;
            }
        }
        Ok(crc)
    }

    /// Maps a block and verifies its checksum.
    pub fn read(&self, block: BlockId, expected_crc: u32) -> Result<BlockBytes, StoreError> {
        let bytes = self.read_with(block, Some(expected_crc))?;
        self.local_read_bytes
            .fetch_add(bytes.as_ref().len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    pub fn local_read_bytes(&self) -> u64 {
        self.local_read_bytes.load(Ordering::Relaxed)
    }

    /// Maps a block without verifying it: for serving a remote reader, who checks
    /// what arrives against the name node's checksum.
    pub fn read_unchecked(&self, block: BlockId) -> Result<BlockBytes, StoreError> {
        self.read_with(block, None)
    }

    fn read_with(
        &self,
        block: BlockId,
        expected_crc: Option<u32>,
    ) -> Result<BlockBytes, StoreError> {
        let file = match File::open(self.path(block)) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing {
                    block,
                    rank: self.rank,
                })
            }
            Err(error) => return Err(self.io(block)(error)),
        };
        let len = file.metadata().map_err(self.io(block))?.len();
        let bytes = if len == 0 {
            BlockBytes::Empty
        } else {
            // SAFETY: block files are immutable once renamed into place.
            BlockBytes::Mapped(unsafe { Mmap::map(&file) }.map_err(self.io(block))?)
        };
        if let Some(expected) = expected_crc {
            let found = crc32c(bytes.as_ref());
            if found != expected {
                return Err(StoreError::Corrupt {
                    block,
                    rank: self.rank,
                    expected,
                    found,
                });
            }
        }
        Ok(bytes)
    }

    pub fn remove(&self, block: BlockId) {
        let _ = fs::remove_file(self.path(block));
    }

    /// Every block held here (reported to the name node at start).
    pub fn held(&self) -> Vec<BlockId> {
        std::iter::once(&self.dir)
            .chain(&self.adopted)
            .filter_map(|dir| fs::read_dir(dir).ok())
            .flat_map(|entries| entries.flatten())
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                u64::from_str_radix(name.strip_suffix(".blk")?, 16).ok()
            })
            .collect()
    }
}

/// A fresh block id: random, so ids from different ranks and runs never collide.
pub fn new_block_id() -> BlockId {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_corruption_is_caught() {
        let root = tempfile::tempdir().unwrap();
        let store = BlockStore::open(root.path(), 3, true).unwrap();
        let crc = store.write(7, b"hello").unwrap();
        assert_eq!(store.read(7, crc).unwrap().as_ref(), b"hello");
        let path = rank_dir(root.path(), 3).join(block_file_name(7));
        fs::write(&path, b"hellp").unwrap();
        assert!(matches!(
            store.read(7, crc),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(store.read(8, 0), Err(StoreError::Missing { .. })));
        assert_eq!(store.held(), vec![7]);
    }

    #[test]
    fn a_smaller_run_adopts_the_directories_of_missing_ranks() {
        let root = tempfile::tempdir().unwrap();
        let big = BlockStore::open(root.path(), 3, true).unwrap();
        let crc = big.write(9, b"from rank 3").unwrap();
        let mut small = BlockStore::open(root.path(), 1, true).unwrap();
        small.adopt(root.path(), 2);
        assert_eq!(small.read(9, crc).unwrap().as_ref(), b"from rank 3");
        assert_eq!(small.held(), vec![9]);
        let mut other = BlockStore::open(root.path(), 0, true).unwrap();
        other.adopt(root.path(), 2);
        assert!(
            other.held().is_empty(),
            "rank 3 of a 2-rank run goes to rank 1 only"
        );
    }

    #[test]
    fn empty_blocks_work() {
        let root = tempfile::tempdir().unwrap();
        let store = BlockStore::open(root.path(), 0, false).unwrap();
        let crc = store.write(1, b"").unwrap();
        assert!(store.read(1, crc).unwrap().as_ref().is_empty());
    }
}
