//! Apple App Attest (docs/DESIGN.md §6): a CBOR attestation object
//! (`fmt` = `apple-appattest`) whose credential certificate chains to the
//! Apple App Attestation root, and whose nonce extension
//! (1.2.840.113635.100.8.2) binds the authenticator data to the challenge:
//! `nonce = SHA-256(authData ‖ SHA-256(clientData))`. The key id is
//! SHA-256 of the attested public key, and the authenticator data carries
//! the app id hash, a zero counter, the environment and the key id again.

use ciborium::value::Value;
use ring::digest::{SHA256, digest};
use x509_parser::prelude::X509Certificate;

use crate::asn1::{Class, parse_single};
use crate::cert::{self, KeyKind};
use crate::chain::{self, ChainRules, TrustStore, VerifiedChain};
use crate::error::{AttestError, Result};

const NONCE_OID: &str = "1.2.840.113635.100.8.2";
const AAGUID_DEVELOPMENT: &[u8; 16] = b"appattestdevelop";
const AAGUID_PRODUCTION: &[u8; 16] = b"appattest\0\0\0\0\0\0\0";
/// Largest attestation object accepted (real ones are ~5.6 KB).
pub const MAX_OBJECT: usize = 64 * 1024;

/// Which App Attest environment made the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// Development builds (AAGUID `appattestdevelop`).
    Development,
    /// App Store / TestFlight builds.
    Production,
}

/// What a valid App Attest attestation established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppAttestation {
    /// The attested P-256 public key (uncompressed point).
    pub key: [u8; 65],
    /// SHA-256 of `key`.
    pub key_id: [u8; 32],
    /// SHA-256 of the app id (`TEAMID.bundle`).
    pub rp_id_hash: [u8; 32],
    /// The sign counter (0 for a fresh attestation).
    pub counter: u32,
    /// Development or production.
    pub environment: Environment,
    /// The verified certificate chain.
    pub chain: VerifiedChain,
    /// Apple's receipt, for later fraud-metric checks.
    pub receipt: Vec<u8>,
}

impl AppAttestation {
    /// Whether the attestation was made by the app `app_id`.
    #[must_use]
    pub fn is_for_app(&self, app_id: &str) -> bool {
        sha256(app_id.as_bytes()) == self.rp_id_hash
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

fn malformed(what: &str) -> AttestError {
    AttestError::MalformedAppAttest(what.to_owned())
}

struct Object {
    certs: Vec<Vec<u8>>,
    receipt: Vec<u8>,
    auth_data: Vec<u8>,
}

/// Decodes an attestation object's CBOR without checking anything else.
///
/// # Errors
/// [`AttestError::MalformedAppAttest`] naming the missing or bad part.
fn decode(object: &[u8]) -> Result<Object> {
    if object.len() > MAX_OBJECT {
        return Err(malformed("larger than any real attestation object"));
    }
    let value: Value = ciborium::de::from_reader(object)
        .map_err(|e| AttestError::MalformedAppAttest(format!("not CBOR: {e}")))?;
    let map = value.as_map().ok_or_else(|| malformed("not a CBOR map"))?;
    let field = |name: &str| {
        map.iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    };
    let fmt = field("fmt")
        .and_then(Value::as_text)
        .ok_or_else(|| malformed("no fmt"))?;
    if fmt != "apple-appattest" {
        return Err(AttestError::MalformedAppAttest(format!(
            "fmt is {fmt:?}, expected \"apple-appattest\""
        )));
    }
    let statement = field("attStmt")
        .and_then(Value::as_map)
        .ok_or_else(|| malformed("no attStmt"))?;
    let stmt = |name: &str| {
        statement
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    };
    let certs = stmt("x5c")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no x5c"))?
        .iter()
        .map(|c| {
            c.as_bytes()
                .cloned()
                .ok_or_else(|| malformed("x5c entry is not bytes"))
        })
        .collect::<Result<Vec<_>>>()?;
    let receipt = stmt("receipt")
        .and_then(Value::as_bytes)
        .cloned()
        .unwrap_or_default();
    let auth_data = field("authData")
        .and_then(Value::as_bytes)
        .cloned()
        .ok_or_else(|| malformed("no authData"))?;
    Ok(Object {
        certs,
        receipt,
        auth_data,
    })
}

struct AuthData<'a> {
    rp_id_hash: [u8; 32],
    counter: u32,
    aaguid: &'a [u8],
    credential_id: &'a [u8],
}

fn parse_auth_data(bytes: &[u8]) -> Result<AuthData<'_>> {
    let short = || malformed("authData is too short");
    let rp_id_hash: [u8; 32] = bytes
        .get(..32)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(short)?;
    let counter_bytes: [u8; 4] = bytes
        .get(33..37)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(short)?;
    let aaguid = bytes.get(37..53).ok_or_else(short)?;
    let len_bytes: [u8; 2] = bytes
        .get(53..55)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(short)?;
    let len = usize::from(u16::from_be_bytes(len_bytes));
    let credential_id = bytes.get(55..55 + len).ok_or_else(short)?;
    Ok(AuthData {
        rp_id_hash,
        counter: u32::from_be_bytes(counter_bytes),
        aaguid,
        credential_id,
    })
}

