//! Every way attestation evidence can be refused, each with a message that
//! tells the device owner what was wrong and what to do.

use verigrid_types::device::SecurityLevel;

use crate::key_description::BootState;

/// Why attestation evidence was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    // --- Reading the evidence -------------------------------------------
    /// No certificates at all.
    #[error(
        "the attestation chain is empty: send the device's whole key attestation chain, leaf first"
    )]
    EmptyChain,
    /// Too many certificates to be a key attestation chain.
    #[error("the attestation chain has {0} certificates, more than any real chain (at most {max}): send only the key's own chain", max = crate::chain::MAX_CHAIN)]
    ChainTooLong(usize),
    /// PEM text that does not hold certificates.
    #[error("the chain is not valid PEM: {0}")]
    Pem(String),
    /// A certificate that does not parse as X.509.
    #[error(
        "certificate {index} of the chain is not a valid X.509 certificate ({reason}): send the chain exactly as the keystore returned it"
    )]
    MalformedCertificate {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// What the parser reported.
        reason: String,
    },

    // --- The chain ------------------------------------------------------
    /// The chain does not end at a configured trust root.
    #[error(
        "the chain does not end at a trusted root (its top is \"{subject}\"): only keys attested by genuine device hardware, or the network's configured development CA, can register"
    )]
    UntrustedRoot {
        /// Subject of the chain's top certificate.
        subject: String,
    },
    /// A certificate's issuer is not the next certificate's subject.
    #[error(
        "certificate {index} was not issued by the certificate after it: the chain is out of order or incomplete"
    )]
    NameChaining {
        /// Position of the certificate whose issuer does not match.
        index: usize,
    },
    /// A signature algorithm or key type the verifier does not accept.
    #[error("certificate {index} is signed with an unsupported algorithm ({algorithm})")]
    UnsupportedAlgorithm {
        /// Position in the chain.
        index: usize,
        /// The algorithm, as an OID or description.
        algorithm: String,
    },
    /// A signature does not verify.
    #[error(
        "the signature on certificate {index} does not verify: the chain was altered or assembled from different devices"
    )]
    BadSignature {
        /// Position in the chain.
        index: usize,
    },
    /// An issuing certificate is not a CA.
    #[error(
        "certificate {index} signs another certificate but is not a certificate authority (basicConstraints/keyUsage)"
    )]
    NotCa {
        /// Position in the chain.
        index: usize,
    },
    /// An issuing certificate's path length constraint is exceeded.
    #[error(
        "certificate {index} allows at most {allowed} intermediate certificates below it, the chain has {actual}"
    )]
    PathLength {
        /// Position in the chain.
        index: usize,
        /// The constraint.
        allowed: u32,
        /// Intermediates below it.
        actual: usize,
    },
    /// A certificate is not yet valid at the verification time.
    #[error(
        "certificate {index} is not valid before {not_before} (unix seconds): check the device clock and attest again"
    )]
    NotYetValid {
        /// Position in the chain.
        index: usize,
        /// Start of validity, Unix seconds.
        not_before: i64,
    },
    /// A certificate has expired at the verification time.
    #[error(
        "certificate {index} expired at {not_after} (unix seconds): attest again to get a fresh chain"
    )]
    Expired {
        /// Position in the chain.
        index: usize,
        /// End of validity, Unix seconds.
        not_after: i64,
    },
    /// A certificate sits below the attested key's certificate.
    #[error(
        "certificate {index} carries the attestation extension but is not the leaf: a certificate was added below the attested key, which is refused"
    )]
    CertificateBelowLeaf {
        /// Position of the certificate that carries the extension.
        index: usize,
    },
    /// A certificate in the chain is on the revocation list.
    #[error(
        "certificate with serial {serial} is {status} ({reason}) on the attestation status list: this device's attestation keys can no longer be trusted"
    )]
    Revoked {
        /// Serial, lowercase hex.
        serial: String,
        /// REVOKED or SUSPENDED.
        status: String,
        /// The reason given by the list.
        reason: String,
    },

    // --- Android KeyDescription ----------------------------------------
    /// The leaf has no KeyDescription extension.
    #[error(
        "the leaf certificate has no key attestation extension: generate the key with an attestation challenge (setAttestationChallenge)"
    )]
    MissingKeyDescription,
    /// The KeyDescription cannot be parsed.
    #[error("the key attestation extension is malformed: {0}")]
    MalformedKeyDescription(String),
    /// The attested key is not one the network can use.
    #[error(
        "the attested key is {0}: verigrid devices sign with an EC P-256 (or, in development, Ed25519) key"
    )]
    UnsupportedKey(String),

    // --- Policy ----------------------------------------------------------
    /// The attestation was made for another challenge.
    #[error(
        "the attestation was made for a different challenge: fetch a fresh challenge from the node and attest again"
    )]
    ChallengeMismatch,
    /// The key lives somewhere weaker than required.
    #[error(
        "the key's security level is {actual:?}, the network requires at least {required:?}: this device's keystore is not hardware-backed enough"
    )]
    SecurityLevel {
        /// What the attestation shows.
        actual: SecurityLevel,
        /// What the policy requires.
        required: SecurityLevel,
    },
    /// The chain ends at a software attestation root.
    #[error("the chain ends at Google's software attestation root: the key is not hardware-backed")]
    SoftwareRoot,
    /// Verified boot is not in the Verified state.
    #[error(
        "verified boot state is {0:?}: only devices running their manufacturer's signed software can join"
    )]
    BootNotVerified(BootState),
    /// The KeyDescription has no root of trust.
    #[error("the attestation has no root of trust, so the boot state is unknown")]
    MissingRootOfTrust,
    /// The bootloader is unlocked.
    #[error("the device's bootloader is unlocked: lock it to join")]
    Unlocked,
    /// The OS patch level is unknown.
    #[error("the attestation does not state an OS patch level")]
    MissingPatchLevel,
    /// The OS patch level is too old.
    #[error(
        "the OS patch level {patch_level} is older than {max_age_months} months: install the latest security update and attest again"
    )]
    PatchTooOld {
        /// The device's patch level (`YYYYMM`).
        patch_level: u64,
        /// The policy's limit.
        max_age_months: u32,
    },
    /// The attesting app is not allowlisted.
    #[error(
        "the attesting app ({0}) is not the verigrid agent: install the agent from the official store"
    )]
    AppNotAllowed(String),
    /// The attesting app's signing certificate is not allowlisted.
    #[error(
        "the attesting app is not signed with an allowed certificate: install the agent from the official store"
    )]
    AppSignatureNotAllowed,

    // --- Apple App Attest -------------------------------------------------
    /// The attestation object is not the expected CBOR.
    #[error("the App Attest attestation object is malformed: {0}")]
    MalformedAppAttest(String),
    /// The authenticator data's app id hash does not match.
    #[error(
        "the attestation is for another app (rpIdHash differs from SHA-256 of the app id): attest from the verigrid agent"
    )]
    AppIdMismatch,
    /// The nonce in the credential certificate does not match.
    #[error(
        "the App Attest nonce does not match SHA-256(authData ‖ SHA-256(challenge)): attest again with the challenge from the node"
    )]
    NonceMismatch,
    /// The key id is not SHA-256 of the attested key.
    #[error(
        "the key id does not match the attested public key: send the key id that DCAppAttestService returned"
    )]
    KeyIdMismatch,
    /// The sign counter of a fresh attestation is not zero.
    #[error(
        "the App Attest counter is {0}, a fresh attestation has 0: generate a new key and attest it"
    )]
    CounterNotZero(u32),
    /// The environment (development/production) is not allowed.
    #[error(
        "the App Attest environment is {0}, which this network does not accept: use a production build of the agent"
    )]
    Environment(String),
}

/// Verification result.
pub type Result<T> = std::result::Result<T, AttestError>;
