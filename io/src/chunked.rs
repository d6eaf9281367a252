//! Incremental decoder for `Transfer-Encoding: chunked` bodies, shared by the
//! server (request bodies) and the upstream client (response bodies).

#[derive(Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// Malformed framing.
    Invalid,
    /// The decoded body would exceed the caller's limit.
    TooLarge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting a `size[;ext]\r\n` line.
    Size,
    /// Copying `remaining` data bytes.
    Data,
    /// Expecting the `\r\n` after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty line.
    Trailer,
    Done,
}

/// Feeds on whatever bytes have arrived; keeps its place between calls so a
/// large body is decoded in one pass.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    remaining: u64,
    limit: u64,
}

/// Longest size or trailer line accepted.
const MAX_LINE: usize = 4096;

impl ChunkedDecoder {
    pub fn new(limit: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            remaining: 0,
            limit,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending data to `out`. Returns how many input
    /// bytes were consumed; call again with more input until `is_done()`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok(pos),
                State::Size => {
                    let Some(line_len) = find_crlf(&input[pos..]) else {
                        if input.len() - pos > MAX_LINE {
                            return Err(ChunkError::Invalid);
                        }
                        return Ok(pos);
                    };
                    let line = &input[pos..pos + line_len];
                    let size_part = line.split(|&b| b == b';').next().unwrap_or(line);
                    let size = parse_hex(trim(size_part))?;
                    pos += line_len + 2;
                    if size == 0 {
                        self.state = State::Trailer;
                    } else {
                        if out.len() as u64 + size > self.limit {
                            return Err(ChunkError::TooLarge);
                        }
                        self.remaining = size;
                        self.state = State::Data;
                    }
                }
                State::Data => {
                    let available = (input.len() - pos) as u64;
                    if available == 0 {
                        return Ok(pos);
                    }
                    let take = available.min(self.remaining) as usize;
                    out.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    self.remaining -= take as u64;
                    if self.remaining == 0 {
                        self.state = State::DataEnd;
                    }
                }
                State::DataEnd => {
                    if input.len() - pos < 2 {
                        return Ok(pos);
                    }
                    if &input[pos..pos + 2] != b"\r\n" {
                        return Err(ChunkError::Invalid);
                    }
                    pos += 2;
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(line_len) = find_crlf(&input[pos..]) else {
                        if input.len() - pos > MAX_LINE {
                            return Err(ChunkError::Invalid);
                        }
                        return Ok(pos);
                    };
                    pos += line_len + 2;
                    if line_len == 0 {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn parse_hex(s: &[u8]) -> Result<u64, ChunkError> {
    if s.is_empty() || s.len() > 15 {
        return Err(ChunkError::Invalid);
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = (b as char).to_digit(16).ok_or(ChunkError::Invalid)?;
        v = v * 16 + d as u64;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: a\r\n\r\nNEXT";

    #[test]
    fn decodes_in_one_go_and_stops_at_end() {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let used = d.feed(BODY, &mut out).unwrap();
        assert!(d.is_done());
        assert_eq!(out, b"hello, world");
        assert_eq!(&BODY[used..], b"NEXT");
    }

    #[test]
    fn decodes_byte_by_byte() {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for &b in BODY {
            pending.push(b);
            let used = d.feed(&pending, &mut out).unwrap();
            pending.drain(..used);
            if d.is_done() {
                break;
            }
        }
        assert!(d.is_done());
        assert_eq!(out, b"hello, world");
    }

    #[test]
    fn enforces_limit_and_rejects_garbage() {
        let mut out = Vec::new();
        assert_eq!(
            ChunkedDecoder::new(4).feed(BODY, &mut out),
            Err(ChunkError::TooLarge)
        );
        assert_eq!(
            ChunkedDecoder::new(100).feed(b"zz\r\n", &mut Vec::new()),
            Err(ChunkError::Invalid)
        );
        assert_eq!(
            ChunkedDecoder::new(100).feed(b"2\r\nabXY", &mut Vec::new()),
            Err(ChunkError::Invalid)
        );
    }
}
