//! `vesper dfs ls|cat|get|put|rm|fsck --root DIR`: the persistent DFS without MPI.
//! Reads the name node's journal and the block files directly. Do not run it while
//! a run uses the same root (the run owns the journal then).

use super::store::{self, BlockStore};
use crate::cli::{DfsArgs, DfsCommand};
use crate::namenode::journal::{self, Journal};
use crate::namenode::NameNode;
use crate::protocol::{BlockMeta, StagedFile};
use std::io::Write;
use std::path::{Path, PathBuf};

fn load(root: &Path) -> Result<(NameNode, Journal), String> {
    if !root.join(journal::FILE_NAME).exists() {
        return Err(format!(
            "{} is not a persistent DFS root (no {})",
            root.display(),
            journal::FILE_NAME
        ));
    }
    let (journal, records) = Journal::open(root)
        .map_err(|e| format!("cannot read the journal under {}: {e}", root.display()))?;
    let mut names = NameNode::new();
    for record in records {
        names.apply(record);
    }
    Ok((names, journal))
}

/// Every place a replica of `block` may be: its recorded ranks first, then any rank dir.
fn candidates(root: &Path, block: &BlockMeta) -> Vec<PathBuf> {
    let name = store::block_file_name(block.id);
    let mut paths: Vec<PathBuf> = block
        .replicas
        .iter()
        .map(|r| store::rank_dir(root, *r).join(&name))
        .collect();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let path = entry.path().join(&name);
            if entry.file_name().to_string_lossy().starts_with("rank-") && !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

#[derive(PartialEq)]
enum Replica {
    Good,
    Corrupt,
}

fn check(path: &Path, block: &BlockMeta) -> Option<Replica> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        if store::crc32c(&bytes) == block.crc32c && bytes.len() as u64 == block.len {
            Replica::Good
        } else {
            Replica::Corrupt
        },
    )
}

fn read_block(root: &Path, path: &str, block: &BlockMeta) -> Result<Vec<u8>, String> {
    for candidate in candidates(root, block) {
        if check(&candidate, block) == Some(Replica::Good) {
            return std::fs::read(&candidate).map_err(|e| e.to_string());
        }
    }
    Err(format!(
        "block {:016x} of {path} has no good replica under {}",
        block.id,
        root.display()
    ))
}

fn copy_out(root: &Path, names: &NameNode, path: &str, out: &mut dyn Write) -> Result<(), String> {
    let meta = names.lookup(path).map_err(|e| e.to_string())?;
    out.write_all(&meta.inline).map_err(|e| e.to_string())?;
    for block in &meta.blocks {
        out.write_all(&read_block(root, &meta.path, block)?)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn fsck(root: &Path, names: &NameNode) -> i32 {
    let (mut missing, mut corrupt, mut under, mut blocks) = (0, 0, 0, 0);
    for meta in names.list("/").unwrap_or_default() {
        for block in &meta.blocks {
            blocks += 1;
            let states: Vec<(PathBuf, Option<Replica>)> = candidates(root, block)
                .into_iter()
                .map(|p| {
                    let s = check(&p, block);
                    (p, s)
                })
                .collect();
            let good = states
                .iter()
                .filter(|(_, s)| *s == Some(Replica::Good))
                .count();
            for (path, _) in states.iter().filter(|(_, s)| *s == Some(Replica::Corrupt)) {
                corrupt += 1;
                println!(
                    "CORRUPT  {} block {:016x}: {}",
                    meta.path,
                    block.id,
                    path.display()
                );
            }
            if good == 0 {
                missing += 1;
                println!(
                    "MISSING  {} block {:016x}: no good replica",
                    meta.path, block.id
                );
            } else if good < block.replicas.len().max(1) {
                under += 1;
                println!(
                    "UNDER    {} block {:016x}: {good} of {} replicas good",
                    meta.path,
                    block.id,
                    block.replicas.len()
                );
            }
        }
    }
    println!("{} files, {blocks} blocks: {missing} missing, {corrupt} corrupt replicas, {under} under-replicated", names.len());
    i32::from(missing + corrupt + under > 0)
}

fn put(
    root: &Path,
    names: &mut NameNode,
    journal: &mut Journal,
    local: &Path,
    path: &str,
) -> Result<(), String> {
    let path = super::normalize(path).map_err(|e| e.to_string())?;
    if names.exists(&path) {
        return Err(format!("{path} already exists in the DFS"));
    }
    let data = std::fs::read(local).map_err(|e| format!("cannot read {}: {e}", local.display()))?;
    let store = BlockStore::open(root, 0, true).map_err(|e| e.to_string())?;
    let block_size = crate::config::Config::default().block_size_bytes as usize;
    let mut blocks = Vec::new();
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&data[..]]
    } else {
        data.chunks(block_size).collect()
    };
    for chunk in chunks {
        let id = store::new_block_id();
        let crc32c = store.write(id, chunk).map_err(|e| e.to_string())?;
        blocks.push(BlockMeta {
            id,
            len: chunk.len() as u64,
            crc32c,
            replicas: vec![0],
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let record = names
        .commit(
            StagedFile {
                path,
                blocks,
                inline: Vec::new(),
            },
            now,
        )
        .map_err(|e| e.to_string())?;
    journal.append(&[record]).map_err(|e| e.to_string())
}

pub fn run(args: DfsArgs) -> i32 {
    let result = match args.command {
        DfsCommand::Ls { root, prefix } => load(&root.root).and_then(|(names, _)| {
            for meta in names.list(&prefix).map_err(|e| e.to_string())? {
                println!(
                    "{:>12}  {:>3} blocks  {}",
                    meta.size,
                    meta.blocks.len(),
                    meta.path
                );
            }
            Ok(0)
        }),
        DfsCommand::Cat { root, path } => load(&root.root).and_then(|(names, _)| {
            let stdout = std::io::stdout();
            copy_out(&root.root, &names, &path, &mut stdout.lock()).map(|()| 0)
        }),
        DfsCommand::Get { root, path, local } => load(&root.root).and_then(|(names, _)| {
            let mut file = std::fs::File::create(&local)
                .map_err(|e| format!("cannot create {}: {e}", local.display()))?;
            copy_out(&root.root, &names, &path, &mut file).map(|()| 0)
        }),
        DfsCommand::Put { root, local, path } => std::fs::create_dir_all(&root.root)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let (_, records) = Journal::open(&root.root).map_err(|e| e.to_string())?;
                drop(records);
                let (mut names, mut journal) = load(&root.root)?;
                put(&root.root, &mut names, &mut journal, &local, &path).map(|()| 0)
            }),
        DfsCommand::Rm {
            root,
            recursive,
            path,
        } => load(&root.root).and_then(|(mut names, mut journal)| {
            let (removed, records) = names.remove(&path, recursive).map_err(|e| e.to_string())?;
            journal.append(&records).map_err(|e| e.to_string())?;
            for meta in &removed {
                for block in &meta.blocks {
                    for candidate in candidates(&root.root, block) {
                        let _ = std::fs::remove_file(candidate);
                    }
                }
            }
            Ok(0)
        }),
        DfsCommand::Fsck { root } => load(&root.root).map(|(names, _)| fsck(&root.root, &names)),
    };
    match result {
        Ok(status) => status,
        Err(message) => {
            eprintln!("vesper dfs: {message}");
            1
        }
    }
}
