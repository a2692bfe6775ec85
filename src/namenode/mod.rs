//! The DFS name node: a sans-IO state machine owning the namespace of write-once
//! files and the block map (which ranks hold each block). It does no I/O: every
//! change it accepts returns the [`Record`] the caller must make durable (see
//! [`journal`]) before acknowledging it. It knows nothing of MPI or Python.
//!
//! Invariants: a path is visible only once committed; a committed file never
//! changes (write-once); `usage` is the sum of the block lengths each rank holds.

pub mod journal;

use crate::dfs::path::{normalize, normalize_prefix, PathError};
use crate::protocol::{BlockId, BlockMeta, FileMeta, Rank, StagedFile};
use std::collections::{BTreeMap, HashMap, HashSet};

pub use crate::protocol::JournalRecord as Record;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NameError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(
        "{0} already exists in the DFS (files are write-once: write a new path or remove it first)"
    )]
    Exists(String),
    #[error("{0} does not exist in the DFS")]
    NotFound(String),
    #[error("{0} is a directory prefix with files under it: pass recursive=True to remove them")]
    IsDirectory(String),
    #[error("{0}: a file is either inline or made of blocks, not both")]
    Mixed(String),
}

#[derive(Default)]
pub struct NameNode {
    files: BTreeMap<String, FileMeta>,
    usage: HashMap<Rank, u64>,
}

