//! The journal: the one durable write a commit makes before it is acknowledged.
//!
//! Each commit is one line of JSON appended to the current segment file, so an append costs the
//! disk about its own size, written sequentially, however many sessions are being written at
//! once. The tables are brought up to date from the journal in batches (see `flush`); once a
//! segment's commits are in the tables, the segment is removed. On open, segments still present
//! are applied again: a commit already in the tables is recognised by its `seq` and skipped.
//!
//! A line is
//! `{"v":1,"expected":4,"meta":{…},"events":[…]}`: the store's encoding of each event
//! (`codec`), and the session's metadata after the commit. A line cut short by a crash (the
//! commit was never acknowledged) is ignored, with everything after it.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::domain::commit::Commit;
use crate::store::codec::{self, StoredMeta};

/// The version of a journal line.
const VERSION: u64 = 1;

/// The segment being appended to.
pub(super) struct Journal {
    dir: PathBuf,
    file: File,
    number: u64,
    /// Bytes in the segment that hold whole lines.
    len: u64,
    /// Whether each append is synced to the disk before it returns (`--sqlite-synchronous full`).
    sync: bool,
}

/// A segment found on open, and the commits it holds.
pub(super) struct Segment {
    pub number: u64,
    pub commits: Vec<Commit>,
}

impl Journal {
    /// The segments left in `dir` by a previous run, oldest first.
    pub fn recover(dir: &Path) -> std::io::Result<Vec<Segment>> {
        fs::create_dir_all(dir)?;
        let mut numbers: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name();
                name.to_str()?.strip_suffix(".jsonl")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        numbers
            .into_iter()
            .map(|number| {
                let commits = read_segment(&segment_path(dir, number))?;
                Ok(Segment { number, commits })
            })
            .collect()
    }

    /// Starts appending to a new, empty segment `number` in `dir`.
    pub fn start(dir: &Path, number: u64, sync: bool) -> std::io::Result<Self> {
        let file = create_segment(dir, number, sync)?;
        Ok(Self {
            dir: dir.to_owned(),
            file,
            number,
            len: 0,
            sync,
        })
    }

    /// Appends whole lines. On failure the segment is cut back to the lines it held, so a line
    /// half written never hides the lines appended after it; `Err` then says the commits are
    /// not in the journal.
    pub fn append(&mut self, lines: &[u8]) -> Result<(), String> {
        let written = self.file.write_all(lines).and_then(|()| {
            if self.sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.len += lines.len() as u64;
                Ok(())
            }
            Err(err) => {
                // Cut back to the last whole line, and write from there: the file's position is
                // wherever the failed write stopped, and writing on from it would leave a hole.
                let len = self.len;
                let cut = self
                    .file
                    .set_len(len)
                    .and_then(|()| self.file.seek(SeekFrom::Start(len)).map(drop));
                if let Err(cut) = cut {
                    // The segment may now end in a partial line; start another so that what
                    // follows is read back.
                    tracing::error!(error = %cut, "cannot cut the journal back after a failed append");
                    self.rotate().map_err(|e| format!("journal: {e}"))?;
                }
                Err(format!("journal: {err}"))
            }
        }
    }

    /// Moves on to a new segment; answers the number of the one just closed.
    pub fn rotate(&mut self) -> std::io::Result<u64> {
        let next = self.number + 1;
        self.file = create_segment(&self.dir, next, self.sync)?;
        self.len = 0;
        Ok(std::mem::replace(&mut self.number, next))
    }

    /// Removes a segment whose commits are all in the tables.
    pub fn remove(dir: &Path, number: u64) {
        if let Err(err) = fs::remove_file(segment_path(dir, number)) {
            tracing::warn!(error = %err, segment = number, "cannot remove a flushed journal segment");
        }
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:012}.jsonl"))
}

fn create_segment(dir: &Path, number: u64, sync: bool) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(segment_path(dir, number))?;
    if sync {
        // The new name must survive a power loss too.
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}

fn read_segment(path: &Path) -> std::io::Result<Vec<Commit>> {
    let mut commits = Vec::new();
    for (index, line) in BufReader::new(File::open(path)?).split(b'\n').enumerate() {
        let line = line?;
        match decode(&line) {
            Ok(commit) => commits.push(commit),
            Err(cause) => {
                tracing::warn!(
                    segment = %path.display(),
                    line = index + 1,
                    %cause,
                    "the journal ends in a line that does not decode; it and what follows are ignored"
                );
                break;
            }
        }
    }
    Ok(commits)
}

/// Appends the commit's line (ending in a newline) to `out`.
pub(super) fn encode(commit: &Commit, out: &mut Vec<u8>) {
    let meta = StoredMeta::from(&commit.meta);
    out.extend_from_slice(b"{\"v\":");
    out.extend_from_slice(VERSION.to_string().as_bytes());
    out.extend_from_slice(b",\"expected\":");
    out.extend_from_slice(commit.expected_seq.to_string().as_bytes());
    out.extend_from_slice(b",\"meta\":");
    // Plain data: serializing it cannot fail.
    let _ = serde_json::to_writer(&mut *out, &meta);
    out.extend_from_slice(b",\"events\":[");
    for (index, event) in commit.events.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(codec::encode(event).as_bytes());
    }
    out.extend_from_slice(b"]}\n");
}

pub(super) fn decode(line: &[u8]) -> Result<Commit, String> {
    let line: Line =
        serde_json::from_slice(line).map_err(|e| format!("not a journal line: {e}"))?;
    if line.v != VERSION {
        return Err(format!(
            "journal lines of version {} are not known here",
            line.v
        ));
    }
    let events = line
        .events
        .into_iter()
        .map(codec::decode_value)
        .collect::<Result<_, _>>()?;
    Ok(Commit::new(line.expected, line.meta.try_into()?, events))
}

#[derive(Deserialize)]
struct Line {
    v: u64,
    expected: u64,
    meta: StoredMeta,
    events: Vec<Value>,
}
