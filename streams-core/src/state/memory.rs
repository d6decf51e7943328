//! The in-memory key-value byte store.
//!
//! A sorted map of byte keys, like Kafka Streams' `InMemoryKeyValueStore`:
//! not persistent, so a task that opens it restores it in full from its
//! changelog.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{
    BytesIter, KeyValueBytesStore, StateStore, StoreError, StoreResult, range_is_inverted,
};

/// A key-value byte store held in a `BTreeMap`, ordered by unsigned bytes.
#[derive(Debug)]
pub struct InMemoryKeyValueStore {
    name: String,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    open: bool,
}

impl InMemoryKeyValueStore {
    /// An empty, open store.
    pub fn new(name: impl Into<String>) -> Self {
        InMemoryKeyValueStore {
            name: name.into(),
            map: BTreeMap::new(),
            open: true,
        }
    }

    fn check_open(&self) -> StoreResult<()> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }

    fn put_value(&mut self, key: &[u8], value: &[u8]) {
        // Reuse the existing buffer on overwrite: updating a key allocates
        // nothing when the new value fits.
        match self.map.get_mut(key) {
            Some(existing) => {
                existing.clear();
                existing.extend_from_slice(value);
            }
            None => {
                self.map.insert(key.to_vec(), value.to_vec());
            }
        }
    }

    fn bounded(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> std::collections::btree_map::Range<'_, Vec<u8>, Vec<u8>> {
        self.map.range::<[u8], _>((lower, upper))
    }
}

fn included(bound: Option<&[u8]>) -> Bound<&[u8]> {
    bound.map_or(Bound::Unbounded, Bound::Included)
}

impl StateStore for InMemoryKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn flush(&mut self) -> StoreResult<()> {
        // Nothing is buffered: every write is already in the map.
        Ok(())
    }

    fn close(&mut self) -> StoreResult<()> {
        self.map.clear();
        self.open = false;
        Ok(())
    }
}

impl KeyValueBytesStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.check_open()?;
        Ok(self.map.get(key).cloned())
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(Option<&[u8]>)) -> StoreResult<()> {
        self.check_open()?;
        visit(self.map.get(key).map(Vec::as_slice));
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> StoreResult<()> {
        self.check_open()?;
        match value {
            Some(value) => self.put_value(key, value),
            None => {
                self.map.remove(key);
            }
        }
        Ok(())
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.check_open()?;
        match self.map.get(key) {
            Some(existing) => Ok(Some(existing.clone())),
            None => {
                self.map.insert(key.to_vec(), value.to_vec());
                Ok(None)
            }
        }
    }

    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> StoreResult<()> {
        self.check_open()?;
        for (key, value) in entries {
            match value {
                Some(value) => self.put_value(key, value),
                None => {
                    self.map.remove(key.as_slice());
                }
            }
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.check_open()?;
        Ok(self.map.remove(key))
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        self.check_open()?;
        if range_is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let iter = self.bounded(included(from), included(to));
        Ok(Box::new(iter.map(|(k, v)| (k.clone(), v.clone()))))
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        self.check_open()?;
        if range_is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let iter = self.bounded(included(from), included(to)).rev();
        Ok(Box::new(iter.map(|(k, v)| (k.clone(), v.clone()))))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> StoreResult<BytesIter<'_>> {
        self.check_open()?;
        // Every key starting with `prefix` sorts at or after it and before
        // the first key that does not, so scanning from `prefix` while keys
        // still match visits exactly the matches. The copy lets the iterator
        // outlive the caller's slice.
        let owned = prefix.to_vec();
        let iter = self
            .bounded(Bound::Included(prefix), Bound::Unbounded)
            .take_while(move |(k, _)| k.starts_with(&owned))
            .map(|(k, v)| (k.clone(), v.clone()));
        Ok(Box::new(iter))
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.check_open()?;
        Ok(self.map.len() as u64)
    }
}
