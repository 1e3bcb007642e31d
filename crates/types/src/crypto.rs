//! Keys and signatures. Accounts sign with ed25519; devices sign with the
//! key their hardware attested: P-256 ECDSA on Android Keystore and Apple's
//! Secure Enclave, ed25519 for development devices.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::hash::{Domain, Hash};
use crate::ids::{AccountId, DeviceId};
use ed25519_dalek::Signer as _;

/// A device's public key, as attested by its platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceKey {
    /// An ed25519 key (development devices, desktop agents).
    Ed25519([u8; 32]),
    /// A P-256 key as an uncompressed SEC1 point (`04 ‖ x ‖ y`).
    P256([u8; 65]),
}

impl DeviceKey {
    /// The device id this key names: the hash of the key.
    #[must_use]
    pub fn device_id(&self) -> DeviceId {
        DeviceId(Hash::of_value(Domain::DeviceId, self))
    }

    /// Builds a key from a DER `SubjectPublicKeyInfo`'s algorithm and raw key
    /// bits, as an attestation certificate carries them.
    ///
    /// # Errors
    /// [`DecodeError::Invalid`] for an algorithm or size verigrid does not use.
    pub fn from_raw(algorithm: KeyAlgorithm, raw: &[u8]) -> Result<Self, DecodeError> {
        let bad = DecodeError::Invalid {
            what: "device key",
            why: "wrong length for algorithm",
        };
        match algorithm {
            KeyAlgorithm::Ed25519 => Ok(Self::Ed25519(raw.try_into().map_err(|_| bad)?)),
            KeyAlgorithm::P256 => {
                let point: [u8; 65] = raw.try_into().map_err(|_| bad.clone())?;
                if point[0] != 4 {
                    return Err(bad);
                }
                Ok(Self::P256(point))
            }
        }
    }

    /// An ed25519 key decompressed for repeated checks (`None` for other
    /// algorithms and for bytes that are not a curve point).
    #[must_use]
    pub fn prepare(&self) -> Option<PreparedKey> {
        match self {
            Self::Ed25519(pk) => PreparedKey::new(pk),
            Self::P256(_) => None,
        }
    }

    /// Checks `signature` over `message` with this key.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        match (self, signature) {
            (Self::Ed25519(pk), Signature::Ed25519(sig)) => verify_ed25519(pk, message, sig),
            (Self::P256(pk), Signature::P256(sig)) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                pk,
            )
            .verify(message, sig)
            .is_ok(),
            _ => false,
        }
    }
}

/// Key algorithms a device may attest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519.
    Ed25519,
    /// ECDSA over NIST P-256.
    P256,
}

impl Encode for DeviceKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ed25519(k) => {
                out.push(0);
                k.encode_to(out);
            }
            Self::P256(k) => {
                out.push(1);
                k.encode_to(out);
            }
        }
    }
}

impl Decode for DeviceKey {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(Self::Ed25519(r.array("ed25519 key")?)),
            1 => {
                let point: [u8; 65] = r.array("p256 key")?;
                if point[0] != 4 {
                    return Err(DecodeError::Invalid {
                        what: "p256 key",
                        why: "not an uncompressed point",
                    });
                }
                Ok(Self::P256(point))
            }
            tag => Err(DecodeError::UnknownTag {
                what: "device key",
                tag,
            }),
        }
    }
}

/// A signature by an account or a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// Ed25519 (64 bytes).
    Ed25519([u8; 64]),
    /// P-256 ECDSA with SHA-256, fixed-width `r ‖ s` (64 bytes).
    P256([u8; 64]),
}

impl Encode for Signature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        let (tag, bytes) = match self {
            Self::Ed25519(s) => (0, s),
            Self::P256(s) => (1, s),
        };
        out.push(tag);
        out.extend_from_slice(bytes);
    }
}

impl Decode for Signature {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(r)? {
            0 => Ok(Self::Ed25519(r.array("signature")?)),
            1 => Ok(Self::P256(r.array("signature")?)),
            tag => Err(DecodeError::UnknownTag {
                what: "signature",
                tag,
            }),
        }
    }
}

