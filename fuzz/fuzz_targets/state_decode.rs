//! Fuzzes the state reader: any bytes must decode to a valid prefix without a panic, re-encode
//! to exactly that prefix, and give a recovery (or a clean error) for any output length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pagecrawl::testing::{decode, encode};
use pagecrawl::testing::recover;

fuzz_target!(|data: &[u8]| {
    let (records, valid) = decode(data);
    assert!(valid <= data.len());
    let again: Vec<u8> = records.iter().flat_map(encode).collect();
    assert_eq!(&again[..], &data[..valid]);
    if !records.is_empty() {
        let output_len = data.len() as u64 * 7;
        let seen_len = data.len() as u64 * 3;
        if let Ok((_, recovery)) = recover(&records, output_len, seen_len) {
            assert!(recovery.output_len <= output_len.max(recovery.base));
            assert!(recovery.seen_len <= seen_len.max(recovery.seen_base));
        }
    }
});
