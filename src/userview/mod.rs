//! The UserView store: a sans-IO state machine on rank 0 holding every named view.
//! One owner orders all operations, so each is linearisable. Values are opaque
//! (`Value::Pickled` bytes are unpickled only by readers); ints and floats are kept
//! natively so `incr` runs here. `wait` on a missing key parks the request; a
//! later write releases it (the caller gets the ids back from `apply`).

use crate::protocol::{ErrorKind, Reply, RequestId, UvOp, Value};
use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
pub struct Store {
    views: HashMap<String, BTreeMap<String, Value>>,
    waiters: HashMap<(String, String), Vec<RequestId>>,
    value_limit_bytes: u64,
    total_limit_bytes: u64,
    total_bytes: u64,
    operations: u64,
}

fn value_size(key: &str, value: &Value) -> u64 {
    let body = match value {
        Value::Int(_) | Value::Float(_) => 8,
        Value::Str(text) => text.len(),
        Value::Pickled(bytes) => bytes.len(),
    };
    (key.len() + body) as u64
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Reply {
    Reply::Error(kind, message.into())
}

/// What applying an operation produced: the reply, and parked waits now satisfied.
pub struct Outcome {
    /// `None` when the request is parked (a `wait` on a missing key).
    pub reply: Option<Reply>,
    pub released: Vec<(RequestId, Reply)>,
}

impl Store {
    pub fn new(value_limit_bytes: u64, total_limit_bytes: u64) -> Store {
        Store {
            value_limit_bytes,
            total_limit_bytes,
            ..Store::default()
        }
    }

    pub fn operations(&self) -> u64 {
        self.operations
    }

    /// Every view, for saving under a persistent root.
    pub fn snapshot(&self) -> Vec<(String, Vec<(String, Value)>)> {
        let mut views: Vec<_> = self
            .views
            .iter()
            .map(|(name, map)| {
                (
                    name.clone(),
                    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                )
            })
            .collect();
        views.sort_by(|a, b| a.0.cmp(&b.0));
        views
    }

    pub fn restore(&mut self, views: Vec<(String, Vec<(String, Value)>)>) {
        for (name, items) in views {
            let map = self.views.entry(name).or_default();
            for (key, value) in items {
                self.total_bytes += value_size(&key, &value);
                map.insert(key, value);
            }
        }
    }

    fn check_size(&self, key: &str, new: &Value, old: Option<&Value>) -> Result<(), Reply> {
        let size = value_size(key, new);
        if size > self.value_limit_bytes {
            return Err(error(
                ErrorKind::Value,
                format!("UserView value for key {key:?} is {size} bytes, over the limit of {} bytes (raise it with --uv-value-limit or VESPER_UV_VALUE_LIMIT)", self.value_limit_bytes),
            ));
        }
        let freed = old.map_or(0, |old| value_size(key, old));
        if self.total_bytes + size - freed.min(self.total_bytes + size) > self.total_limit_bytes {
            return Err(error(
                ErrorKind::Value,
                format!("UserViews would hold more than {} bytes in all (raise it with --uv-total-limit or VESPER_UV_TOTAL_LIMIT)", self.total_limit_bytes),
            ));
        }
        Ok(())
    }

    fn put(&mut self, view: &str, key: String, value: Value) -> Vec<(RequestId, Reply)> {
        let size = value_size(&key, &value);
        let map = self.views.entry(view.to_string()).or_default();
        if let Some(old) = map.insert(key.clone(), value.clone()) {
            self.total_bytes -= value_size(&key, &old);
        }
        self.total_bytes += size;
        self.waiters
            .remove(&(view.to_string(), key))
            .unwrap_or_default()
            .into_iter()
            .map(|id| (id, Reply::Value(Some(value.clone()))))
            .collect()
    }

    fn take(&mut self, view: &str, key: &str) -> Option<Value> {
        let old = self.views.get_mut(view)?.remove(key)?;
        self.total_bytes -= value_size(key, &old);
        Some(old)
    }

    /// Applies one operation for request `id` (needed only to park a `wait`).
    pub fn apply(&mut self, id: RequestId, view: &str, op: UvOp) -> Outcome {
        self.operations += 1;
        let mut released = Vec::new();
        let reply = match op {
            UvOp::Get(key) => Reply::Value(self.views.get(view).and_then(|m| m.get(&key)).cloned()),
            UvOp::Contains(key) => {
                Reply::Bool(self.views.get(view).is_some_and(|m| m.contains_key(&key)))
            }
            UvOp::Len => Reply::Count(self.views.get(view).map_or(0, |m| m.len() as u64)),
            UvOp::Keys => Reply::Keys(
                self.views
                    .get(view)
                    .map_or_else(Vec::new, |m| m.keys().cloned().collect()),
            ),
            UvOp::Items => Reply::Items(self.views.get(view).map_or_else(Vec::new, |m| {
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            })),
            UvOp::Set(key, value) => {
                let old = self.views.get(view).and_then(|m| m.get(&key));
                if let Err(reply) = self.check_size(&key, &value, old) {
                    return Outcome {
                        reply: Some(reply),
                        released,
                    };
                }
                released = self.put(view, key, value);
                Reply::Ok
            }
            UvOp::Delete(key) => match self.take(view, &key) {
                Some(_) => Reply::Ok,
                None => error(ErrorKind::Key, key),
            },
            UvOp::Pop(key) => Reply::Value(self.take(view, &key)),
            UvOp::SetDefault(key, value) => {
                if let Some(existing) = self.views.get(view).and_then(|m| m.get(&key)) {
                    Reply::Value(Some(existing.clone()))
                } else {
                    if let Err(reply) = self.check_size(&key, &value, None) {
                        return Outcome {
                            reply: Some(reply),
                            released,
                        };
                    }
                    released = self.put(view, key, value.clone());
                    Reply::Value(Some(value))
                }
            }
            UvOp::Update(items) => {
                for (key, value) in &items {
                    let old = self.views.get(view).and_then(|m| m.get(key));
                    if let Err(reply) = self.check_size(key, value, old) {
                        return Outcome {
                            reply: Some(reply),
                            released,
                        };
                    }
                }
                for (key, value) in items {
                    released.extend(self.put(view, key, value));
                }
                Reply::Ok
            }
            UvOp::Clear => {
                if let Some(map) = self.views.remove(view) {
                    self.total_bytes -= map.iter().map(|(k, v)| value_size(k, v)).sum::<u64>();
                }
                Reply::Ok
            }
            UvOp::Incr(key, delta) => {
                let current = self
                    .views
                    .get(view)
                    .and_then(|m| m.get(&key))
                    .cloned()
                    .unwrap_or(Value::Int(0));
                let new = match (current, delta) {
                    (Value::Int(a), Value::Int(b)) => match a.checked_add(b) {
                        Some(sum) => Value::Int(sum),
                        None => {
                            return Outcome {
                                reply: Some(error(
                                    ErrorKind::Value,
                                    format!("incr of {key:?} overflows a 64-bit integer"),
                                )),
                                released,
                            }
                        }
                    },
                    (Value::Int(a), Value::Float(b)) => Value::Float(a as f64 + b),
                    (Value::Float(a), Value::Int(b)) => Value::Float(a + b as f64),
                    (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
                    _ => {
                        return Outcome {
                            reply: Some(error(
                                ErrorKind::Type,
                                format!("incr needs a number in key {key:?} and a numeric delta"),
                            )),
                            released,
                        }
                    }
                };
                released = self.put(view, key, new.clone());
                Reply::Value(Some(new))
            }
            UvOp::CompareAndSet(key, expected, new) => {
                let current = self.views.get(view).and_then(|m| m.get(&key));
                if current == expected.as_ref() {
                    if let Err(reply) = self.check_size(&key, &new, current) {
                        return Outcome {
                            reply: Some(reply),
                            released,
                        };
                    }
                    released = self.put(view, key, new);
                    Reply::Bool(true)
                } else {
                    Reply::Bool(false)
                }
            }
            UvOp::Wait(key) => match self.views.get(view).and_then(|m| m.get(&key)) {
                Some(value) => Reply::Value(Some(value.clone())),
                None => {
                    self.waiters
                        .entry((view.to_string(), key))
                        .or_default()
                        .push(id);
                    return Outcome {
                        reply: None,
                        released,
                    };
                }
            },
        };
        Outcome {
            reply: Some(reply),
            released,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new(1024, 4096)
    }

    fn reply(store: &mut Store, op: UvOp) -> Reply {
        store.apply(0, "v", op).reply.expect("not parked")
    }

    #[test]
    fn views_are_separate_dicts() {
        let mut s = store();
        reply(&mut s, UvOp::Set("k".into(), Value::Int(1)));
        assert!(matches!(
            s.apply(0, "other", UvOp::Get("k".into())).reply,
            Some(Reply::Value(None))
        ));
        assert!(matches!(
            reply(&mut s, UvOp::Get("k".into())),
            Reply::Value(Some(Value::Int(1)))
        ));
    }

    #[test]
    fn incr_starts_at_zero_and_adds() {
        let mut s = store();
        for _ in 0..8000 {
            reply(&mut s, UvOp::Incr("n".into(), Value::Int(1)));
        }
        assert!(matches!(
            reply(&mut s, UvOp::Get("n".into())),
            Reply::Value(Some(Value::Int(8000)))
        ));
        reply(&mut s, UvOp::Set("p".into(), Value::Pickled(vec![1])));
        assert!(matches!(
            reply(&mut s, UvOp::Incr("p".into(), Value::Int(1))),
            Reply::Error(ErrorKind::Type, _)
        ));
    }

    #[test]
    fn compare_and_set_only_on_match() {
        let mut s = store();
        assert!(matches!(
            reply(&mut s, UvOp::CompareAndSet("k".into(), None, Value::Int(1))),
            Reply::Bool(true)
        ));
        assert!(matches!(
            reply(&mut s, UvOp::CompareAndSet("k".into(), None, Value::Int(2))),
            Reply::Bool(false)
        ));
        assert!(matches!(
            reply(
                &mut s,
                UvOp::CompareAndSet("k".into(), Some(Value::Int(1)), Value::Int(3))
            ),
            Reply::Bool(true)
        ));
    }

    #[test]
    fn wait_parks_until_the_key_is_set() {
        let mut s = store();
        assert!(s.apply(41, "v", UvOp::Wait("later".into())).reply.is_none());
        let outcome = s.apply(42, "v", UvOp::Set("later".into(), Value::Str("x".into())));
        assert_eq!(outcome.released.len(), 1);
        assert_eq!(outcome.released[0].0, 41);
    }

    #[test]
    fn limits_name_the_flag() {
        let mut s = store();
        let big = Value::Pickled(vec![0; 2000]);
        match reply(&mut s, UvOp::Set("k".into(), big)) {
            Reply::Error(ErrorKind::Value, message) => {
                assert!(message.contains("--uv-value-limit"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        for i in 0..4 {
            reply(
                &mut s,
                UvOp::Set(format!("k{i}"), Value::Pickled(vec![0; 1000])),
            );
        }
        match reply(
            &mut s,
            UvOp::Set("k9".into(), Value::Pickled(vec![0; 1000])),
        ) {
            Reply::Error(ErrorKind::Value, message) => {
                assert!(message.contains("--uv-total-limit"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delete_of_a_missing_key_is_a_key_error() {
        let mut s = store();
        assert!(matches!(
            reply(&mut s, UvOp::Delete("nope".into())),
            Reply::Error(ErrorKind::Key, _)
        ));
    }
}
