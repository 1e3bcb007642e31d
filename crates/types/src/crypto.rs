//! Keys and signatures. Accounts sign with ed25519; devices sign with the
//! key their hardware attested: P-256 ECDSA on Android Keystore and Apple's
//! Secure Enclave, ed25519 for development devices.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::hash::{Domain, Hash};
use crate::ids::{AccountId, DeviceId};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha512};

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
    /// algorithms, for bytes that are not a curve point and for points of
    /// small order, which verify nothing).
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

/// Checks one ed25519 signature, under the rules of ZIP 215 — the rules
/// for which checking signatures one by one and in batches is guaranteed
/// to agree (a block must be valid or invalid however a validator checks
/// it):
/// - the key and `R` must be curve points; non-canonical encodings are
///   accepted, and both enter the challenge hash as the bytes given;
/// - `s` must be canonical (below the group order);
/// - the cofactored equation `[8]([s]B − [k]A − R) = 0` must hold, with
///   `k = SHA-512(R ‖ A ‖ message)`.
///
/// One rule is stricter than ZIP 215: a key of small order verifies
/// nothing (any message "verifies" under the identity key with `R = 0`,
/// `s = 0`). Every signature RFC 8032 signers make is valid under these
/// rules.
#[must_use]
pub fn verify_ed25519(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    PreparedKey::new(public).is_some_and(|key| key.verify(message, signature))
}

/// Checks many ed25519 signatures at once; `true` exactly when each one
/// passes [`verify_ed25519`] (barring a 2⁻¹²⁸ chance). About three times
/// faster per signature than checking them one by one; on `false` the
/// caller checks singly to find the bad ones.
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
pub struct PreparedKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

/// A signature's parts: `R` as a point, `s`, and the challenge `k`.
struct Parts {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl PreparedKey {
    /// The key, or `None` if the bytes are not a curve point or name a
    /// point of small order (see [`verify_ed25519`]).
    #[must_use]
    pub fn new(public: &[u8; 32]) -> Option<Self> {
        let point = CompressedEdwardsY(*public).decompress()?;
        (!point.is_small_order()).then_some(Self {
            bytes: *public,
            point,
        })
    }

    /// Checks one signature under this key ([`verify_ed25519`]).
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Some(p) = self.parts(message, signature) else {
            return false;
        };
        let sb_minus_ka =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &-self.point, &p.s);
        (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
    }

    fn parts(&self, message: &[u8], signature: &[u8; 64]) -> Option<Parts> {
        let mut r_bytes = [0u8; 32];
        let mut s_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature[..32]);
        s_bytes.copy_from_slice(&signature[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        let digest: [u8; 64] = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(self.bytes)
            .chain_update(message)
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&digest);
        Some(Parts { r, s, k })
    }
}

