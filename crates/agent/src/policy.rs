//! The owner's policy (docs/DESIGN.md §8): work only while charging, with
//! enough battery, cool enough, on an unmetered network, on a share of the
//! cores. Readings come from `/sys` on Linux and Android; any of them can
//! be given instead (flags), which is also how a platform without `/sys`
//! reports them.

use std::fmt;
use std::fs;
use std::path::Path;

/// What the owner allows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// Work only while on external power.
    pub require_charging: bool,
    /// Least battery charge, percent.
    pub min_battery_pct: u8,
    /// Hottest the device may be, °C.
    pub max_temperature_c: f32,
    /// Work only on an unmetered network.
    pub unmetered_only: bool,
    /// Share of the cores tasks may use (0–1].
    pub cpu_share: f32,
}

impl Default for Policy {
    /// BOINC's Android defaults: charging, 90 % battery, 40 °C, unmetered
    /// network, half the cores.
    fn default() -> Self {
        Self {
            require_charging: true,
            min_battery_pct: 90,
            max_temperature_c: 40.0,
            unmetered_only: true,
            cpu_share: 0.5,
        }
    }
}

/// What the device reports now; `None` where it cannot tell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Readings {
    /// On external power (no battery at all counts as on power).
    pub charging: Option<bool>,
    /// Battery charge, percent (`None` without a battery).
    pub battery_pct: Option<u8>,
    /// Hottest thermal zone, °C.
    pub temperature_c: Option<f32>,
    /// On a metered network.
    pub metered: Option<bool>,
}

impl Readings {
    /// `self`, with every reading `overrides` has replacing this one.
    #[must_use]
    pub fn overridden_by(self, overrides: &Self) -> Self {
        Self {
            charging: overrides.charging.or(self.charging),
            battery_pct: overrides.battery_pct.or(self.battery_pct),
            temperature_c: overrides.temperature_c.or(self.temperature_c),
            metered: overrides.metered.or(self.metered),
        }
    }
}

impl fmt::Display for Readings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unknown = || "unknown".to_owned();
        write!(
            f,
            "power {}, battery {}, temperature {}, network {}",
            self.charging
                .map_or_else(unknown, |c| if c { "external" } else { "battery" }.into()),
            self.battery_pct
                .map_or_else(|| "none".into(), |b| format!("{b} %")),
            self.temperature_c
                .map_or_else(unknown, |t| format!("{t:.1} °C")),
            self.metered
                .map_or_else(unknown, |m| if m { "metered" } else { "unmetered" }.into()),
        )
    }
}

impl Policy {
    /// Whether the device may work now; otherwise why not, in the owner's
    /// terms. A reading the device cannot make does not block work.
    ///
    /// # Errors
    /// The first rule the readings break.
    pub fn check(&self, r: &Readings) -> Result<(), String> {
        if self.require_charging && r.charging == Some(false) {
            return Err("on battery power, and the policy allows work only while charging".into());
        }
        if let Some(pct) = r.battery_pct.filter(|p| *p < self.min_battery_pct) {
            return Err(format!(
                "battery at {pct} %, below the policy's {} %",
                self.min_battery_pct
            ));
        }
        if let Some(t) = r.temperature_c.filter(|t| *t > self.max_temperature_c) {
            return Err(format!(
                "{t:.1} °C, hotter than the policy's {:.1} °C",
                self.max_temperature_c
            ));
        }
        if self.unmetered_only && r.metered == Some(true) {
            return Err("on a metered network, and the policy allows unmetered only".into());
        }
        Ok(())
    }

    /// Tasks to run at once on `cores` cores: the policy's share, at
    /// least one.
    #[must_use]
    pub fn slots(&self, cores: usize) -> u16 {
        let share = self.cpu_share.clamp(0.0, 1.0);
        // Cores are few; the product fits any float and any u16.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let slots = (cores as f32 * share).floor() as u16;
        slots.max(1)
    }
}

