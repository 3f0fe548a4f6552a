//! The sandbox's random ids: tokens, codes, Slack ids, Notion UUIDs, all from the state's
//! seeded generator (unguessable-looking, not cryptographic: the sandbox is for tests).

use crate::state::Inner;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Inner {
    fn next_u64(&mut self) -> u64 {
        // splitmix64: fast, good enough for unguessable-looking test tokens.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn alnum(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let mut v = self.next_u64();
            for _ in 0..10 {
                if s.len() == n {
                    break;
                }
                let idx = usize::try_from(v % 62).unwrap_or(0);
                s.push(char::from(ALNUM[idx]));
                v /= 62;
            }
        }
        s
    }

    pub(crate) fn digits(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        for i in 0..n {
            let d = self.next_u64() % 10;
            let d = if i == 0 && d == 0 { 1 } else { d };
            s.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
        }
        s
    }

    pub(crate) fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let v = self.next_u64();
            for i in 0..16 {
                if s.len() == n {
                    break;
                }
                let nib = u8::try_from((v >> (i * 4)) & 0xf).unwrap_or(0);
                s.push(char::from(if nib < 10 {
                    b'0' + nib
                } else {
                    b'a' + nib - 10
                }));
            }
        }
        s
    }

    pub(crate) fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// Upper-case Slack id like `T0ABCDEF12`.
    pub(crate) fn slack_id(&mut self, prefix: char) -> String {
        let body: String = self
            .alnum(9)
            .chars()
            .map(|c| c.to_ascii_uppercase())
            .collect();
        format!("{prefix}{body}")
    }
}
