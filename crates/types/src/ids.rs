//! Newtypes for ids, amounts, heights and times, so a height is never paid
//! out and an amount never indexes a task.

use crate::hash::{Domain, Hash};
use crate::{codec_newtype, codec_struct};

/// An amount of the native token, in its smallest unit. All arithmetic on it
/// is checked: money never wraps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u64);

impl Amount {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// `self + other`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self - other`, or `None` if `other` is larger.
    #[must_use]
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    /// `self × n`, or `None` on overflow.
    #[must_use]
    pub fn checked_mul(self, n: u64) -> Option<Self> {
        self.0.checked_mul(n).map(Self)
    }

    /// `self - other`, floored at zero.
    #[must_use]
    pub fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// `self × num / den` rounded down, computed without overflow.
    #[must_use]
    pub fn mul_ratio(self, num: u64, den: u64) -> Self {
        if den == 0 {
            return Self::ZERO;
        }
        let wide = u128::from(self.0) * u128::from(num) / u128::from(den);
        Self(u64::try_from(wide).unwrap_or(u64::MAX))
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A block height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl Height {
    /// `self + blocks`, saturating (heights never realistically overflow).
    #[must_use]
    pub fn plus(self, blocks: u64) -> Self {
        Self(self.0.saturating_add(blocks))
    }
}

/// A time in milliseconds since the Unix epoch, as agreed in a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Seconds since the Unix epoch.
    #[must_use]
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }
}

/// An account: the ed25519 public key that signs for it. Ordered bytewise.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AccountId(pub [u8; 32]);

impl Ord for AccountId {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        crate::hash::cmp_bytes32(&self.0, &other.0)
    }
}

impl PartialOrd for AccountId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "acct:{}", &crate::hash::hex(&self.0)[..12])
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::hash::hex(&self.0))
    }
}

/// A device: the hash of its attested public key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(pub Hash);

/// A job: the hash of its consumer and the consumer's nonce at submission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub Hash);

impl JobId {
    /// The id of the job `consumer` submits with account nonce `nonce`.
    #[must_use]
    pub fn derive(consumer: &AccountId, nonce: u64) -> Self {
        Self(Hash::of(
            Domain::JobId,
            &[&consumer.0, &nonce.to_le_bytes()],
        ))
    }
}

/// One task of a job: the job and the task's index in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    /// The job.
    pub job: JobId,
    /// Index of the task's input in the job, from 0.
    pub index: u32,
}

codec_newtype!(Amount, Height, Timestamp, AccountId, DeviceId, JobId);
codec_struct!(TaskId { job, index });

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.job.0, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Decode, Encode};

    #[test]
    fn money_arithmetic_never_wraps() {
        assert_eq!(Amount(u64::MAX).checked_add(Amount(1)), None);
        assert_eq!(Amount(1).checked_sub(Amount(2)), None);
        assert_eq!(
            Amount(u64::MAX).mul_ratio(3, 4),
            Amount(u64::MAX / 4 * 3 + 2)
        );
        assert_eq!(Amount(10).mul_ratio(1, 0), Amount::ZERO);
    }

    #[test]
    fn task_ids_round_trip() {
        let t = TaskId {
            job: JobId::derive(&AccountId([3; 32]), 9),
            index: 42,
        };
        assert_eq!(TaskId::decode(&t.encode()), Ok(t));
    }
}
