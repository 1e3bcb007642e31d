//! Input: UTF-8 text. Output: one `word<TAB>count` line per distinct word
//! (lower-cased runs of letters and digits), most frequent first, ties in
//! alphabetical order.

use std::collections::BTreeMap;
use std::fmt::Write;

fn count(text: &str) -> String {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::new();
    for (word, n) in ranked {
        let _ = writeln!(out, "{word}\t{n}");
    }
    out
}

fn main() -> std::process::ExitCode {
    verigrid_guest::run(|input| {
        let text = std::str::from_utf8(input).map_err(|e| format!("input is not UTF-8: {e}"))?;
        Ok::<_, String>(count(text).into_bytes())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_words_most_frequent_first() {
        assert_eq!(super::count("b a, B! c a b"), "b\t3\na\t2\nc\t1\n");
    }
}
