//! Fuzzes the extractor: any bytes, decoded as a crawler would, must parse without a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pagecrawl::fetch::decode_body;
use pagecrawl::parse::Extractor;

fn extractor() -> &'static Extractor {
    static EXTRACTOR: OnceLock<Extractor> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        let fields = [
            ("title".to_string(), "a".to_string()),
            ("link".to_string(), "a@href".to_string()),
            ("id".to_string(), "@id".to_string()),
        ];
        Extractor::new("div.pl2", &fields).expect("valid selectors")
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a declared charset, so the decoding paths are fuzzed too.
    let (content_type, body) = match data.split_first() {
        Some((0, rest)) => (Some("text/html; charset=gbk"), rest),
        Some((1, rest)) => (Some("text/html; charset=shift_jis"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let html = decode_body(body.to_vec(), content_type);
    for item in extractor().extract(&html) {
        assert_eq!(item.len(), 3);
    }
});