impl NameNode {
    pub fn new() -> NameNode {
        NameNode::default()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Makes a staged file visible. The caller journals the record first.
    pub fn commit(&mut self, staged: StagedFile, now_ms: u64) -> Result<Record, NameError> {
        let path = normalize(&staged.path)?;
        if self.files.contains_key(&path) {
            return Err(NameError::Exists(path));
        }
        if !staged.inline.is_empty() && !staged.blocks.is_empty() {
            return Err(NameError::Mixed(path));
        }
        let size =
            staged.blocks.iter().map(|block| block.len).sum::<u64>() + staged.inline.len() as u64;
        let meta = FileMeta {
            path,
            size,
            blocks: staged.blocks,
            mtime_ms: now_ms,
            inline: staged.inline,
        };
        let record = Record::Commit(meta);
        self.apply(record.clone());
        Ok(record)
    }

    /// Applies a record (from `commit`/`remove`, or replayed from the journal).
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Commit(meta) => {
                for block in &meta.blocks {
                    for rank in &block.replicas {
                        *self.usage.entry(*rank).or_default() += block.len;
                    }
                }
                self.files.insert(meta.path.clone(), meta);
            }
            Record::Remove(path) => {
                if let Some(meta) = self.files.remove(&path) {
                    for block in &meta.blocks {
                        for rank in &block.replicas {
                            let used = self.usage.entry(*rank).or_default();
                            *used = used.saturating_sub(block.len);
                        }
                    }
                }
            }
            Record::AddReplica(path, block_id, rank) => {
                if let Some(meta) = self.files.get_mut(&path) {
                    if let Some(block) = meta.blocks.iter_mut().find(|b| b.id == block_id) {
                        if !block.replicas.contains(&rank) {
                            block.replicas.push(rank);
                            *self.usage.entry(rank).or_default() += block.len;
                        }
                    }
                }
            }
        }
    }

    pub fn lookup(&self, path: &str) -> Result<&FileMeta, NameError> {
        let path = normalize(path)?;
        self.files.get(&path).ok_or(NameError::NotFound(path))
    }

    pub fn exists(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|path| self.files.contains_key(&path))
    }

    /// Files whose path is the prefix itself or lies under it, in path order.
    pub fn list(&self, prefix: &str) -> Result<Vec<FileMeta>, NameError> {
        let prefix = normalize_prefix(prefix)?;
        if prefix == "/" {
            return Ok(self.files.values().cloned().collect());
        }
        let under = format!("{prefix}/");
        Ok(self
            .files
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .filter(|(path, _)| **path == prefix || path.starts_with(&under))
            .map(|(_, meta)| meta.clone())
            .collect())
    }

    /// Removes a file, or with `recursive` everything under a prefix. Returns the
    /// removed files (whose blocks the caller deletes) and the records to journal.
    pub fn remove(
        &mut self,
        path: &str,
        recursive: bool,
    ) -> Result<(Vec<FileMeta>, Vec<Record>), NameError> {
        let normalized = normalize_prefix(path)?;
        let victims: Vec<FileMeta> = if let Some(meta) = self.files.get(&normalized) {
            vec![meta.clone()]
        } else {
            let under = self.list(&normalized)?;
            if under.is_empty() {
                return Err(NameError::NotFound(normalized));
            }
            if !recursive {
                return Err(NameError::IsDirectory(normalized));
            }
            under
        };
        let records: Vec<Record> = victims
            .iter()
            .map(|meta| Record::Remove(meta.path.clone()))
            .collect();
        for record in &records {
            self.apply(record.clone());
        }
        Ok((victims, records))
    }

    /// After a restart, replica locations are what the ranks report holding.
    pub fn reset_replicas(&mut self, held: &HashMap<Rank, HashSet<BlockId>>) {
        self.usage.clear();
        for meta in self.files.values_mut() {
            for block in &mut meta.blocks {
                block.replicas = held
                    .iter()
                    .filter(|(_, blocks)| blocks.contains(&block.id))
                    .map(|(rank, _)| *rank)
                    .collect();
                block.replicas.sort_unstable();
                for rank in &block.replicas {
                    *self.usage.entry(*rank).or_default() += block.len;
                }
            }
        }
    }

    /// Bytes of `paths` stored on each rank (for placing jobs near their data).
    pub fn bytes_by_rank(&self, paths: &[String]) -> HashMap<Rank, u64> {
        let mut bytes: HashMap<Rank, u64> = HashMap::new();
        for meta in paths.iter().filter_map(|path| self.files.get(path)) {
            for block in &meta.blocks {
                for rank in &block.replicas {
                    *bytes.entry(*rank).or_default() += block.len;
                }
            }
        }
        bytes
    }

    /// Every block id referenced by the namespace.
    pub fn referenced_blocks(&self) -> HashSet<BlockId> {
        self.files
            .values()
            .flat_map(|meta| meta.blocks.iter().map(|b| b.id))
            .collect()
    }

    pub fn usage(&self, rank: Rank) -> u64 {
        self.usage.get(&rank).copied().unwrap_or(0)
    }

    /// Where further replicas of a block held by `holder` should go: ranks on other
    /// hosts first, then the least used; never a rank that already holds it.
    pub fn choose_replicas(
        &self,
        block: &BlockMeta,
        wanted: usize,
        ranks: &[(Rank, String)],
    ) -> Vec<Rank> {
        let hosts_holding: HashSet<&str> = ranks
            .iter()
            .filter(|(rank, _)| block.replicas.contains(rank))
            .map(|(_, host)| host.as_str())
            .collect();
        let mut candidates: Vec<&(Rank, String)> = ranks
            .iter()
            .filter(|(rank, _)| !block.replicas.contains(rank))
            .collect();
        candidates.sort_by_key(|(rank, host)| {
            (
                hosts_holding.contains(host.as_str()),
                self.usage(*rank),
                *rank,
            )
        });
        let missing = wanted.saturating_sub(block.replicas.len());
        candidates
            .into_iter()
            .take(missing)
            .map(|(rank, _)| *rank)
            .collect()
    }
}

