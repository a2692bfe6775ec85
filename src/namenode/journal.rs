//! The name node's durable journal under a persistent DFS root: length-prefixed,
//! checksummed postcard records, fsync'd before a commit is acknowledged and
//! replayed at start. A torn record at the tail (a crash mid-write) ends replay.

use super::Record;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "namenode.journal";

pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating) the journal in `root` and returns it with every intact record.
    pub fn open(root: &Path) -> std::io::Result<(Journal, Vec<Record>)> {
        let path = root.join(FILE_NAME);
        let records = read_records(&path)?;
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok((Journal { file, path }, records))
    }

    /// Appends records and makes them durable.
    pub fn append(&mut self, records: &[Record]) -> std::io::Result<()> {
        let mut buffer = Vec::new();
        for record in records {
            let body = postcard::to_stdvec(record).expect("journal records always serialise");
            buffer.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buffer.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
            buffer.extend_from_slice(&body);
        }
        self.file.write_all(&buffer)?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every intact record of a journal file (none if it does not exist).
pub fn read_records(path: &Path) -> std::io::Result<Vec<Record>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut bytes)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut records = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 8 {
        let len = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        let Some(body) = rest.get(8..8 + len) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Ok(record) = postcard::from_bytes(body) else {
            break;
        };
        records.push(record);
        rest = &rest[8 + len..];
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FileMeta;

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_ignored() {
        let root = tempfile::tempdir().unwrap();
        let meta = FileMeta {
            path: "/a".into(),
            size: 0,
            blocks: vec![],
            mtime_ms: 1,
            inline: b"small".to_vec(),
        };
        {
            let (mut journal, records) = Journal::open(root.path()).unwrap();
            assert!(records.is_empty());
            journal
                .append(&[Record::Commit(meta.clone()), Record::Remove("/a".into())])
                .unwrap();
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(root.path().join(FILE_NAME))
            .unwrap();
        file.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let (_, records) = Journal::open(root.path()).unwrap();
        assert_eq!(
            records,
            vec![Record::Commit(meta), Record::Remove("/a".into())]
        );
    }
}
