//! Tests of the shared watch, against an in-memory stand-in for Redis.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::*;
use crate::extract::Value;

/// The shared store as the Lua scripts keep it, in memory, shared by the "daemons" of a
/// test; `interfere` runs once before the next commit, as another daemon would.
#[derive(Default)]
struct Store {
    items: BTreeMap<String, String>,
    done: BTreeSet<u64>,
    lines: Vec<Vec<u8>>,
    interfere: Option<(String, String)>,
    batches: u64,
}

struct Fake(Arc<Mutex<Store>>);

fn swap_all(store: &mut Store, swaps: &[Swap]) -> bool {
    if let Some((key, value)) = store.interfere.take() {
        store.items.insert(key, value);
    }
    let fresh = swaps
        .iter()
        .all(|s| store.items.get(&s.key).map_or("", String::as_str) == s.read);
    if fresh {
        for s in swaps {
            store.items.insert(s.key.clone(), s.write.clone());
        }
    }
    fresh
}

impl SharedKeys for Fake {
    fn read(&mut self, keys: &[String]) -> Result<Vec<Option<String>>> {
        let store = self.0.lock().unwrap();
        Ok(keys.iter().map(|k| store.items.get(k).cloned()).collect())
    }
    fn commit_page(
        &mut self,
        page: &SharedPage<'_>,
        swaps: &[Swap],
        lines: &[u8],
    ) -> Result<Outcome> {
        let mut store = self.0.lock().unwrap();
        if store.done.contains(&page.number) {
            return Ok(Outcome::Taken);
        }
        if !swap_all(&mut store, swaps) {
            return Ok(Outcome::Stale);
        }
        store.done.insert(page.number);
        store.lines.push(lines.to_vec());
        Ok(Outcome::Done)
    }
    fn commit_not_modified(&mut self, _: u64, _: &str) -> Result<(Outcome, u64)> {
        unreachable!("the judging tests answer no page 304")
    }
    fn gone_due(&mut self) -> Result<bool> {
        Ok(true)
    }
    fn scan(&mut self, cursor: u64) -> Result<(u64, Vec<(String, String)>)> {
        let store = self.0.lock().unwrap();
        // Two keys at a time, the cursor counting them.
        let all: Vec<(String, String)> = store.items.clone().into_iter().collect();
        let from = cursor as usize;
        let to = (from + 2).min(all.len());
        let next = if to == all.len() { 0 } else { to as u64 };
        Ok((next, all[from..to].to_vec()))
    }
    fn commit_gone(&mut self, swaps: &[Swap], lines: &[u8]) -> Result<Option<u64>> {
        let mut store = self.0.lock().unwrap();
        if !swap_all(&mut store, swaps) {
            return Ok(None);
        }
        store.batches += 1;
        store.lines.push(lines.to_vec());
        Ok(Some(store.batches))
    }
    fn gone_written(&mut self) -> Result<()> {
        Ok(())
    }
}

fn watch(store: &Arc<Mutex<Store>>, round: u64) -> SharedWatch {
    let names = ["link".to_string(), "price".to_string()];
    let stats = Stats::new(None, crate::stats::fetch_latency_histogram());
    SharedWatch::new(
        Box::new(Fake(store.clone())),
        0,
        &names,
        round,
        stats,
        Vec::new(),
    )
}

fn item(link: &str, price: i64) -> Item {
    vec![Value::String(link.to_string()), Value::Integer(price)]
}

/// Judges page `page` of `items`, with each item's verdict as its line.
fn page(watch: &mut SharedWatch, page: u64, items: &[Item]) -> (u64, Vec<Verdict>) {
    let mut verdicts = Vec::new();
    let mut buf = Vec::new();
    let lines = watch
        .page(
            page,
            "http://x/",
            &Validators::default(),
            items,
            &mut buf,
            |judged, _| {
                verdicts = judged.iter().map(|j| j.verdict.clone()).collect();
                judged.len() as u64
            },
        )
        .unwrap();
    (lines, verdicts)
}

