//! Input: `rounds` as a little-endian `u32`, then the seed bytes.
//! Output: the 32-byte digest after `sha256(seed)` and `rounds` re-hashes.

mod kernel;

use verigrid_guest::Reader;

fn main() -> std::process::ExitCode {
    verigrid_guest::run(|input| {
        let mut r = Reader::new(input);
        let rounds = r.u32()?;
        let seed = r.take(r.remaining(), "seed")?;
        Ok::<_, verigrid_guest::FrameError>(kernel::chain(seed, rounds).to_vec())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_matches_the_fips_vectors() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(super::kernel::sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(super::kernel::sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }
}
