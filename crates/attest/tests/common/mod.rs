//! Shared helpers: the real attestation data under `testdata/` (copied from
//! the project's shared test data, licences alongside) and trust stores.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use verigrid_attest::cert;
use verigrid_attest::chain::{RootKind, TrustStore};

/// A test data file's path.
pub fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(relative)
}

/// A test data file's bytes.
pub fn read(relative: &str) -> Vec<u8> {
    let path = data(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A PEM chain from test data, as DER certificates.
pub fn chain(relative: &str) -> Vec<Vec<u8>> {
    cert::pem_chain(&read(relative)).unwrap()
}

/// Google's hardware roots (all four RSA issues and the EC root) and its
/// software roots, marked as such.
pub fn google_store() -> TrustStore {
    let mut store = TrustStore::new();
    for root in [
        "roots/google_hw_attestation_root_rsa4096_2016_e8fa196314d2fa18.pem",
        "roots/google_hw_attestation_root_rsa4096_2019_d50ff25ba3f2d6b3.pem",
        "roots/google_hw_attestation_root_rsa4096_2021_c36b7c44b9ae1831.pem",
        "roots/google_hw_attestation_root_rsa4096_2022_f1c172a699eaf51d.pem",
        "roots/google_key_attestation_ca1_ec_p384_2025.pem",
    ] {
        store.add_pem(&read(root), RootKind::Hardware).unwrap();
    }
    for root in [
        "roots/google_android_software_attestation_root_ec.pem",
        "roots/google_android_software_attestation_root_rsa1024.pem",
    ] {
        store.add_pem(&read(root), RootKind::Software).unwrap();
    }
    store
}

/// Apple's App Attestation root.
pub fn apple_store() -> TrustStore {
    let mut store = TrustStore::new();
    store
        .add_pem(
            &read("roots/apple_app_attestation_root_ca.pem"),
            RootKind::Hardware,
        )
        .unwrap();
    store
}

/// Reads JSON that may carry `//` comment lines (one expected file does).
pub fn json(relative: &str) -> serde_json::Value {
    let text = String::from_utf8(read(relative)).unwrap();
    let clean: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    serde_json::from_str(&clean).unwrap()
}

/// Unix seconds of a UTC date.
pub fn unix(year: i64, month: i64, day: i64) -> i64 {
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400
}

/// The day this suite treats as "today" (a fixed date: tests never read a
/// clock).
pub const TODAY: (i64, i64, i64) = (2026, 11, 26);
