//! A line reader with bounded memory, shared by the line-based formats.

use std::io::{self, BufRead};

/// One physical line, without its `\n` (and without a trailing `\r`).
#[derive(Debug)]
pub(crate) enum Line<'a> {
    Text {
        bytes: &'a [u8],
        /// 1-based line number.
        number: u64,
        /// Byte offset of the line's first byte.
        offset: u64,
    },
    /// A line longer than the cap; its bytes were skipped, not buffered.
    TooLong { number: u64, length: u64 },
}

pub(crate) struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    cap: usize,
    number: u64,
    offset: u64,
    /// The last line is handed out again by the next call.
    pushed_back: Option<(u64, u64)>,
    /// The last line was handed out from the input's own buffer (not
    /// copied into `buf`): its length. The next call consumes it and its `\n`.
    served_in_place: Option<usize>,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(input: R, cap: usize) -> Self {
        LineReader {
            input,
            buf: Vec::with_capacity(4096),
            cap,
            number: 0,
            offset: 0,
            pushed_back: None,
            served_in_place: None,
        }
    }

    /// Makes the next [`next_line`](Self::next_line) return the line just read again.
    pub(crate) fn push_back(&mut self, number: u64, offset: u64) {
        self.pushed_back = Some((number, offset));
    }

    /// Where the next `\n` is in the input's buffer (`None` when the
    /// buffer holds no whole line); fills an empty buffer first.
    fn newline_in_buffer(&mut self) -> io::Result<Option<usize>> {
        loop {
            match self.input.fill_buf() {
                Ok(chunk) => return Ok(memchr::memchr(b'\n', chunk)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The first `length` bytes of the input's buffer: a line found there
    /// and not consumed yet.
    fn line_in_buffer(&mut self, length: usize) -> io::Result<&[u8]> {
        self.input
            .fill_buf()?
            .get(..length)
            .ok_or_else(|| io::Error::other("the input's buffer lost a line"))
    }

    /// The next line, `Ok(None)` at the end of input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if let Some((number, offset)) = self.pushed_back.take() {
            let bytes = match self.served_in_place {
                // Not consumed yet: the buffer still starts with it.
                Some(length) => self.line_in_buffer(length)?,
                None => &self.buf[..],
            };
            return Ok(Some(Line::Text {
                bytes: trim_cr(bytes),
                number,
                offset,
            }));
        }
        if let Some(length) = self.served_in_place.take() {
            self.input.consume(length + 1);
        }
        // Most lines lie whole in the input's buffer: hand them out from
        // there, without a copy.
        if let Some(length) = self.newline_in_buffer()? {
            if length <= self.cap {
                let offset = self.offset;
                self.offset += length as u64 + 1;
                self.number += 1;
                self.served_in_place = Some(length);
                let number = self.number;
                return Ok(Some(Line::Text {
                    bytes: trim_cr(self.line_in_buffer(length)?),
                    number,
                    offset,
                }));
            }
        }
        self.buf.clear();
        let offset = self.offset;
        let mut length: u64 = 0;
        let mut overflow = false;
        let mut saw_any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            saw_any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            length += take as u64;
            if !overflow {
                if self.buf.len() + take > self.cap {
                    overflow = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            let consumed = if done { take + 1 } else { take };
            self.input.consume(consumed);
            self.offset += consumed as u64;
            if done {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        self.number += 1;
        if overflow {
            return Ok(Some(Line::TooLong {
                number: self.number,
                length,
            }));
        }
        Ok(Some(Line::Text {
            bytes: trim_cr(&self.buf),
            number: self.number,
            offset,
        }))
    }
}

fn trim_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], cap: usize) -> Vec<String> {
        let mut r = LineReader::new(input, cap);
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            out.push(match line {
                Line::Text {
                    bytes,
                    number,
                    offset,
                } => format!("{number}@{offset}:{}", String::from_utf8_lossy(bytes)),
                Line::TooLong { number, length } => format!("{number}:TOO LONG {length}"),
            });
        }
        out
    }

    #[test]
    fn lines_carry_numbers_offsets_and_drop_crlf() {
        assert_eq!(
            collect(b"a\r\nbb\n\nccc", 100),
            ["1@0:a", "2@3:bb", "3@6:", "4@7:ccc"]
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_still_read() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n");
        assert_eq!(collect(&input, 10), ["1:TOO LONG 50", "2@51:ok"]);
    }

    #[test]
    fn a_pushed_back_line_comes_again_whether_or_not_it_was_copied() {
        // A 4-byte buffer holds "ab\n" whole (served in place) but not "cdef"
        // (gathered into the reader's own buffer).
        let input = std::io::BufReader::with_capacity(4, &b"ab\ncdef\ng\n"[..]);
        let mut r = LineReader::new(input, 100);
        let mut texts = Vec::new();
        for push_back in [true, false, true, false, false] {
            let Some(Line::Text {
                bytes,
                number,
                offset,
            }) = r.next_line().unwrap()
            else {
                panic!("a line")
            };
            texts.push(format!(
                "{number}@{offset}:{}",
                String::from_utf8_lossy(bytes)
            ));
            if push_back {
                r.push_back(number, offset);
            }
        }
        assert_eq!(texts, ["1@0:ab", "1@0:ab", "2@3:cdef", "2@3:cdef", "3@8:g"]);
        assert!(r.next_line().unwrap().is_none());
    }
}
