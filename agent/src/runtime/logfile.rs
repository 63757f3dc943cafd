/*!
The process runtime's log files, kept bounded: a file past [`MAX_BYTES`] is rotated
(copied to `NAME.1`, then truncated in place, which a writer with `O_APPEND` follows without
reopening; lines written between the copy and the truncation are lost, as with logrotate's
copytruncate), a tail reads backwards from the end instead of the whole file, and no line
held in memory is longer than [`MAX_LINE`].
*/

use futures_util::Stream;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A log file is rotated once it passes this size; one rotated file is kept.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Longer lines are cut here and marked.
pub const MAX_LINE: usize = 16 * 1024;
const CUT_MARK: &str = " […line cut at 16 KiB]";
const BLOCK: u64 = 64 * 1024;

fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Rotates the file when it is too large; true when it did.
pub fn rotate_if_large(path: &Path) -> std::io::Result<bool> {
    rotate_past(path, MAX_BYTES)
}

fn rotate_past(path: &Path, limit: u64) -> std::io::Result<bool> {
    if std::fs::metadata(path)?.len() <= limit {
        return Ok(false);
    }
    std::fs::copy(path, rotated(path))?;
    std::fs::OpenOptions::new().write(true).open(path)?.set_len(0)?;
    Ok(true)
}

/// Removes a log file and its rotated copy.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(rotated(path));
}

/// Cuts a line to [`MAX_LINE`] bytes (on a character boundary), marking the cut.
fn bounded(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    if text.len() <= MAX_LINE {
        return text.to_string();
    }
    let mut end = MAX_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARK}", &text[..end])
}

/// The last `n` lines (every line when None) and the offset just past them, reading back
/// from the end a block at a time: at most `n` lines' worth of the file (and never more than
/// two rotations' worth) is read, whatever its size.
pub fn tail(path: &Path, n: Option<u32>) -> std::io::Result<(Vec<String>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let want = n.map_or(usize::MAX, |n| n as usize);
    let floor = len.saturating_sub(2 * MAX_BYTES);
    let mut start = len;
    // Blocks as read, last first; each block's newlines are counted once.
    let (mut blocks, mut newlines) = (Vec::new(), 0usize);
    // Back a block at a time until the blocks hold `want` complete lines (one newline more
    // than lines, unless the file's start is reached).
    while start > floor && newlines <= want {
        let from = start.saturating_sub(BLOCK).max(floor);
        let mut block = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block)?;
        newlines += block.iter().filter(|&&b| b == b'\n').count();
        blocks.push(block);
        start = from;
    }
    let buf: Vec<u8> = blocks.into_iter().rev().flatten().collect();
    let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
    let mut lines: Vec<&[u8]> = if body.is_empty() { Vec::new() } else { body.split(|&b| b == b'\n').collect() };
    // A first line cut by the read's start is not a whole line.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(want);
    Ok((lines[skip..].iter().map(|l| bounded(l)).collect(), len))
}

/// Lines written after `offset`, as they come; follows a rotation (the file shrinking) by
/// starting over at its new beginning.
pub fn follow(path: PathBuf, offset: u64) -> impl Stream<Item = std::io::Result<String>> {
    struct State {
        path: PathBuf,
        offset: u64,
        pending: Vec<u8>,
        ready: std::collections::VecDeque<String>,
    }
    let state = State { path, offset, pending: Vec::new(), ready: Default::default() };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(line) = s.ready.pop_front() {
                return Some((Ok(line), s));
            }
            let (path, offset) = (s.path.clone(), s.offset);
            let read = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, u64)> {
                let mut file = std::fs::File::open(&path)?;
                let len = file.metadata()?.len();
                let from = if len < offset { 0 } else { offset };
                file.seek(SeekFrom::Start(from))?;
                let mut chunk = Vec::new();
                file.take(BLOCK).read_to_end(&mut chunk)?;
                Ok((chunk, from))
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            let (chunk, from) = match read {
                Ok(r) => r,
                Err(e) => return Some((Err(e), s)),
            };
            if from < s.offset {
                s.pending.clear();
            }
            s.offset = from + chunk.len() as u64;
            if chunk.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            s.pending.extend_from_slice(&chunk);
            while let Some(at) = s.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = s.pending.drain(..=at).collect();
                s.ready.push_back(bounded(&line));
            }
            // A line still without its end is held only up to the bound.
            if s.pending.len() > MAX_LINE {
                let line = std::mem::take(&mut s.pending);
                s.ready.push_back(bounded(&line));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Write;

    #[test]
    fn a_tail_reads_back_from_the_end_and_bounds_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut f = std::fs::File::create(&path).unwrap();
        for n in 0..100_000 {
            writeln!(f, "line {n}").unwrap();
        }
        writeln!(f, "{}", "x".repeat(100_000)).unwrap();
        writeln!(f, "last").unwrap();
        let (lines, end) = tail(&path, Some(3)).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "line 99999");
        assert!(lines[1].len() < MAX_LINE + 40 && lines[1].ends_with(CUT_MARK), "{}", &lines[1][..20]);
        assert_eq!(lines[2], "last");
        assert_eq!(end, std::fs::metadata(&path).unwrap().len());
        let (all, _) = tail(&path, None).unwrap();
        assert_eq!((all.len(), all[0].as_str()), (100_002, "line 0"));
        let (none, _) = tail(&path, Some(0)).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_large_file_rotates_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut writer = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        writer.write_all(&vec![b'a'; 2000]).unwrap();
        assert!(!rotate_past(&path, 4096).unwrap());
        writer.write_all(&vec![b'b'; 3000]).unwrap();
        assert!(rotate_past(&path, 4096).unwrap());
        assert_eq!(std::fs::metadata(rotated(&path)).unwrap().len(), 5000);
        // The writer keeps its descriptor and writes at the new end.
        writer.write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
        remove(&path);
        assert!(!path.exists() && !rotated(&path).exists());
    }

    #[tokio::test]
    async fn follow_sees_new_lines_and_survives_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut writer = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        writeln!(writer, "old").unwrap();
        let (_, end) = tail(&path, Some(10)).unwrap();
        let mut lines = Box::pin(follow(path.clone(), end));
        writeln!(writer, "one").unwrap();
        assert_eq!(lines.next().await.unwrap().unwrap(), "one");
        rotate_past(&path, 0).unwrap();
        writeln!(writer, "two").unwrap();
        assert_eq!(lines.next().await.unwrap().unwrap(), "two");
    }
}