/// The nonce in the credential certificate's extension:
/// `SEQUENCE { [1] EXPLICIT OCTET STRING }`.
fn certificate_nonce<'a>(cert: &X509Certificate<'a>) -> Result<&'a [u8]> {
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == NONCE_OID)
        .ok_or_else(|| malformed("the credential certificate has no nonce extension"))?;
    let bad = |e: crate::asn1::Asn1Error| AttestError::MalformedAppAttest(format!("nonce: {e}"));
    let mut seq = parse_single(ext.value)
        .map_err(bad)?
        .sequence()
        .map_err(bad)?;
    let tagged = seq.element("empty nonce extension").map_err(bad)?;
    if tagged.class != Class::Context || tagged.number != 1 {
        return Err(malformed("nonce extension without its [1] tag"));
    }
    parse_single(tagged.value)
        .and_then(|t| t.octets())
        .map_err(bad)
}

/// Verifies an attestation object for `key_id` and `client_data` (the
/// challenge) at `now` (Unix seconds). The app id and environment are
/// policy, checked by [`crate::Policy::check_apple`].
///
/// # Errors
/// The first failure, as an [`AttestError`].
pub fn verify(
    object: &[u8],
    key_id: &[u8],
    client_data: &[u8],
    store: &TrustStore,
    now: i64,
) -> Result<AppAttestation> {
    let object = decode(object)?;
    if object.certs.len() > chain::MAX_CHAIN {
        return Err(AttestError::ChainTooLong(object.certs.len()));
    }
    let certs = object
        .certs
        .iter()
        .enumerate()
        .map(|(index, der)| cert::parse(der, index))
        .collect::<Result<Vec<_>>>()?;
    let rules = ChainRules {
        check_leaf_validity: true,
        factory_exemption: false,
    };
    let chain = chain::verify(&certs, store, now, rules)?;
    let leaf = certs.first().ok_or(AttestError::EmptyChain)?;

    // The nonce binds authData and the challenge to the certified key.
    let client_hash = sha256(client_data);
    let nonce = sha256(&[object.auth_data.as_slice(), &client_hash].concat());
    if certificate_nonce(leaf)? != nonce {
        return Err(AttestError::NonceMismatch);
    }

    let spki = leaf.public_key();
    let key: [u8; 65] = match cert::key_kind(spki) {
        KeyKind::P256 => spki
            .subject_public_key
            .data
            .as_ref()
            .try_into()
            .map_err(|_| malformed("credential key is not an uncompressed P-256 point"))?,
        other => return Err(AttestError::UnsupportedKey(other.to_string())),
    };
    let computed_id = sha256(&key);
    if key_id != computed_id {
        return Err(AttestError::KeyIdMismatch);
    }

    let auth = parse_auth_data(&object.auth_data)?;
    if auth.credential_id != computed_id {
        return Err(AttestError::KeyIdMismatch);
    }
    if auth.counter != 0 {
        return Err(AttestError::CounterNotZero(auth.counter));
    }
    let environment = if auth.aaguid == AAGUID_DEVELOPMENT {
        Environment::Development
    } else if auth.aaguid == AAGUID_PRODUCTION {
        Environment::Production
    } else {
        return Err(AttestError::Environment(format!(
            "unknown (AAGUID {})",
            verigrid_types::hash::hex(auth.aaguid)
        )));
    };
    Ok(AppAttestation {
        key,
        key_id: computed_id,
        rp_id_hash: auth.rp_id_hash,
        counter: auth.counter,
        environment,
        chain,
        receipt: object.receipt,
    })
}