/// Reads power and temperature from a sysfs tree rooted at `sys` (`/sys`).
/// The network's metering is not in sysfs and stays unknown.
#[must_use]
pub fn read_sys(sys: &Path) -> Readings {
    let mut readings = Readings::default();
    let supplies = sys.join("class/power_supply");
    let mut external = None;
    let mut battery_status = None;
    for entry in fs::read_dir(&supplies).into_iter().flatten().flatten() {
        let dir = entry.path();
        let read = |name: &str| {
            fs::read_to_string(dir.join(name))
                .ok()
                .map(|s| s.trim().to_owned())
        };
        match read("type").as_deref() {
            Some("Battery") => {
                readings.battery_pct = read("capacity").and_then(|c| c.parse().ok());
                battery_status = read("status");
            }
            Some("Mains" | "USB" | "USB_C" | "USB_PD" | "Wireless") => {
                let online = read("online").is_some_and(|o| o == "1");
                external = Some(external.unwrap_or(false) || online);
            }
            _ => {}
        }
    }
    let charging_battery = battery_status
        .as_deref()
        .map(|s| matches!(s, "Charging" | "Full" | "Not charging"));
    readings.charging = match (external, charging_battery, readings.battery_pct) {
        (Some(true), _, _) | (_, Some(true), _) => Some(true),
        (Some(false), _, _) | (_, Some(false), _) => Some(false),
        // No battery and no supply information: a machine on mains power.
        (None, None, None) => Some(true),
        (None, None, Some(_)) => None,
    };
    let zones = sys.join("class/thermal");
    readings.temperature_c = fs::read_dir(&zones)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| fs::read_to_string(e.path().join("temp")).ok())
        .filter_map(|t| t.trim().parse::<i64>().ok())
        // Millidegrees; bounded values convert exactly enough.
        .map(|milli| {
            #[allow(clippy::cast_precision_loss)]
            let c = milli as f32 / 1000.0;
            c
        })
        .filter(|c| (-50.0..200.0).contains(c))
        .reduce(f32::max);
    readings
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn supply(sys: &Path, name: &str, files: &[(&str, &str)]) {
        let dir = sys.join("class/power_supply").join(name);
        fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            fs::write(dir.join(file), format!("{text}\n")).unwrap();
        }
    }

    fn battery(sys: &Path, capacity: u8, status: &str) {
        let capacity = capacity.to_string();
        supply(
            sys,
            "battery",
            &[
                ("type", "Battery"),
                ("capacity", &capacity),
                ("status", status),
            ],
        );
    }

    fn zone(sys: &Path, n: u32, milli: i64) {
        let dir = sys.join(format!("class/thermal/thermal_zone{n}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("temp"), format!("{milli}\n")).unwrap();
    }

    #[test]
    fn a_phone_on_its_charger_may_work() {
        let sys = tempfile::tempdir().unwrap();
        battery(sys.path(), 95, "Charging");
        supply(sys.path(), "usb", &[("type", "USB"), ("online", "1")]);
        zone(sys.path(), 0, 31_000);
        zone(sys.path(), 1, 36_500);
        let r = read_sys(sys.path());
        assert_eq!(r.charging, Some(true));
        assert_eq!(r.battery_pct, Some(95));
        assert_eq!(r.temperature_c, Some(36.5));
        assert_eq!(Policy::default().check(&r), Ok(()));
    }

    #[test]
    fn on_battery_low_or_hot_it_does_not() {
        let sys = tempfile::tempdir().unwrap();
        battery(sys.path(), 95, "Discharging");
        supply(sys.path(), "ac", &[("type", "Mains"), ("online", "0")]);
        let r = read_sys(sys.path());
        assert_eq!(r.charging, Some(false));
        let policy = Policy::default();
        assert!(policy.check(&r).unwrap_err().contains("battery power"));
        let low = Readings {
            charging: Some(true),
            battery_pct: Some(50),
            ..r
        };
        assert!(policy.check(&low).unwrap_err().contains("50 %"));
        let hot = Readings {
            charging: Some(true),
            battery_pct: Some(99),
            temperature_c: Some(45.0),
            ..r
        };
        assert!(policy.check(&hot).unwrap_err().contains("45.0 °C"));
        let metered = Readings {
            temperature_c: Some(30.0),
            metered: Some(true),
            ..hot
        };
        assert!(policy.check(&metered).unwrap_err().contains("metered"));
    }

    #[test]
    fn a_server_without_a_battery_is_on_power_and_flags_override() {
        let sys = tempfile::tempdir().unwrap();
        let r = read_sys(sys.path());
        assert_eq!(r.charging, Some(true));
        assert_eq!(r.battery_pct, None);
        assert_eq!(Policy::default().check(&r), Ok(()));
        let told = Readings {
            charging: Some(false),
            ..Readings::default()
        };
        assert!(Policy::default().check(&r.overridden_by(&told)).is_err());
    }

    #[test]
    fn slots_follow_the_core_share() {
        let p = Policy::default();
        assert_eq!(p.slots(8), 4);
        assert_eq!(p.slots(1), 1);
        assert_eq!(
            Policy {
                cpu_share: 1.0,
                ..p
            }
            .slots(6),
            6
        );
    }
}