/// [`verify_ed25519_batch`] under keys already decompressed.
///
/// Checks `[8](Σ zᵢ([sᵢ]B − [kᵢ]Aᵢ − Rᵢ)) = 0` with 128-bit coefficients
/// `zᵢ` drawn from a hash of the whole batch, so no signer can pick its
/// signature knowing them; cofactored like the single check, so the two
/// agree on every input.
#[must_use]
pub fn verify_ed25519_batch_prepared(items: &[(&PreparedKey, &[u8], &[u8; 64])]) -> bool {
    let mut transcript = blake3::Hasher::new_derive_key("verigrid ed25519 batch coefficients");
    for (key, message, signature) in items {
        transcript.update(&key.bytes);
        transcript.update(&(message.len() as u64).to_le_bytes());
        transcript.update(message);
        transcript.update(*signature);
    }
    let mut coefficients = transcript.finalize_xof();
    let mut scalars = Vec::with_capacity(2 * items.len() + 1);
    let mut points = Vec::with_capacity(2 * items.len() + 1);
    let mut base = Scalar::ZERO;
    for (key, message, signature) in items {
        let Some(p) = key.parts(message, signature) else {
            return false;
        };
        let mut z = [0u8; 16];
        coefficients.fill(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        base += z * p.s;
        scalars.push(-z);
        points.push(p.r);
        scalars.push(-(z * p.k));
        points.push(key.point);
    }
    scalars.push(base);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
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

    /// Ed25519 edge cases: keys and nonces with a small-order component,
    /// keys of small order, non-canonical encodings and scalars. Each is
    /// `(key, message, signature, valid)` under the rules of
    /// [`verify_ed25519`].
    mod edge {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::Identity;
        use sha2::{Digest, Sha512};

        pub type Case = ([u8; 32], Vec<u8>, [u8; 64], bool);

        /// The point (0, −1), of order 2.
        fn order_two() -> EdwardsPoint {
            let mut minus_one = [0xff; 32];
            minus_one[0] = 0xec;
            minus_one[31] = 0x7f;
            CompressedEdwardsY(minus_one)
                .decompress()
                .unwrap_or_else(EdwardsPoint::identity)
        }

        fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
            let digest: [u8; 64] = Sha512::new()
                .chain_update(r)
                .chain_update(a)
                .chain_update(message)
                .finalize()
                .into();
            Scalar::from_bytes_mod_order_wide(&digest)
        }

        /// A signature `(R, r + k·a)` made with the encodings given.
        fn sign(a: Scalar, key: [u8; 32], r: Scalar, nonce: [u8; 32], message: &[u8]) -> [u8; 64] {
            let s = r + challenge(&nonce, &key, message) * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&nonce);
            sig[32..].copy_from_slice(s.as_bytes());
            sig
        }

        pub fn cases() -> Vec<Case> {
            let a = Scalar::from(0x5eed_u64);
            let t = order_two();
            let clean = (B * a).compress().0;
            let mixed = (B * a + t).compress().0;
            let mut out = Vec::new();
            for n in 0u64..32 {
                let message = n.to_le_bytes().to_vec();
                let r = Scalar::from(1_000 + n);
                let nonce = (B * r).compress().0;
                // An honest signature.
                out.push((
                    clean,
                    message.clone(),
                    sign(a, clean, r, nonce, &message),
                    true,
                ));
                // A key with a small-order component: the cofactorless
                // equation holds only when the challenge is even.
                out.push((
                    mixed,
                    message.clone(),
                    sign(a, mixed, r, nonce, &message),
                    true,
                ));
                // A nonce with a small-order component.
                let dirty = (B * r + t).compress().0;
                out.push((
                    clean,
                    message.clone(),
                    sign(a, clean, r, dirty, &message),
                    true,
                ));
                // s + ℓ: the same equation, a non-canonical scalar.
                let mut sig = sign(a, clean, r, nonce, &message);
                let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap_or([0; 32]));
                if let Some(s) = Option::<Scalar>::from(s) {
                    let unreduced = add_order(s.to_bytes());
                    sig[32..].copy_from_slice(&unreduced);
                    out.push((clean, message.clone(), sig, false));
                }
                // The identity as key: every message "verifies" under it
                // with R = identity, s = 0.
                let identity = EdwardsPoint::identity().compress().0;
                let mut forged = [0u8; 64];
                forged[..32].copy_from_slice(&identity);
                out.push((identity, message.clone(), forged, false));
                // The identity as nonce, encoded non-canonically (y = p + 1).
                let mut high_one = [0xff; 32];
                high_one[0] = 0xee;
                high_one[31] = 0x7f;
                out.push((
                    clean,
                    message.clone(),
                    sign(a, clean, Scalar::ZERO, high_one, &message),
                    true,
                ));
            }
            out
        }

        /// `s + ℓ` as 32 little-endian bytes (fits: s < ℓ < 2^253).
        fn add_order(s: [u8; 32]) -> [u8; 32] {
            const L: [u8; 32] = [
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
                0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
            ];
            let mut out = [0u8; 32];
            let mut carry = 0u16;
            for i in 0..32 {
                let sum = u16::from(s[i]) + u16::from(L[i]) + carry;
                out[i] = (sum & 0xff) as u8;
                carry = sum >> 8;
            }
            out
        }
    }

    /// Whether a signature is valid must not depend on how it is checked:
    /// alone, in a batch of its own, or in a batch with valid ones. A
    /// validator that batches and one that does not (or the same one
    /// replaying a block) would otherwise disagree on a block.
    #[test]
    fn ed25519_single_and_batch_checks_agree_on_every_edge_case() {
        let good = SecretKey::from_label("good");
        let Signature::Ed25519(good_sig) = good.sign(b"fine") else {
            unreachable!()
        };
        let good_pk = good.public();
        for (i, (pk, message, sig, valid)) in edge::cases().iter().enumerate() {
            let single = verify_ed25519(pk, message, sig);
            assert_eq!(single, *valid, "case {i}: single check");
            assert_eq!(
                verify_ed25519_batch(&[(pk, message, sig)]),
                single,
                "case {i}: a batch of one disagrees with the single check"
            );
            assert_eq!(
                verify_ed25519_batch(&[
                    (&good_pk, b"fine", &good_sig),
                    (pk, message, sig),
                    (&good_pk, b"fine", &good_sig),
                ]),
                single,
                "case {i}: a batch with valid signatures disagrees with the single check"
            );
        }
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
