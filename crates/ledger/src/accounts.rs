//! Accounts: balances, transfers, bonding and unbonding (docs/DESIGN.md
//! §3–§4). Every handler checks everything before it changes anything.

use verigrid_types::{AccountId, Amount, Height};

use crate::records::Account;
use crate::{Ledger, TxError};

/// Most unbonding entries an account may hold at once.
pub const MAX_UNBONDING: usize = 32;

impl Ledger {
    /// Takes `amount` from `who`'s balance, or fails without change.
    pub(crate) fn debit(&mut self, who: &AccountId, amount: Amount) -> Result<(), TxError> {
        let acct = self
            .accounts
            .get_mut(who)
            .ok_or(TxError::UnknownAccount(*who))?;
        acct.balance = acct
            .balance
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBalance {
                available: acct.balance,
                needed: amount,
            })?;
        Ok(())
    }

    /// Adds `amount` to `who`'s balance, creating the account if needed.
    /// Cannot overflow: every amount is part of a supply that fits in `u64`.
    pub(crate) fn credit(&mut self, who: &AccountId, amount: Amount) {
        if amount == Amount::ZERO {
            return;
        }
        match self.accounts.get_mut(who) {
            Some(acct) => acct.balance = Amount(acct.balance.0.saturating_add(amount.0)),
            None => self.accounts.insert(
                *who,
                Account {
                    balance: amount,
                    ..Account::default()
                },
            ),
        }
    }

    /// Owes `who` `amount`, credited when the block ends
    /// ([`Ledger::settle_credits`]). Only for end-of-block work: nothing
    /// later in the block reads the balance.
    pub(crate) fn credit_at_block_end(&mut self, who: AccountId, amount: Amount) {
        let owed = self.credits.entry(who).or_insert(Amount::ZERO);
        *owed = Amount(owed.0.saturating_add(amount.0));
    }

    /// Adds every amount owed this block to its account. The order does not
    /// matter (saturating addition of non-negative amounts is associative);
    /// ids are sorted so the account map is walked once, front to back.
    pub(crate) fn settle_credits(&mut self) {
        let mut owed: Vec<(AccountId, Amount)> = self.credits.drain().collect();
        owed.sort_unstable_by_key(|(who, _)| *who);
        for (who, amount) in owed {
            self.credit(&who, amount);
        }
    }

    pub(crate) fn balance(&self, who: &AccountId) -> Amount {
        self.accounts.get(who).map_or(Amount::ZERO, |a| a.balance)
    }

    pub(crate) fn transfer(
        &mut self,
        from: AccountId,
        to: AccountId,
        amount: Amount,
    ) -> Result<(), TxError> {
        if amount == Amount::ZERO {
            return Err(TxError::ZeroAmount);
        }
        self.debit(&from, amount)?;
        self.credit(&to, amount);
        Ok(())
    }

    pub(crate) fn bond(&mut self, who: AccountId, amount: Amount) -> Result<(), TxError> {
        if amount == Amount::ZERO {
            return Err(TxError::ZeroAmount);
        }
        self.debit(&who, amount)?;
        if let Some(acct) = self.accounts.get_mut(&who) {
            acct.bonded = Amount(acct.bonded.0.saturating_add(amount.0));
        }
        Ok(())
    }

    pub(crate) fn unbond(&mut self, who: AccountId, amount: Amount) -> Result<(), TxError> {
        if amount == Amount::ZERO {
            return Err(TxError::ZeroAmount);
        }
        let release = self.height.plus(self.params.unbond_blocks);
        let acct = self
            .accounts
            .get(&who)
            .ok_or(TxError::UnknownAccount(who))?;
        let bonded = acct
            .bonded
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBond {
                bonded: acct.bonded,
                requested: amount,
            })?;
        self.push_unbonding(who, release, amount)?;
        if let Some(acct) = self.accounts.get_mut(&who) {
            acct.bonded = bonded;
        }
        Ok(())
    }

    /// Queues `amount` to return to `who` at `release`.
    pub(crate) fn push_unbonding(
        &mut self,
        who: AccountId,
        release: Height,
        amount: Amount,
    ) -> Result<(), TxError> {
        let acct = self
            .accounts
            .get(&who)
            .ok_or(TxError::UnknownAccount(who))?;
        let merge = acct.unbonding.iter().position(|(h, _)| *h == release);
        if merge.is_none() && acct.unbonding.len() >= MAX_UNBONDING {
            return Err(TxError::TooManyUnbonding);
        }
        if let Some(acct) = self.accounts.get_mut(&who) {
            match merge {
                Some(i) => {
                    acct.unbonding[i].1 = Amount(acct.unbonding[i].1.0.saturating_add(amount.0))
                }
                None => acct.unbonding.push((release, amount)),
            }
        }
        Ok(())
    }

    pub(crate) fn withdraw(&mut self, who: AccountId) -> Result<(), TxError> {
        let now = self.height;
        let acct = self
            .accounts
            .get_mut(&who)
            .ok_or(TxError::UnknownAccount(who))?;
        let (ready, waiting): (Vec<_>, Vec<_>) =
            acct.unbonding.iter().copied().partition(|(h, _)| *h <= now);
        let total = ready.iter().fold(0u64, |s, (_, a)| s.saturating_add(a.0));
        acct.unbonding = waiting;
        acct.balance = Amount(acct.balance.0.saturating_add(total));
        Ok(())
    }
}
