//! Simple framing for inputs and outputs: little-endian integers and floats,
//! and byte strings and lists prefixed with a `u32` length — the same
//! layout as verigrid's canonical encoding, so a job's output can be
//! decoded by the network's tools.

/// Why bytes could not be read as the expected frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// What was being read.
    pub what: &'static str,
    /// Byte offset where reading failed.
    pub at: usize,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "input ends or is malformed at byte {} while reading {}: check how the input was framed",
            self.at, self.what
        )
    }
}

impl std::error::Error for FrameError {}

/// Reads framed values from the front of a byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// Bytes not read yet.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// The next `n` bytes.
    ///
    /// # Errors
    /// If fewer than `n` bytes are left.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(FrameError { what, at: self.at })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FrameError> {
        let at = self.at;
        self.take(N, what)?
            .try_into()
            .map_err(|_| FrameError { what, at })
    }

    /// A `u8`.
    ///
    /// # Errors
    /// If the input ends.
    pub fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.array::<1>("u8")?[0])
    }

    /// A little-endian `u32`.
    ///
    /// # Errors
    /// If the input ends.
    pub fn u32(&mut self) -> Result<u32, FrameError> {
        self.array("u32").map(u32::from_le_bytes)
    }

    /// A little-endian `u64`.
    ///
    /// # Errors
    /// If the input ends.
    pub fn u64(&mut self) -> Result<u64, FrameError> {
        self.array("u64").map(u64::from_le_bytes)
    }

    /// A little-endian `i64`.
    ///
    /// # Errors
    /// If the input ends.
    pub fn i64(&mut self) -> Result<i64, FrameError> {
        self.array("i64").map(i64::from_le_bytes)
    }

    /// A little-endian `f32`.
    ///
    /// # Errors
    /// If the input ends.
    pub fn f32(&mut self) -> Result<f32, FrameError> {
        self.array("f32").map(f32::from_le_bytes)
    }

    /// A `u32` length, checked against the bytes left assuming each item
    /// takes at least `min_item_bytes`, so a hostile length cannot make the
    /// reader allocate more than the input.
    ///
    /// # Errors
    /// If the input ends or the length cannot fit in it.
    pub fn len(&mut self, min_item_bytes: usize) -> Result<usize, FrameError> {
        let at = self.at;
        let len = usize::try_from(self.u32()?).map_err(|_| FrameError { what: "length", at })?;
        if len.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(FrameError { what: "length", at });
        }
        Ok(len)
    }

    /// A byte string prefixed with its `u32` length.
    ///
    /// # Errors
    /// If the input ends.
    pub fn bytes(&mut self) -> Result<&'a [u8], FrameError> {
        let len = self.len(1)?;
        self.take(len, "bytes")
    }

    /// A list of `f32`s prefixed with its `u32` length.
    ///
    /// # Errors
    /// If the input ends.
    pub fn f32s(&mut self) -> Result<Vec<f32>, FrameError> {
        let len = self.len(4)?;
        (0..len).map(|_| self.f32()).collect()
    }

    /// Fails unless every byte has been read.
    ///
    /// # Errors
    /// If bytes are left over.
    pub fn finish(self) -> Result<(), FrameError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(FrameError {
                what: "the end of the input",
                at: self.at,
            })
        }
    }
}

/// Writes framed values.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }

    /// Appends a little-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a little-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a little-endian `i64`.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a little-endian `f32`.
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a length as a `u32` (saturating: lengths past 4 GiB cannot
    /// occur in a task).
    pub fn len(&mut self, len: usize) -> &mut Self {
        self.u32(u32::try_from(len).unwrap_or(u32::MAX))
    }

    /// Appends a byte string prefixed with its length.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.len(v.len());
        self.bytes.extend_from_slice(v);
        self
    }

    /// Appends a list of `f32`s prefixed with its length.
    pub fn f32s(&mut self, v: &[f32]) -> &mut Self {
        self.len(v.len());
        for x in v {
            self.f32(*x);
        }
        self
    }

    /// The bytes written.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut w = Writer::new();
        w.u8(7)
            .u32(1)
            .u64(u64::MAX)
            .i64(-5)
            .f32(1.5)
            .bytes(b"hi")
            .f32s(&[0.5, -2.0]);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u32(), Ok(1));
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.i64(), Ok(-5));
        assert_eq!(r.f32(), Ok(1.5));
        assert_eq!(r.bytes(), Ok(&b"hi"[..]));
        assert_eq!(r.f32s(), Ok(vec![0.5, -2.0]));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn a_length_longer_than_the_input_is_refused() {
        let mut w = Writer::new();
        w.u32(1_000_000).u8(1);
        let bytes = w.into_bytes();
        assert_eq!(
            Reader::new(&bytes).f32s(),
            Err(FrameError {
                what: "length",
                at: 0
            })
        );
    }

    #[test]
    fn leftover_bytes_fail_finish() {
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u8(), Ok(1));
        assert!(r.finish().is_err());
    }
}
