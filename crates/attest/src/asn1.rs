//! A small, lenient reader of ASN.1 BER/DER values, for the structures that
//! X.509 libraries treat as opaque extension bytes (Android's KeyDescription,
//! Apple's nonce extension).
//!
//! Why not a strict DER library: real Android devices emit BOOLEANs encoded
//! `01` instead of DER's `FF`, authorization lists with tags out of order and
//! tags no schema version knows. Google's own verifier accepts these, so we
//! must too. The reader still refuses anything ambiguous: indefinite lengths,
//! lengths past the end of the input, tags wider than 28 bits.

use std::fmt;

/// Why bytes are not the ASN.1 the schema expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asn1Error(pub &'static str);

impl fmt::Display for Asn1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The class bits of an identifier octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Built-in types: INTEGER, SEQUENCE, …
    Universal,
    /// `[APPLICATION n]`.
    Application,
    /// `[n]`: the tags of an authorization list.
    Context,
    /// `[PRIVATE n]`.
    Private,
}

/// Universal tag numbers used here.
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u32 = 1;
    /// INTEGER.
    pub const INTEGER: u32 = 2;
    /// OCTET STRING.
    pub const OCTET_STRING: u32 = 4;
    /// NULL.
    pub const NULL: u32 = 5;
    /// ENUMERATED.
    pub const ENUMERATED: u32 = 10;
    /// SEQUENCE.
    pub const SEQUENCE: u32 = 16;
    /// SET.
    pub const SET: u32 = 17;
}

/// One tag-length-value element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag's class.
    pub class: Class,
    /// Whether the value holds further elements.
    pub constructed: bool,
    /// The tag number.
    pub number: u32,
    /// The value bytes.
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Whether this is the universal tag `number`.
    #[must_use]
    pub fn is_universal(&self, number: u32) -> bool {
        self.class == Class::Universal && self.number == number
    }

    fn expect_universal(&self, number: u32, what: &'static str) -> Result<(), Asn1Error> {
        if self.is_universal(number) {
            Ok(())
        } else {
            Err(Asn1Error(what))
        }
    }

    /// The elements inside a constructed value.
    #[must_use]
    pub fn children(&self) -> Reader<'a> {
        Reader::new(self.value)
    }

    /// A SEQUENCE's elements.
    ///
    /// # Errors
    /// If this is not a SEQUENCE.
    pub fn sequence(&self) -> Result<Reader<'a>, Asn1Error> {
        self.expect_universal(tag::SEQUENCE, "expected a SEQUENCE")?;
        Ok(self.children())
    }

    /// A SET's elements.
    ///
    /// # Errors
    /// If this is not a SET.
    pub fn set(&self) -> Result<Reader<'a>, Asn1Error> {
        self.expect_universal(tag::SET, "expected a SET")?;
        Ok(self.children())
    }

    /// An OCTET STRING's bytes.
    ///
    /// # Errors
    /// If this is not an OCTET STRING.
    pub fn octets(&self) -> Result<&'a [u8], Asn1Error> {
        self.expect_universal(tag::OCTET_STRING, "expected an OCTET STRING")?;
        Ok(self.value)
    }

    /// A BOOLEAN, read leniently: any non-zero octet is true (BER), since
    /// devices encode `TRUE` as `01` as well as DER's `FF`.
    ///
    /// # Errors
    /// If this is not a one-octet BOOLEAN.
    pub fn boolean(&self) -> Result<bool, Asn1Error> {
        self.expect_universal(tag::BOOLEAN, "expected a BOOLEAN")?;
        match self.value {
            [b] => Ok(*b != 0),
            _ => Err(Asn1Error("a BOOLEAN must be one octet")),
        }
    }

    /// A non-negative INTEGER that fits in 64 bits.
    ///
    /// # Errors
    /// If this is not an INTEGER, is negative or too large.
    pub fn unsigned(&self) -> Result<u64, Asn1Error> {
        self.expect_universal(tag::INTEGER, "expected an INTEGER")?;
        unsigned_value(self.value)
    }

    /// A non-negative ENUMERATED value.
    ///
    /// # Errors
    /// If this is not an ENUMERATED, is negative or too large.
    pub fn enumerated(&self) -> Result<u64, Asn1Error> {
        self.expect_universal(tag::ENUMERATED, "expected an ENUMERATED")?;
        unsigned_value(self.value)
    }
}

