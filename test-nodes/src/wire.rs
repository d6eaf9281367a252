//! HTTP/1.1 framing helpers shared by the test-double server and the test client:
//! a buffered reader over a byte stream, line reading and chunked-body decoding.
//!
//! Everything here treats its input as untrusted: malformed input is an error, never a panic.

use std::io::{self, Read};

/// Longest accepted line inside a chunked body (chunk-size line or trailer line).
pub(crate) const MAX_LINE: usize = 8 * 1024;
/// Most trailer lines accepted after the last chunk.
const MAX_TRAILERS: usize = 64;

#[derive(Debug)]
pub(crate) enum WireError {
    /// The transport failed (includes read timeouts).
    Io(io::Error),
    /// The peer closed the connection in the middle of a message.
    Eof,
    /// The bytes are not valid HTTP/1.1.
    Malformed(&'static str),
    /// A size limit was exceeded (head or body).
    TooLarge,
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

impl From<WireError> for io::Error {
    fn from(e: WireError) -> io::Error {
        match e {
            WireError::Io(e) => e,
            WireError::Eof => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of an HTTP message",
            ),
            WireError::Malformed(what) => io::Error::new(io::ErrorKind::InvalidData, what),
            WireError::TooLarge => {
                io::Error::new(io::ErrorKind::InvalidData, "HTTP message too large")
            }
        }
    }
}

/// A reader with a look-ahead buffer, so that a parser can see bytes before consuming them
/// (and so that pipelined requests on a keep-alive connection are not lost).
pub(crate) struct Incoming<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Incoming<R> {
    pub(crate) fn new(inner: R) -> Self {
        Incoming {
            inner,
            buf: Vec::with_capacity(8 * 1024),
            pos: 0,
        }
    }

    /// Buffered, not yet consumed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` means end of stream.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.inner.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends exactly `n` bytes to `out` (buffered bytes first, then straight from the stream).
    pub(crate) fn take_into(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), WireError> {
        let have = self.data().len().min(n);
        out.extend_from_slice(&self.data()[..have]);
        self.consume(have);
        let mut missing = n - have;
        let mut tmp = [0u8; 16 * 1024];
        while missing > 0 {
            let want = missing.min(tmp.len());
            match self.inner.read(&mut tmp[..want]) {
                Ok(0) => return Err(WireError::Eof),
                Ok(k) => {
                    out.extend_from_slice(&tmp[..k]);
                    missing -= k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WireError::Io(e)),
            }
        }
        Ok(())
    }

    /// Reads exactly `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<Vec<u8>, WireError> {
        // Do not trust `n` for the up-front allocation.
        let mut out = Vec::with_capacity(n.min(1 << 20));
        self.take_into(n, &mut out)?;
        Ok(out)
    }

    /// Reads one line (terminated by LF, an optional CR before it is stripped).
    pub(crate) fn read_line(&mut self, max: usize) -> Result<Vec<u8>, WireError> {
        loop {
            if let Some(i) = self.data().iter().position(|&b| b == b'\n') {
                let mut line = self.data()[..i].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.consume(i + 1);
                return Ok(line);
            }
            if self.data().len() > max {
                return Err(WireError::Malformed("line too long"));
            }
            if self.fill()? == 0 {
                return Err(WireError::Eof);
            }
        }
    }

    /// Reads the rest of the stream (for responses framed by connection close).
    pub(crate) fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, WireError> {
        let mut out = self.data().to_vec();
        self.consume(out.len());
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.inner.read(&mut tmp) {
                Ok(0) => return Ok(out),
                Ok(k) => {
                    if out.len() + k > limit {
                        return Err(WireError::TooLarge);
                    }
                    out.extend_from_slice(&tmp[..k]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WireError::Io(e)),
            }
        }
    }

    /// Decodes a `Transfer-Encoding: chunked` body (chunk extensions and trailers are ignored).
    pub(crate) fn read_chunked(&mut self, limit: usize) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        loop {
            let line = self.read_line(MAX_LINE)?;
            let size = line.split(|&b| b == b';').next().unwrap_or(&[]);
            let size = std::str::from_utf8(size)
                .map_err(|_| WireError::Malformed("chunk size is not ASCII"))?
                .trim();
            if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(WireError::Malformed("bad chunk size"));
            }
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| WireError::Malformed("chunk size overflows"))?;
            if size == 0 {
                for _ in 0..MAX_TRAILERS {
                    if self.read_line(MAX_LINE)?.is_empty() {
                        return Ok(out);
                    }
                }
                return Err(WireError::Malformed("too many trailer lines"));
            }
            if out.len().saturating_add(size) > limit {
                return Err(WireError::TooLarge);
            }
            self.take_into(size, &mut out)?;
            if !self.read_line(2)?.is_empty() {
                return Err(WireError::Malformed("chunk data not followed by CRLF"));
            }
        }
    }
}

/// Percent-decodes `s` (`+` is kept as is unless `plus_is_space`); invalid escapes are kept
/// literally and invalid UTF-8 is replaced, like lenient servers do.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