/// Checks one ed25519 signature (strict: no malleable encodings).
#[must_use]
pub fn verify_ed25519(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// Checks many ed25519 signatures at once; `true` only if all are valid.
/// About three times faster per signature than checking them one by one; on
/// `false` the caller checks singly to find the bad ones.
#[must_use]
pub fn verify_ed25519_batch(items: &[(&[u8; 32], &[u8], &[u8; 64])]) -> bool {
    let Some(keys) = items
        .iter()
        .map(|(pk, _, _)| PreparedKey::new(pk))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let prepared: Vec<(&PreparedKey, &[u8], &[u8; 64])> = keys
        .iter()
        .zip(items)
        .map(|(key, (_, msg, sig))| (key, *msg, *sig))
        .collect();
    verify_ed25519_batch_prepared(&prepared)
}

/// An ed25519 public key decompressed once, for checking many signatures
/// under it: decompressing the key is about a fifth of a batched check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreparedKey(ed25519_dalek::VerifyingKey);

impl PreparedKey {
    /// The key, or `None` if the bytes are not a curve point.
    #[must_use]
    pub fn new(public: &[u8; 32]) -> Option<Self> {
        ed25519_dalek::VerifyingKey::from_bytes(public)
            .ok()
            .map(Self)
    }
}

/// [`verify_ed25519_batch`] under keys already decompressed.
#[must_use]
pub fn verify_ed25519_batch_prepared(items: &[(&PreparedKey, &[u8], &[u8; 64])]) -> bool {
    let keys: Vec<ed25519_dalek::VerifyingKey> = items.iter().map(|(k, _, _)| k.0).collect();
    let messages: Vec<&[u8]> = items.iter().map(|(_, m, _)| *m).collect();
    let signatures: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(s))
        .collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// An ed25519 signing key, for accounts and development devices. The secret
/// never appears in `Debug` output.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// The key with this 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// A key derived from a label: for tests, examples and dev genesis only.
    #[must_use]
    pub fn from_label(label: &str) -> Self {
        Self::from_seed(*blake3::hash(label.as_bytes()).as_bytes())
    }

    /// The 32-byte seed, for writing to a keystore file.
    #[must_use]
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key bytes.
    #[must_use]
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The account this key signs for.
    #[must_use]
    pub fn account(&self) -> AccountId {
        AccountId(self.public())
    }

    /// This key as a device key.
    #[must_use]
    pub fn device_key(&self) -> DeviceKey {
        DeviceKey::Ed25519(self.public())
    }

    /// Signs `message`.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature::Ed25519(self.0.sign(message).to_bytes())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({:?})", self.account())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_signatures_verify_and_tampering_fails() {
        let key = SecretKey::from_label("alice");
        let sig = key.sign(b"hello");
        assert!(key.device_key().verify(b"hello", &sig));
        assert!(!key.device_key().verify(b"hellp", &sig));
        let Signature::Ed25519(raw) = sig else {
            unreachable!()
        };
        let pk = key.public();
        assert!(verify_ed25519_batch(&[
            (&pk, b"hello", &raw),
            (&pk, b"hello", &raw)
        ]));
        assert!(!verify_ed25519_batch(&[
            (&pk, b"hello", &raw),
            (&pk, b"bye", &raw)
        ]));
        let Some(prepared) = PreparedKey::new(&pk) else {
            unreachable!("a real key decompresses")
        };
        assert!(verify_ed25519_batch_prepared(&[
            (&prepared, b"hello", &raw),
            (&prepared, b"hello", &raw)
        ]));
        assert!(!verify_ed25519_batch_prepared(&[
            (&prepared, b"hello", &raw),
            (&prepared, b"bye", &raw)
        ]));
    }

    #[test]
    fn p256_signatures_verify() -> Result<(), Box<dyn std::error::Error>> {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "keygen failed")?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|e| e.to_string())?;
        let key = DeviceKey::from_raw(KeyAlgorithm::P256, pair.public_key().as_ref())?;
        let sig: [u8; 64] = pair
            .sign(&rng, b"m")
            .map_err(|_| "signing failed")?
            .as_ref()
            .try_into()?;
        assert!(key.verify(b"m", &Signature::P256(sig)));
        assert!(!key.verify(b"n", &Signature::P256(sig)));
        assert!(!key.verify(b"m", &Signature::Ed25519(sig)));
        Ok(())
    }
}
