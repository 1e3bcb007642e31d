//! Android's KeyDescription: the extension (OID 1.3.6.1.4.1.11129.2.1.17)
//! that the secure hardware writes into the leaf of a key attestation chain,
//! saying where the key lives, what challenge it was made for, and the state
//! of the device that made it (docs/DESIGN.md §6).
//!
//! One parser reads every schema version in use (1–4, 100, 200, 300, 400,
//! 500): later versions only add authorization-list tags, and a tag this
//! parser does not know is skipped and recorded, never an error.
//!
//! ```text
//! KeyDescription ::= SEQUENCE {
//!     attestationVersion INTEGER, attestationSecurityLevel SecurityLevel,
//!     keyMintVersion INTEGER, keyMintSecurityLevel SecurityLevel,
//!     attestationChallenge OCTET STRING, uniqueId OCTET STRING,
//!     softwareEnforced AuthorizationList, hardwareEnforced AuthorizationList }
//! ```

use crate::asn1::{Asn1Error, Class, Tlv, parse_single, tag};
use verigrid_types::device::SecurityLevel;

/// The KeyDescription extension's OID.
pub const OID: &str = "1.3.6.1.4.1.11129.2.1.17";

/// The parsed KeyDescription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDescription {
    /// Schema version (1–4, 100, 200, 300, 400, 500, …).
    pub attestation_version: u64,
    /// Where the attestation was produced.
    pub attestation_security_level: SecurityLevel,
    /// Keymaster/KeyMint version.
    pub keymint_version: u64,
    /// Where the key lives.
    pub keymint_security_level: SecurityLevel,
    /// The challenge the app asked the keystore to attest.
    pub challenge: Vec<u8>,
    /// The unique id (empty unless requested by a system app).
    pub unique_id: Vec<u8>,
    /// Properties enforced by Android, not the secure hardware.
    pub software_enforced: AuthorizationList,
    /// Properties enforced by the secure hardware.
    pub hardware_enforced: AuthorizationList,
}

/// The verified-boot state of the device at attestation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootState {
    /// A locked bootloader booted an image signed by the OEM's key.
    Verified,
    /// Booted an image signed by a user-installed key.
    SelfSigned,
    /// Unlocked bootloader: anything may have been booted.
    Unverified,
    /// Verification failed.
    Failed,
}

/// The device's root of trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootOfTrust {
    /// Hash of the key that verified the boot image.
    pub verified_boot_key: Vec<u8>,
    /// Whether the bootloader is locked.
    pub device_locked: bool,
    /// The verified-boot state.
    pub verified_boot_state: BootState,
    /// Digest of the verified boot images (version 3 and later).
    pub verified_boot_hash: Option<Vec<u8>>,
}

/// One package of the attesting app (several for a shared UID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageInfo {
    /// The package name.
    pub name: String,
    /// The package version code.
    pub version: u64,
}

/// Which app asked for the attestation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplicationId {
    /// The app's packages.
    pub packages: Vec<PackageInfo>,
    /// SHA-256 digests of the app's signing certificates.
    pub signature_digests: Vec<Vec<u8>>,
}

