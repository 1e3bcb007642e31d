//! [`Signer`]: signs transactions for one account or device with the
//! chain's minimum fee and the next nonce, tracking nonces across
//! transactions still in the mempool.

use verigrid_types::codec::Encode;
use verigrid_types::params::Params;
use verigrid_types::tx::{self, Call, SignedTx, Tx};
use verigrid_types::{Amount, DeviceId, SecretKey};

use crate::client::Client;
use crate::error::Result;

/// Signs for one account or one (development) device.
#[derive(Debug)]
pub struct Signer {
    key: SecretKey,
    who: tx::Signer,
    chain_id: String,
    base_fee: u64,
    fee_per_byte: u64,
    next_nonce: Option<u64>,
}

impl Signer {
    /// Signs as the account of `key`.
    #[must_use]
    pub fn account(key: SecretKey, chain_id: &str, params: &Params) -> Self {
        let who = tx::Signer::Account(key.account());
        Self::new(key, who, chain_id, params)
    }

    /// Signs as device `device`, whose attested key is `key`.
    #[must_use]
    pub fn device(key: SecretKey, device: DeviceId, chain_id: &str, params: &Params) -> Self {
        Self::new(key, tx::Signer::Device(device), chain_id, params)
    }

    fn new(key: SecretKey, who: tx::Signer, chain_id: &str, params: &Params) -> Self {
        Self {
            key,
            who,
            chain_id: chain_id.into(),
            base_fee: params.base_fee.0,
            fee_per_byte: params.fee_per_byte.0,
            next_nonce: None,
        }
    }

    /// Who signs.
    #[must_use]
    pub fn who(&self) -> &tx::Signer {
        &self.who
    }

    /// Signs `call` with `nonce` and the smallest fee the chain accepts
    /// for its size.
    #[must_use]
    pub fn sign_with_nonce(&self, call: Call, nonce: u64) -> SignedTx {
        let mut tx = Tx {
            signer: self.who,
            nonce,
            fee: Amount(self.base_fee),
            call,
        };
        // The fee's own encoding is part of the size it pays for: settle.
        for _ in 0..4 {
            let size = u64::try_from(tx.encode().len()).unwrap_or(u64::MAX);
            let needed = self
                .base_fee
                .saturating_add(self.fee_per_byte.saturating_mul(size));
            if tx.fee.0 >= needed {
                break;
            }
            tx.fee = Amount(needed);
        }
        tx.sign(&self.chain_id, &self.key)
    }

    /// Signs `call` with the next nonce (read from the chain the first
    /// time, then counted locally so several transactions can wait in the
    /// mempool at once).
    ///
    /// # Errors
    /// If the nonce cannot be read from the node.
    pub fn sign(&mut self, client: &Client, call: Call) -> Result<SignedTx> {
        let nonce = match self.next_nonce {
            Some(n) => n,
            None => self.chain_nonce(client)?,
        };
        self.next_nonce = Some(nonce.saturating_add(1));
        Ok(self.sign_with_nonce(call, nonce))
    }

    /// Forgets the locally counted nonce: the next transaction reads it
    /// from the chain again (after a refusal or a lost transaction).
    pub fn resync(&mut self) {
        self.next_nonce = None;
    }

    /// The next nonce the finalized chain expects from this signer.
    ///
    /// # Errors
    /// If the node cannot be read.
    pub fn chain_nonce(&self, client: &Client) -> Result<u64> {
        Ok(match &self.who {
            tx::Signer::Account(id) => client.account(id)?.map_or(0, |a| a.nonce),
            tx::Signer::Device(id) => client.device(id)?.map_or(0, |d| d.nonce),
        })
    }

    /// Submits `call` and waits for it to be finalized (for one-off
    /// transactions such as a job submission or a registration).
    ///
    /// # Errors
    /// If it is refused or not finalized within `timeout`.
    pub fn submit_and_wait(
        &mut self,
        client: &Client,
        call: Call,
        timeout: std::time::Duration,
    ) -> Result<(verigrid_types::Hash, verigrid_types::Height)> {
        let tx = self.sign(client, call)?;
        let id = tx.id();
        match client.submit_and_wait(&tx, timeout) {
            Ok(height) => Ok((id, height)),
            Err(e) => {
                self.resync();
                Err(e)
            }
        }
    }
}
