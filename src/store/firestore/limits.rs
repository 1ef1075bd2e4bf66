//! What one Firestore commit may hold, and what each change costs in document writes: the one
//! cost model behind every commit and batch this store makes (Firestore refuses a commit of
//! more than 500 writes). The rest of the server knows nothing of documents: it asks the store
//! how to cut a group of writes ([`split_group`]).

use firestore::{FirestoreBatch, FirestoreResult, FirestoreSimpleBatchWriter};

use crate::domain::commit::WriteSize;

/// Writes one commit or batch holds at most: below Firestore's 500, with room to spare.
pub const MAX_WRITES: usize = 450;
/// The session document.
pub const SESSION: usize = 1;
/// A message document.
pub const MESSAGE: usize = 1;
/// An image: its document and one lookup per distinct URL (up to three).
pub const IMAGE: usize = 4;
/// An event: its log document, and the deletion of the one that falls out of the log.
pub const EVENT: usize = 2;

/// An upper bound of the writes `op` causes when committed.
pub fn op_writes(size: &WriteSize) -> usize {
    EVENT + MESSAGE * size.messages + IMAGE * size.images
}

/// Consecutive runs of `ops` whose writes, with the session document's, fit one commit. An op
/// too large alone (which validation's limits rule out) still gets a run of its own.
pub fn split_group(ops: &[WriteSize]) -> Vec<usize> {
    let mut runs = Vec::new();
    let (mut writes, mut len) = (SESSION, 0);
    for op in ops {
        let more = op_writes(op);
        if len > 0 && writes + more > MAX_WRITES {
            runs.push(len);
            (writes, len) = (SESSION, 0);
        }
        writes += more;
        len += 1;
    }
    if len > 0 {
        runs.push(len);
    }
    runs
}

/// Non-atomic batches of writes (conversions, clean-ups), each sent before it would exceed
/// [`MAX_WRITES`].
pub struct Batches<'w> {
    writer: &'w FirestoreSimpleBatchWriter,
    batch: FirestoreBatch<'w, FirestoreSimpleBatchWriter>,
    pending: usize,
}

impl<'w> Batches<'w> {
    pub fn new(writer: &'w FirestoreSimpleBatchWriter) -> Self {
        Self {
            writer,
            batch: writer.new_batch(),
            pending: 0,
        }
    }

    /// The batch to add `writes` more writes to, the current one sent first if they would not
    /// fit.
    pub async fn room(
        &mut self,
        writes: usize,
    ) -> FirestoreResult<&mut FirestoreBatch<'w, FirestoreSimpleBatchWriter>> {
        if self.pending > 0 && self.pending + writes > MAX_WRITES {
            let full = std::mem::replace(&mut self.batch, self.writer.new_batch());
            full.write().await?;
            self.pending = 0;
        }
        self.pending += writes;
        Ok(&mut self.batch)
    }

    /// Sends what is left.
    pub async fn finish(self) -> FirestoreResult<()> {
        if self.pending > 0 {
            self.batch.write().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(images: usize) -> WriteSize {
        WriteSize {
            messages: 1,
            images,
        }
    }

    #[test]
    fn groups_are_cut_so_that_every_commit_fits() {
        let big = append(64);
        let small = append(1);
        let ops: Vec<WriteSize> = std::iter::repeat_n(big, 5)
            .chain(std::iter::repeat_n(small, 30))
            .collect();
        let runs = split_group(&ops);
        assert_eq!(runs.iter().sum::<usize>(), ops.len());
        let mut at = 0;
        for run in runs {
            let writes: usize = SESSION + ops[at..at + run].iter().map(op_writes).sum::<usize>();
            assert!(writes <= MAX_WRITES, "a run of {run} costs {writes}");
            at += run;
        }
        assert_eq!(split_group(&[]), Vec::<usize>::new());
    }
}