/// An authorization list: the key's properties, each under its own tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizationList {
    /// Permitted purposes (tag 1).
    pub purposes: Vec<u64>,
    /// Key algorithm (tag 2): 1 RSA, 3 EC.
    pub algorithm: Option<u64>,
    /// Key size in bits (tag 3).
    pub key_size: Option<u64>,
    /// Permitted digests (tag 5).
    pub digests: Vec<u64>,
    /// Permitted paddings (tag 6).
    pub paddings: Vec<u64>,
    /// EC curve (tag 10).
    pub ec_curve: Option<u64>,
    /// Usable without user authentication (tag 503).
    pub no_auth_required: bool,
    /// Creation time, milliseconds since the Unix epoch (tag 701).
    pub creation_date_time: Option<u64>,
    /// Key origin (tag 702): 0 generated.
    pub origin: Option<u64>,
    /// Root of trust (tag 704).
    pub root_of_trust: Option<RootOfTrust>,
    /// OS version, e.g. 140000 (tag 705).
    pub os_version: Option<u64>,
    /// OS patch level as `YYYYMM` (tag 706).
    pub os_patch_level: Option<u64>,
    /// The attesting app (tag 709).
    pub application_id: Option<ApplicationId>,
    /// Vendor patch level as `YYYYMMDD` (tag 718).
    pub vendor_patch_level: Option<u64>,
    /// Boot patch level as `YYYYMMDD` (tag 719).
    pub boot_patch_level: Option<u64>,
    /// Hash of the APEX modules (tag 724, version 400).
    pub module_hash: Option<Vec<u8>>,
    /// Tags present that this parser does not interpret.
    pub unknown_tags: Vec<u32>,
    /// Whether the tags appeared in ascending order, as DER requires.
    pub tags_ordered: bool,
}

impl KeyDescription {
    /// Parses the extension's value.
    ///
    /// # Errors
    /// [`Asn1Error`] saying which part is malformed.
    pub fn parse(bytes: &[u8]) -> Result<Self, Asn1Error> {
        let mut seq = parse_single(bytes)?.sequence()?;
        let attestation_version = seq.element("missing attestationVersion")?.unsigned()?;
        let attestation_security_level =
            security_level(&seq.element("missing attestationSecurityLevel")?)?;
        let keymint_version = seq.element("missing keyMintVersion")?.unsigned()?;
        let keymint_security_level = security_level(&seq.element("missing keyMintSecurityLevel")?)?;
        let challenge = seq
            .element("missing attestationChallenge")?
            .octets()?
            .to_vec();
        let unique_id = seq.element("missing uniqueId")?.octets()?.to_vec();
        let software_enforced =
            AuthorizationList::parse(&seq.element("missing softwareEnforced")?)?;
        let hardware_enforced =
            AuthorizationList::parse(&seq.element("missing hardwareEnforced")?)?;
        // Later schema versions may append fields: tolerated, like unknown tags.
        Ok(Self {
            attestation_version,
            attestation_security_level,
            keymint_version,
            keymint_security_level,
            challenge,
            unique_id,
            software_enforced,
            hardware_enforced,
        })
    }

    /// The root of trust, preferring the hardware-enforced list.
    #[must_use]
    pub fn root_of_trust(&self) -> Option<&RootOfTrust> {
        self.hardware_enforced
            .root_of_trust
            .as_ref()
            .or(self.software_enforced.root_of_trust.as_ref())
    }

    /// The OS patch level (`YYYYMM`), preferring the hardware-enforced list.
    #[must_use]
    pub fn os_patch_level(&self) -> Option<u64> {
        self.hardware_enforced
            .os_patch_level
            .or(self.software_enforced.os_patch_level)
    }

    /// The OS version, preferring the hardware-enforced list.
    #[must_use]
    pub fn os_version(&self) -> Option<u64> {
        self.hardware_enforced
            .os_version
            .or(self.software_enforced.os_version)
    }

    /// The attesting app (always software-enforced in practice).
    #[must_use]
    pub fn application_id(&self) -> Option<&ApplicationId> {
        self.software_enforced
            .application_id
            .as_ref()
            .or(self.hardware_enforced.application_id.as_ref())
    }
}

fn security_level(tlv: &Tlv<'_>) -> Result<SecurityLevel, Asn1Error> {
    match tlv.enumerated()? {
        0 => Ok(SecurityLevel::Software),
        1 => Ok(SecurityLevel::TrustedEnvironment),
        2 => Ok(SecurityLevel::StrongBox),
        _ => Err(Asn1Error("unknown security level")),
    }
}

fn integer_set(tlv: &Tlv<'_>) -> Result<Vec<u64>, Asn1Error> {
    tlv.set()?.map(|item| item?.unsigned()).collect()
}

