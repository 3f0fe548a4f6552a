//! The candidates for the token manager's cache, measured side by side (part of the scale
//! section): the sharded `std::sync::RwLock<HashMap>` the manager uses, `papaya`, `dashmap` and
//! `scc`, against a plain `HashMap` (inserts single-threaded, reads shared without a lock). Each
//! holds what the manager holds per key (an `Arc` of a slot with an `ArcSwapOption` of the
//! token); a read clones the token, as `access_token` does.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use arc_swap::ArcSwapOption;

type Hasher = std::collections::hash_map::RandomState;

struct Slot {
    cached: ArcSwapOption<String>,
}

fn slot() -> Arc<Slot> {
    Arc::new(Slot {
        cached: ArcSwapOption::from_pointee(Some(
            "xoxe.xoxb-1-MS0yLTIyMTY0Njc0NTk0NC0zNjU5NjIxNzE5MzYzLTM3MTQ5NjY0NTY5OTQ".to_owned(),
        )),
    })
}

fn token(slot: &Slot) -> Option<String> {
    slot.cached.load().as_ref().map(|t| String::clone(t))
}

trait Map: Send + Sync {
    fn insert(&self, key: String);
    fn read(&self, key: &str) -> Option<String>;
}

const SHARDS: usize = 64;

struct Sharded {
    shard_of: Hasher,
    shards: Vec<RwLock<HashMap<String, Arc<Slot>>>>,
}

impl Sharded {
    fn shard(&self, key: &str) -> &RwLock<HashMap<String, Arc<Slot>>> {
        &self.shards[self.shard_of.hash_one(key) as usize % SHARDS]
    }
}

impl Map for Sharded {
    fn insert(&self, key: String) {
        if let Ok(mut shard) = self.shard(&key).write() {
            shard.entry(key).or_insert_with(slot);
        }
    }
    fn read(&self, key: &str) -> Option<String> {
        let shard = self.shard(key).read().ok()?;
        token(shard.get(key)?)
    }
}

impl Map for papaya::HashMap<String, Arc<Slot>> {
    fn insert(&self, key: String) {
        self.pin().get_or_insert_with(key, slot);
    }
    fn read(&self, key: &str) -> Option<String> {
        token(self.pin().get(key)?)
    }
}

impl Map for dashmap::DashMap<String, Arc<Slot>> {
    fn insert(&self, key: String) {
        self.entry(key).or_insert_with(slot);
    }
    fn read(&self, key: &str) -> Option<String> {
        token(self.get(key)?.value())
    }
}

impl Map for scc::HashMap<String, Arc<Slot>> {
    fn insert(&self, key: String) {
        let _ = self.entry(key).or_insert_with(slot);
    }
    fn read(&self, key: &str) -> Option<String> {
        self.read(key, |_, slot| token(slot)).flatten()
    }
}

/// A plain `HashMap`, read without a lock (it is not written while read).
struct Plain(HashMap<String, Arc<Slot>>);

impl Map for Plain {
    fn insert(&self, _key: String) {}
    fn read(&self, key: &str) -> Option<String> {
        token(self.0.get(key)?)
    }
}

/// Makes an empty candidate.
type MakeMap = fn() -> Box<dyn Map>;

const READS: usize = 1_000_000;

/// Reads per second of uniformly random keys, in `threads` threads.
fn reads(map: &Arc<dyn Map>, keys: &Arc<Vec<String>>, threads: usize) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (map, keys) = (map.clone(), keys.clone());
            std::thread::spawn(move || {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1);
                for _ in 0..READS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = &keys[(x % keys.len() as u64) as usize];
                    black_box(map.read(key));
                }
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
    (READS * threads) as f64 / started.elapsed().as_secs_f64()
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("slack:T{i:09}:bot")).collect()
}

/// The table's rows: per map and N, insert cost per key and reads per second at 1 and 2
/// threads.
pub(crate) fn run() -> String {
    let mut rows = String::new();
    let candidates: [(&str, MakeMap); 4] = [
        ("sharded `std::sync::RwLock<HashMap>` (ours)", || {
            Box::new(Sharded {
                shard_of: Hasher::default(),
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            })
        }),
        ("papaya 0.2", || {
            Box::new(papaya::HashMap::<String, Arc<Slot>>::new())
        }),
        ("dashmap 6", || {
            Box::new(dashmap::DashMap::<String, Arc<Slot>>::new())
        }),
        ("scc 2", || {
            Box::new(scc::HashMap::<String, Arc<Slot>>::default())
        }),
    ];
    for n in [1_000, 1_000_000] {
        let keys = Arc::new(keys(n));
        let started = Instant::now();
        let mut plain = HashMap::new();
        for key in keys.iter() {
            plain.insert(key.clone(), slot());
        }
        let insert = started.elapsed().as_nanos() as f64 / n as f64;
        let plain: Arc<dyn Map> = Arc::new(Plain(plain));
        let (one, two) = (reads(&plain, &keys, 1), reads(&plain, &keys, 2));
        rows.push_str(&format!(
            "| plain `HashMap` (baseline) | {n} | {insert:.0} ns | {:.2} M/s | {:.2} M/s |\n",
            one / 1e6,
            two / 1e6
        ));
        for (name, make) in candidates {
            let map = make();
            let started = Instant::now();
            for key in keys.iter() {
                map.insert(key.clone());
            }
            let insert = started.elapsed().as_nanos() as f64 / n as f64;
            let map: Arc<dyn Map> = Arc::from(map);
            let (r1, r2) = (reads(&map, &keys, 1), reads(&map, &keys, 2));
            rows.push_str(&format!(
                "| {name} | {n} | {insert:.0} ns | {:.2} M/s ({:.2}×) | {:.2} M/s ({:.2}×) |\n",
                r1 / 1e6,
                r1 / one,
                r2 / 1e6,
                r2 / two
            ));
        }
    }
    format!(
        "### Candidates for the cache\n\n\
         Insert cost per key (one thread) and reads per second of uniformly random keys \
         ({READS} per thread; one round), each read cloning the token; ratios against the plain \
         `HashMap` read without a lock.\n\n\
         | map | N | insert | reads, 1 thread | reads, 2 threads |\n\
         | --- | --- | --- | --- | --- |\n{rows}"
    )
}