/// Orders each block's replicas for `reader`: its own rank first, then ranks on
/// its host, then the rest (readers try replicas in this order).
pub fn nearest_first<'h>(
    mut meta: FileMeta,
    reader: Rank,
    host_of: &dyn Fn(Rank) -> Option<&'h str>,
) -> FileMeta {
    let reader_host = host_of(reader);
    for block in &mut meta.blocks {
        block
            .replicas
            .sort_by_key(|&rank| (rank != reader, host_of(rank) != reader_host));
    }
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(path: &str, lens: &[u64], rank: Rank) -> StagedFile {
        StagedFile {
            path: path.into(),
            blocks: lens
                .iter()
                .enumerate()
                .map(|(i, len)| BlockMeta {
                    id: i as u64 + 1,
                    len: *len,
                    crc32c: 0,
                    replicas: vec![rank],
                })
                .collect(),
            inline: Vec::new(),
        }
    }

    #[test]
    fn files_are_write_once() {
        let mut names = NameNode::new();
        names.commit(staged("a/b", &[10, 5], 1), 0).unwrap();
        assert_eq!(names.lookup("/a/b").unwrap().size, 15);
        assert_eq!(
            names.commit(staged("/a/b", &[1], 2), 0),
            Err(NameError::Exists("/a/b".into()))
        );
        assert_eq!(names.usage(1), 15);
    }

    #[test]
    fn small_files_are_inline_and_never_mixed_with_blocks() {
        let mut names = NameNode::new();
        let small = StagedFile {
            path: "/s".into(),
            blocks: vec![],
            inline: b"tiny".to_vec(),
        };
        names.commit(small, 0).unwrap();
        assert_eq!(names.lookup("/s").unwrap().size, 4);
        let mut mixed = staged("/m", &[3], 1);
        mixed.inline = b"x".to_vec();
        assert_eq!(names.commit(mixed, 0), Err(NameError::Mixed("/m".into())));
    }

    #[test]
    fn listing_respects_component_boundaries() {
        let mut names = NameNode::new();
        for path in ["/d/x", "/d/y", "/dd/z", "/e"] {
            names.commit(staged(path, &[1], 1), 0).unwrap();
        }
        let listed: Vec<String> = names
            .list("/d")
            .unwrap()
            .into_iter()
            .map(|m| m.path)
            .collect();
        assert_eq!(listed, vec!["/d/x", "/d/y"]);
        assert_eq!(names.list("/").unwrap().len(), 4);
    }

    #[test]
    fn remove_needs_recursive_for_prefixes_and_frees_usage() {
        let mut names = NameNode::new();
        names.commit(staged("/d/x", &[4], 1), 0).unwrap();
        names.commit(staged("/d/y", &[6], 1), 0).unwrap();
        assert_eq!(
            names.remove("/d", false).unwrap_err(),
            NameError::IsDirectory("/d".into())
        );
        let (removed, records) = names.remove("/d", true).unwrap();
        assert_eq!((removed.len(), records.len()), (2, 2));
        assert_eq!(names.usage(1), 0);
        assert_eq!(
            names.remove("/d", true).unwrap_err(),
            NameError::NotFound("/d".into())
        );
    }

    #[test]
    fn replicas_go_to_other_hosts_first_then_least_used() {
        let mut names = NameNode::new();
        names.commit(staged("/big", &[100], 2), 0).unwrap();
        let block = BlockMeta {
            id: 9,
            len: 1,
            crc32c: 0,
            replicas: vec![1],
        };
        let ranks = vec![
            (1, "a".into()),
            (2, "b".into()),
            (3, "b".into()),
            (4, "a".into()),
        ];
        assert_eq!(names.choose_replicas(&block, 2, &ranks), vec![3]);
        assert_eq!(names.choose_replicas(&block, 3, &ranks), vec![3, 2]);
    }

    #[test]
    fn readers_try_their_own_rank_then_their_host() {
        let meta = FileMeta {
            path: "/f".into(),
            size: 1,
            blocks: vec![BlockMeta {
                id: 1,
                len: 1,
                crc32c: 0,
                replicas: vec![1, 2, 3, 4],
            }],
            mtime_ms: 0,
            inline: Vec::new(),
        };
        let hosts = |rank: Rank| {
            Some(if rank.is_multiple_of(2) {
                "even"
            } else {
                "odd"
            })
        };
        assert_eq!(
            nearest_first(meta.clone(), 3, &hosts).blocks[0].replicas,
            vec![3, 1, 2, 4]
        );
        assert_eq!(
            nearest_first(meta, 4, &hosts).blocks[0].replicas,
            vec![4, 2, 1, 3]
        );
    }

    #[test]
    fn replay_rebuilds_the_same_namespace() {
        let mut names = NameNode::new();
        let mut records = vec![names.commit(staged("/a", &[1], 1), 5).unwrap()];
        records.push(names.commit(staged("/b", &[2], 1), 6).unwrap());
        records.extend(names.remove("/a", false).unwrap().1);
        let mut replayed = NameNode::new();
        for record in records {
            replayed.apply(record);
        }
        assert!(!replayed.exists("/a"));
        assert_eq!(replayed.lookup("/b").unwrap(), names.lookup("/b").unwrap());
    }
}
