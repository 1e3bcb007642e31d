//! The one canonical binary encoding for everything verigrid hashes or signs.
//!
//! Rules (docs/DESIGN.md §3): integers are fixed-width little-endian, a
//! collection is a `u32` item count followed by its items, an option is a
//! `0`/`1` tag, an enum is a `u8` tag followed by its fields. There is exactly
//! one encoding of every value, so equal values hash equally.
//!
//! Decoding never panics and never allocates more than the input could
//! describe: a declared length larger than the bytes left is rejected before
//! anything is reserved. Semantic limits (how many results a batch may carry)
//! are the ledger's to enforce, with its own typed errors.

use thiserror::Error;

/// Why bytes could not be decoded into a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("input ended early while decoding {0}: the bytes are truncated")]
    UnexpectedEnd(&'static str),
    /// Bytes were left over after a complete value.
    #[error("{0} trailing bytes after a complete value: the input is not one canonical value")]
    TrailingBytes(usize),
    /// An enum tag that names no variant.
    #[error("unknown tag {tag} for {what}: the sender may run a newer protocol version")]
    UnknownTag {
        /// The type being decoded.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A collection declared more items than the input can hold.
    #[error("declared length {len} exceeds the {left} bytes left: the input is corrupt or hostile")]
    LengthTooLarge {
        /// Declared number of items.
        len: u64,
        /// Bytes remaining.
        left: usize,
    },
    /// A field whose bytes are well-formed but whose value is not allowed.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A cursor over bytes being decoded.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes` from the beginning.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not yet consumed.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Takes exactly `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`] if fewer than `n` bytes are left.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(DecodeError::UnexpectedEnd(what));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`] if the input is too short.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads a collection length and checks that at least `min_item_size`
    /// bytes per item remain, so hostile lengths cannot force allocation.
    ///
    /// # Errors
    /// [`DecodeError::LengthTooLarge`] for an impossible length.
    pub fn len(&mut self, min_item_size: usize) -> Result<usize, DecodeError> {
        let len = u32::decode_from(self)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::LengthTooLarge {
            len: u64::from(len),
            left: self.remaining(),
        })?;
        if len.saturating_mul(min_item_size.max(1)) > self.remaining() {
            return Err(DecodeError::LengthTooLarge {
                len: len as u64,
                left: self.remaining(),
            });
        }
        Ok(len)
    }

    /// Fails unless every byte has been consumed.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`] if bytes are left.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.bytes.len()))
        }
    }
}

/// A value with a canonical byte encoding.
pub trait Encode {
    /// Appends the canonical encoding of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The canonical encoding of `self`.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from the reader.
    ///
    /// # Errors
    /// Any [`DecodeError`] describing why the bytes are not a value.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes exactly one value that spans all of `bytes`.
    ///
    /// # Errors
    /// Any [`DecodeError`], including trailing bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
        impl Decode for $t {
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(r.array(stringify!($t))?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, u128, i64);

impl Encode for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::UnknownTag { what: "bool", tag }),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array("byte array")
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode_to(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(None),
            1 => Ok(Some(T::decode_from(r)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "option",
                tag,
            }),
        }
    }
}

/// Encodes a collection length; lengths above `u32::MAX` cannot occur for
/// values the ledger accepts, and saturate rather than wrap if they ever did.
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    u32::try_from(len).unwrap_or(u32::MAX).encode_to(out);
}

impl<T: Encode> Encode for Vec<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for item in self {
            item.encode_to(out);
        }
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.len(1)?;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(T::decode_from(r)?);
        }
        Ok(out)
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
        self.1.encode_to(out);
    }
}

impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok((A::decode_from(r)?, B::decode_from(r)?))
    }
}

/// An owned byte string (attestation evidence, a trust root, a float output),
/// encoded as a length and the raw bytes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Bytes {
    /// Number of bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Encode for Bytes {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_len(self.0.len(), out);
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Bytes {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.len(1)?;
        Ok(Self(r.take(len, "bytes")?.to_vec()))
    }
}

impl Encode for String {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
}

impl Decode for String {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.len(1)?;
        let raw = r.take(len, "string")?;
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::Invalid {
            what: "string",
            why: "not UTF-8",
        })
    }
}

/// Implements [`Encode`] and [`Decode`] for a struct by encoding its fields
/// in the order listed. List every field: the compiler checks the
/// constructor, so a forgotten field does not build.
#[macro_export]
macro_rules! codec_struct {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::codec::Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                $( $crate::codec::Encode::encode_to(&self.$field, out); )*
            }
        }
        impl $crate::codec::Decode for $name {
            fn decode_from(
                r: &mut $crate::codec::Reader<'_>,
            ) -> Result<Self, $crate::codec::DecodeError> {
                Ok(Self { $( $field: $crate::codec::Decode::decode_from(r)?, )* })
            }
        }
    };
}

/// Implements [`Encode`] and [`Decode`] for a field-less enum as one tag byte.
#[macro_export]
macro_rules! codec_unit_enum {
    ($name:ident { $($variant:ident = $tag:literal),* $(,)? }) => {
        impl $crate::codec::Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.push(match self { $( Self::$variant => $tag, )* });
            }
        }
        impl $crate::codec::Decode for $name {
            fn decode_from(
                r: &mut $crate::codec::Reader<'_>,
            ) -> Result<Self, $crate::codec::DecodeError> {
                match <u8 as $crate::codec::Decode>::decode_from(r)? {
                    $( $tag => Ok(Self::$variant), )*
                    tag => Err($crate::codec::DecodeError::UnknownTag { what: stringify!($name), tag }),
                }
            }
        }
    };
}

/// Implements [`Encode`] and [`Decode`] for a single-field tuple newtype.
#[macro_export]
macro_rules! codec_newtype {
    ($($name:ident),* $(,)?) => {$(
        impl $crate::codec::Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                $crate::codec::Encode::encode_to(&self.0, out);
            }
        }
        impl $crate::codec::Decode for $name {
            fn decode_from(
                r: &mut $crate::codec::Reader<'_>,
            ) -> Result<Self, $crate::codec::DecodeError> {
                Ok(Self($crate::codec::Decode::decode_from(r)?))
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_length_is_rejected_before_allocation() {
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.push(7);
        assert!(matches!(
            Vec::<u64>::decode(&bytes),
            Err(DecodeError::LengthTooLarge { .. })
        ));
        assert!(matches!(
            Bytes::decode(&bytes),
            Err(DecodeError::LengthTooLarge { .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert_eq!(u16::decode(&[1, 0, 9]), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn non_canonical_bool_is_rejected() {
        assert!(bool::decode(&[2]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn nested_values_round_trip(v: Vec<(u64, Option<u32>)>, s: String, b: Vec<u8>) {
            let value = (v, (s, Bytes(b)));
            let bytes = value.encode();
            proptest::prop_assert_eq!(<(Vec<(u64, Option<u32>)>, (String, Bytes))>::decode(&bytes), Ok(value));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = <(Vec<(u64, Option<u32>)>, (String, Bytes))>::decode(&bytes);
        }
    }
}
