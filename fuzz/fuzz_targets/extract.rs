//! Fuzzes the extractor: any bytes, decoded as a crawler would, must parse without a panic, and
//! the streaming engine must give exactly what the DOM engine gives (or hand the page to it).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pagecrawl::fetch::decode_body;
use pagecrawl::parse::{Engine, Extractor};

fn extractor() -> &'static Extractor {
    static EXTRACTOR: OnceLock<Extractor> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        let fields = [
            ("title".to_string(), "a".to_string()),
            ("link".to_string(), "a@href".to_string()),
            ("id".to_string(), "@id".to_string()),
            ("cell".to_string(), "td b".to_string()),
            ("para".to_string(), "p".to_string()),
        ];
        Extractor::with_engine("div.pl2, li, p.x", &fields, Engine::Stream)
            .expect("valid selectors")
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
    let ex = extractor();
    let items = ex.extract(&html);
    for item in &items {
        assert_eq!(item.len(), 5);
    }
    assert_eq!(items, ex.extract_dom(&html), "the engines disagree on {html:?}");
});
