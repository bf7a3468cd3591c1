//! Once-per-run memoisation: the first caller of a key computes the value, concurrent callers
//! of the same key wait for it, later callers get a copy. Failures are cached too, so a
//! registry that is down is asked (with its retries) once per reference, not once per image
//! that names it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Debug)]
pub struct OnceMap<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceLock<V>>>>,
}

impl<K, V> Default for OnceMap<K, V> {
    fn default() -> Self {
        OnceMap {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> OnceMap<K, V> {
    /// The value for `key`, computed by `compute` if nobody has yet. The map's lock is held
    /// only to find the key's cell, so different keys are computed in parallel.
    pub fn get_or_compute(&self, key: K, compute: impl FnOnce() -> V) -> V {
        let cell = {
            // A panic while holding the lock cannot leave the map inconsistent (an insert is
            // atomic), so a poisoned lock is still usable.
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            cells.entry(key).or_default().clone()
        };
        cell.get_or_init(compute).clone()
    }

    /// The value for `key` if it has been computed.
    pub fn get(&self, key: &K) -> Option<V> {
        let cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        cells.get(key).and_then(|cell| cell.get().cloned())
    }

    /// Records a value learnt another way (a digest from a `GET`), unless one is known.
    pub fn set_if_absent(&self, key: K, value: V) {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            cells.entry(key).or_default().clone()
        };
        let _ = cell.set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_callers_of_one_key_compute_once() {
        let map: OnceMap<&str, usize> = OnceMap::default();
        let calls = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    map.get_or_compute("k", || {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        calls.fetch_add(1, Ordering::SeqCst)
                    })
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(map.get_or_compute("other", || 7), 7);
    }
}