fn unsigned_value(bytes: &[u8]) -> Result<u64, Asn1Error> {
    let Some(first) = bytes.first() else {
        return Err(Asn1Error("an INTEGER needs at least one octet"));
    };
    if first & 0x80 != 0 {
        return Err(Asn1Error(
            "a negative INTEGER where a count or code was expected",
        ));
    }
    let digits = if *first == 0 { &bytes[1..] } else { bytes };
    if digits.len() > 8 {
        return Err(Asn1Error("an INTEGER wider than 64 bits"));
    }
    Ok(digits
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Reads consecutive elements from a byte slice.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Whether every element has been read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, or `None` at the end.
    ///
    /// # Errors
    /// If the bytes are not a well-formed element.
    pub fn next_tlv(&mut self) -> Result<Option<Tlv<'a>>, Asn1Error> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tlv, rest) = parse_tlv(self.rest)?;
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// The next element, which must exist.
    ///
    /// # Errors
    /// If there is none or it is malformed.
    pub fn element(&mut self, what: &'static str) -> Result<Tlv<'a>, Asn1Error> {
        self.next_tlv()?.ok_or(Asn1Error(what))
    }

    /// Fails if anything is left.
    ///
    /// # Errors
    /// If bytes remain.
    pub fn finish(&self) -> Result<(), Asn1Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Asn1Error("unexpected bytes after the last element"))
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Tlv<'a>, Asn1Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_tlv() {
            Ok(Some(tlv)) => Some(Ok(tlv)),
            Ok(None) => None,
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Parses exactly one element that fills `bytes`.
///
/// # Errors
/// If `bytes` is not one well-formed element.
pub fn parse_single(bytes: &[u8]) -> Result<Tlv<'_>, Asn1Error> {
    let (tlv, rest) = parse_tlv(bytes)?;
    if rest.is_empty() {
        Ok(tlv)
    } else {
        Err(Asn1Error("unexpected bytes after the element"))
    }
}

fn parse_tlv(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), Asn1Error> {
    let (&id, mut rest) = bytes
        .split_first()
        .ok_or(Asn1Error("truncated: missing tag"))?;
    let class = match id >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = id & 0x20 != 0;
    let mut number = u32::from(id & 0x1f);
    if number == 0x1f {
        // High tag number: base-128 digits, high bit set on all but the last.
        number = 0;
        loop {
            let (&b, next) = rest
                .split_first()
                .ok_or(Asn1Error("truncated: incomplete tag number"))?;
            rest = next;
            if number > (u32::MAX >> 7) >> 4 {
                return Err(Asn1Error("tag number too large"));
            }
            number = (number << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&first, next) = rest
        .split_first()
        .ok_or(Asn1Error("truncated: missing length"))?;
    rest = next;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 {
            return Err(Asn1Error("indefinite lengths are not accepted"));
        }
        if count > 4 {
            return Err(Asn1Error("length too large"));
        }
        let digits = rest
            .get(..count)
            .ok_or(Asn1Error("truncated: incomplete length"))?;
        rest = &rest[count..];
        digits
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < length {
        return Err(Asn1Error("truncated: value shorter than its length"));
    }
    let (value, rest) = rest.split_at(length);
    Ok((
        Tlv {
            class,
            constructed,
            number,
            value,
        },
        rest,
    ))
}

/// Minimal DER writing, for the development CA and for tests that build
/// KeyDescriptions.
// Every `as u8` below narrows a value already checked or masked to fit.
#[allow(clippy::cast_possible_truncation)]
pub mod der {
    /// Appends a DER length.
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let digits = &bytes[skip..];
            out.push(0x80 | digits.len() as u8);
            out.extend_from_slice(digits);
        }
    }

    /// An element with identifier octet `id` (low tag numbers only).
    #[must_use]
    pub fn tlv(id: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        push_len(&mut out, value.len());
        out.extend_from_slice(value);
        out
    }

    /// A SEQUENCE of already-encoded elements.
    #[must_use]
    pub fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    /// A SET of already-encoded elements (sorted, as DER requires).
    #[must_use]
    pub fn set(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut sorted = parts.to_vec();
        sorted.sort();
        tlv(0x31, &sorted.concat())
    }

    /// A non-negative INTEGER.
    #[must_use]
    pub fn unsigned(value: u64) -> Vec<u8> {
        tlv(0x02, &unsigned_digits(value))
    }

    /// A non-negative ENUMERATED.
    #[must_use]
    pub fn enumerated(value: u64) -> Vec<u8> {
        tlv(0x0a, &unsigned_digits(value))
    }

    fn unsigned_digits(value: u64) -> Vec<u8> {
        let bytes = value.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
        let mut digits = bytes[skip..].to_vec();
        if digits[0] & 0x80 != 0 {
            digits.insert(0, 0);
        }
        digits
    }

    /// An OCTET STRING.
    #[must_use]
    pub fn octets(value: &[u8]) -> Vec<u8> {
        tlv(0x04, value)
    }

    /// A DER BOOLEAN.
    #[must_use]
    pub fn boolean(value: bool) -> Vec<u8> {
        tlv(0x01, &[if value { 0xff } else { 0 }])
    }

    /// NULL.
    #[must_use]
    pub fn null() -> Vec<u8> {
        vec![0x05, 0x00]
    }

    /// `[number] EXPLICIT` around an encoded element, with high tag numbers
    /// as authorization lists use them.
    #[must_use]
    pub fn explicit(number: u32, inner: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if number < 0x1f {
            out.push(0xa0 | number as u8);
        } else {
            out.push(0xbf);
            let mut digits = Vec::new();
            let mut n = number;
            loop {
                digits.push((n & 0x7f) as u8);
                n >>= 7;
                if n == 0 {
                    break;
                }
            }
            digits.reverse();
            let last = digits.len() - 1;
            for (i, d) in digits.iter().enumerate() {
                out.push(if i == last { *d } else { d | 0x80 });
            }
        }
        push_len(&mut out, inner.len());
        out.extend_from_slice(inner);
        out
    }
}