#[test]
fn a_key_is_new_then_unchanged_then_changed_across_daemons() {
    let store = Arc::new(Mutex::new(Store::default()));
    let (mut a, mut b) = (watch(&store, 1), watch(&store, 1));
    let (_, v) = page(&mut a, 0, &[item("x", 1), item("y", 2)]);
    assert_eq!(v, [Verdict::New, Verdict::New]);
    // Another daemon lists x on another page of the same round: compared with a's.
    let (_, v) = page(&mut b, 1, &[item("x", 1)]);
    assert_eq!(v, [Verdict::Unchanged]);
    store.lock().unwrap().done.clear();
    let mut next = watch(&store, 2);
    let (_, v) = page(&mut next, 0, &[item("x", 3)]);
    assert_eq!(
        v,
        [Verdict::Changed {
            fields: vec![1],
            previous: vec!["1".to_string()],
        }]
    );
}

#[test]
fn a_key_another_daemon_changed_meanwhile_is_judged_again_against_its_value() {
    let store = Arc::new(Mutex::new(Store::default()));
    let mut a = watch(&store, 1);
    page(&mut a, 0, &[item("x", 1)]);
    // Between a's read and its commit, another daemon writes x at price 5.
    let theirs = Known {
        r: 1,
        g: false,
        p: 7,
        u: "http://x/7".to_string(),
        f: vec!["\"x\"".to_string(), "5".to_string()],
    };
    store.lock().unwrap().interfere = Some(("x".to_string(), theirs.text()));
    let (_, v) = page(&mut a, 1, &[item("x", 1)]);
    assert_eq!(
        v,
        [Verdict::Changed {
            fields: vec![1],
            previous: vec!["5".to_string()],
        }],
        "judged again against the value the other daemon wrote"
    );
    assert_eq!(store.lock().unwrap().lines.len(), 2, "one commit per page");
}

#[test]
fn a_page_another_daemon_committed_writes_nothing_here() {
    let store = Arc::new(Mutex::new(Store::default()));
    let (mut a, mut b) = (watch(&store, 1), watch(&store, 1));
    assert_eq!(page(&mut a, 4, &[item("x", 1)]).0, 1);
    assert_eq!(page(&mut b, 4, &[item("x", 1)]).0, 0);
}

#[test]
fn a_value_in_the_shared_store_that_is_not_ours_is_an_error_naming_its_key() {
    let store = Arc::new(Mutex::new(Store::default()));
    store
        .lock()
        .unwrap()
        .items
        .insert("x".to_string(), "garbage".to_string());
    let mut a = watch(&store, 1);
    let mut buf = Vec::new();
    let err = a
        .page(
            0,
            "http://x/",
            &Validators::default(),
            &[item("x", 1)],
            &mut buf,
            |_, _| 0,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("value of key \"x\" is not pagecrawl's: garbage"),
        "{err:#}"
    );
    assert!(store.lock().unwrap().done.is_empty(), "nothing committed");
}

#[test]
fn a_key_listed_twice_on_a_page_is_compared_with_its_first_listing() {
    let store = Arc::new(Mutex::new(Store::default()));
    let mut a = watch(&store, 1);
    let (_, v) = page(&mut a, 0, &[item("x", 1), item("x", 1), item("x", 2)]);
    assert_eq!(v[..2], [Verdict::New, Verdict::Unchanged]);
    assert!(matches!(v[2], Verdict::Changed { .. }));
    let known: Known = serde_json::from_str(&store.lock().unwrap().items["x"]).unwrap();
    assert_eq!(known.f[1], "2", "the last listing is kept");
}

#[test]
fn gone_keys_are_those_not_listed_this_round_and_not_gone_already() {
    let store = Arc::new(Mutex::new(Store::default()));
    let mut one = watch(&store, 1);
    page(&mut one, 0, &[item("a", 1), item("b", 1), item("c", 1)]);
    store.lock().unwrap().done.clear();
    let mut two = watch(&store, 2);
    page(&mut two, 0, &[item("b", 1)]);
    let mut gone = Vec::new();
    let mut cursor = 0;
    loop {
        let (next, batch) = two.gone_at(cursor).unwrap();
        if !batch.items.is_empty() {
            assert!(two.commit_gone(&batch, b"").unwrap().is_some());
            gone.extend(batch.items.iter().map(|k| k.f[0].clone()));
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(gone, ["\"a\"", "\"c\""]);
    // Gone once: a second sweep finds nothing; listed again, a gone key is new.
    let (_, batch) = two.gone_at(0).unwrap();
    assert!(batch.items.is_empty() && two.gone_at(2).unwrap().1.items.is_empty());
    store.lock().unwrap().done.clear();
    let mut three = watch(&store, 3);
    assert_eq!(page(&mut three, 0, &[item("a", 1)]).1, [Verdict::New]);
}