fn null(tlv: &Tlv<'_>) -> Result<bool, Asn1Error> {
    if tlv.is_universal(tag::NULL) && tlv.value.is_empty() {
        Ok(true)
    } else {
        Err(Asn1Error("expected NULL"))
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), Asn1Error> {
    if slot.is_some() {
        return Err(Asn1Error("an authorization tag appears twice"));
    }
    *slot = Some(value);
    Ok(())
}

impl AuthorizationList {
    fn parse(tlv: &Tlv<'_>) -> Result<Self, Asn1Error> {
        let mut list = Self {
            tags_ordered: true,
            ..Self::default()
        };
        let mut last = 0;
        for item in tlv.sequence()? {
            let item = item?;
            if item.class != Class::Context || !item.constructed {
                return Err(Asn1Error(
                    "an authorization list entry is not an explicit tag",
                ));
            }
            if item.number < last {
                list.tags_ordered = false;
            }
            last = item.number;
            let inner = parse_single(item.value)?;
            list.set(item.number, &inner)?;
        }
        Ok(list)
    }

    fn set(&mut self, number: u32, v: &Tlv<'_>) -> Result<(), Asn1Error> {
        match number {
            1 => self.purposes = integer_set(v)?,
            2 => set_once(&mut self.algorithm, v.unsigned()?)?,
            3 => set_once(&mut self.key_size, v.unsigned()?)?,
            5 => self.digests = integer_set(v)?,
            6 => self.paddings = integer_set(v)?,
            10 => set_once(&mut self.ec_curve, v.unsigned()?)?,
            503 => self.no_auth_required = null(v)?,
            701 => set_once(&mut self.creation_date_time, v.unsigned()?)?,
            702 => set_once(&mut self.origin, v.unsigned()?)?,
            704 => set_once(&mut self.root_of_trust, RootOfTrust::parse(v)?)?,
            705 => set_once(&mut self.os_version, v.unsigned()?)?,
            706 => set_once(&mut self.os_patch_level, v.unsigned()?)?,
            709 => set_once(&mut self.application_id, ApplicationId::parse(v.octets()?)?)?,
            718 => set_once(&mut self.vendor_patch_level, v.unsigned()?)?,
            719 => set_once(&mut self.boot_patch_level, v.unsigned()?)?,
            724 => set_once(&mut self.module_hash, v.octets()?.to_vec())?,
            other => self.unknown_tags.push(other),
        }
        Ok(())
    }
}

impl RootOfTrust {
    fn parse(tlv: &Tlv<'_>) -> Result<Self, Asn1Error> {
        let mut seq = tlv.sequence()?;
        let verified_boot_key = seq.element("missing verifiedBootKey")?.octets()?.to_vec();
        let device_locked = seq.element("missing deviceLocked")?.boolean()?;
        let verified_boot_state = match seq.element("missing verifiedBootState")?.enumerated()? {
            0 => BootState::Verified,
            1 => BootState::SelfSigned,
            2 => BootState::Unverified,
            3 => BootState::Failed,
            _ => return Err(Asn1Error("unknown verified boot state")),
        };
        let verified_boot_hash = match seq.next_tlv()? {
            Some(hash) => Some(hash.octets()?.to_vec()),
            None => None,
        };
        Ok(Self {
            verified_boot_key,
            device_locked,
            verified_boot_state,
            verified_boot_hash,
        })
    }
}

impl ApplicationId {
    fn parse(bytes: &[u8]) -> Result<Self, Asn1Error> {
        let mut seq = parse_single(bytes)?.sequence()?;
        let mut packages = Vec::new();
        for info in seq.element("missing package infos")?.set()? {
            let mut info = info?.sequence()?;
            let name = info.element("missing package name")?.octets()?;
            let version = info.element("missing package version")?.unsigned()?;
            packages.push(PackageInfo {
                name: String::from_utf8_lossy(name).into_owned(),
                version,
            });
        }
        let signature_digests = seq
            .element("missing signature digests")?
            .set()?
            .map(|d| d.and_then(|d| d.octets().map(<[u8]>::to_vec)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            packages,
            signature_digests,
        })
    }
}

/// Encodes KeyDescriptions (for the development CA and tests).
pub mod encode {
    use super::{ApplicationId, AuthorizationList, BootState, KeyDescription, RootOfTrust};
    use crate::asn1::der;
    use verigrid_types::device::SecurityLevel;

    fn level(level: SecurityLevel) -> Vec<u8> {
        der::enumerated(match level {
            SecurityLevel::Software => 0,
            SecurityLevel::TrustedEnvironment => 1,
            SecurityLevel::StrongBox => 2,
        })
    }

    /// DER for `kd`.
    #[must_use]
    pub fn key_description(kd: &KeyDescription) -> Vec<u8> {
        der::sequence(&[
            der::unsigned(kd.attestation_version),
            level(kd.attestation_security_level),
            der::unsigned(kd.keymint_version),
            level(kd.keymint_security_level),
            der::octets(&kd.challenge),
            der::octets(&kd.unique_id),
            authorization_list(&kd.software_enforced),
            authorization_list(&kd.hardware_enforced),
        ])
    }

    fn int_set(values: &[u64]) -> Vec<u8> {
        der::set(&values.iter().map(|v| der::unsigned(*v)).collect::<Vec<_>>())
    }

    /// DER for an authorization list, tags in ascending order.
    #[must_use]
    pub fn authorization_list(list: &AuthorizationList) -> Vec<u8> {
        let mut parts = Vec::new();
        let int = |tag: u32, value: Option<u64>, parts: &mut Vec<Vec<u8>>| {
            if let Some(v) = value {
                parts.push(der::explicit(tag, &der::unsigned(v)));
            }
        };
        if !list.purposes.is_empty() {
            parts.push(der::explicit(1, &int_set(&list.purposes)));
        }
        int(2, list.algorithm, &mut parts);
        int(3, list.key_size, &mut parts);
        if !list.digests.is_empty() {
            parts.push(der::explicit(5, &int_set(&list.digests)));
        }
        if !list.paddings.is_empty() {
            parts.push(der::explicit(6, &int_set(&list.paddings)));
        }
        int(10, list.ec_curve, &mut parts);
        if list.no_auth_required {
            parts.push(der::explicit(503, &der::null()));
        }
        int(701, list.creation_date_time, &mut parts);
        int(702, list.origin, &mut parts);
        if let Some(rot) = &list.root_of_trust {
            parts.push(der::explicit(704, &root_of_trust(rot)));
        }
        int(705, list.os_version, &mut parts);
        int(706, list.os_patch_level, &mut parts);
        if let Some(app) = &list.application_id {
            parts.push(der::explicit(709, &der::octets(&application_id(app))));
        }
        int(718, list.vendor_patch_level, &mut parts);
        int(719, list.boot_patch_level, &mut parts);
        if let Some(hash) = &list.module_hash {
            parts.push(der::explicit(724, &der::octets(hash)));
        }
        der::sequence(&parts)
    }

    fn root_of_trust(rot: &RootOfTrust) -> Vec<u8> {
        let mut parts = vec![
            der::octets(&rot.verified_boot_key),
            der::boolean(rot.device_locked),
            der::enumerated(match rot.verified_boot_state {
                BootState::Verified => 0,
                BootState::SelfSigned => 1,
                BootState::Unverified => 2,
                BootState::Failed => 3,
            }),
        ];
        if let Some(hash) = &rot.verified_boot_hash {
            parts.push(der::octets(hash));
        }
        der::sequence(&parts)
    }

    fn application_id(app: &ApplicationId) -> Vec<u8> {
        let packages = app
            .packages
            .iter()
            .map(|p| der::sequence(&[der::octets(p.name.as_bytes()), der::unsigned(p.version)]))
            .collect::<Vec<_>>();
        let digests = app
            .signature_digests
            .iter()
            .map(|d| der::octets(d))
            .collect::<Vec<_>>();
        der::sequence(&[der::set(&packages), der::set(&digests)])
    }
}
