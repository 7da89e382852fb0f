//! [`Spool`]: a one-pass input (standard input, a caller's iterator) kept on disk while it is
//! submitted, so that a submission the broker interrupted can start again from its first line.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// The lines of a one-pass input being submitted: each line the input gives is also written to
/// a spool file, so that [`Spool::lines`] can give the lines again from the first (those kept,
/// then the input's next ones) when a submission must start again. [`crate::Queue::submit`]
/// adds only what the job lacks, so starting again adds nothing twice, and an input that is
/// still being produced (a pipe) goes on streaming. The file's name is removed as soon as it
/// is open, so nothing is left behind, even by a process killed with SIGKILL: the spool's
/// handles keep it until it is dropped.
pub struct Spool<I> {
    path: PathBuf,
    writer: BufWriter<File>,
    /// A handle to read the file again from its start, for each new attempt.
    reader: File,
    input: I,
}

impl<I> std::fmt::Debug for Spool<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<I: Iterator<Item = std::io::Result<String>> + Send> Spool<I> {
    /// A spool of `input` in the temporary folder, named after `job` and this process.
    pub fn new(input: I, job: &crate::JobName) -> std::io::Result<Spool<I>> {
        let path =
            std::env::temp_dir().join(format!("abreast-submit-{}-{job}.lines", std::process::id()));
        let file = File::create(&path).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!(
                    "could not create {}, where the input is kept while it is submitted: {error}",
                    path.display()
                ),
            )
        })?;
        let reader = File::open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Spool {
            path,
            writer: BufWriter::new(file),
            reader,
            input,
        })
    }

    /// The lines of an attempt: those kept so far (none the first time), then the input's
    /// next ones, each kept as it is read.
    pub fn lines(
        &mut self,
    ) -> std::io::Result<impl Iterator<Item = std::io::Result<String>> + Send + '_> {
        self.writer.flush()?;
        let mut kept = self.reader.try_clone()?;
        kept.seek(SeekFrom::Start(0))?;
        let kept = BufReader::new(kept).lines();
        let writer = &mut self.writer;
        let fresh = self.input.by_ref().map(move |line| {
            let line = line?;
            // A pause is the producer's timing, not a line: kept lines are read again at once.
            if line != crate::PAUSE {
                writeln!(writer, "{line}")?;
            }
            Ok(line)
        });
        Ok(kept.chain(fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_gives_the_lines_kept_then_the_input_s_next_ones() {
        let job = crate::JobName::new("spool-test").unwrap();
        let input = (0..6).map(|n| Ok(format!("line {n}")));
        let mut spool = Spool::new(input, &job).unwrap();
        // Nothing of it is left in the folder, even while it is in use.
        assert!(!spool.path.exists());
        let first: Vec<String> = spool.lines().unwrap().take(3).map(Result::unwrap).collect();
        assert_eq!(first, ["line 0", "line 1", "line 2"]);
        let again: Vec<String> = spool.lines().unwrap().map(Result::unwrap).collect();
        let all: Vec<String> = (0..6).map(|n| format!("line {n}")).collect();
        assert_eq!(again, all);
        assert_eq!(
            spool
                .lines()
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
            all
        );
    }
}
