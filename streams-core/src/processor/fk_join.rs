//! The foreign-key table join (KIP-213), as Kafka Streams'
//! `foreignkeyjoin` package.
//!
//! The left table's rows subscribe to the right table's rows through an
//! internal topic keyed by the foreign key (`...-SUBSCRIPTION-REGISTRATION`):
//! a change of a left row sends a subscription to its new foreign key and,
//! when the foreign key changed, an unsubscription to the old one. On the
//! right side the subscriptions are kept in a store keyed by
//! `[4-byte fk length][fk][pk]`; a subscription is answered with the right
//! row's current value, and a change of a right row answers every
//! subscription of its key (a prefix scan). Answers travel back through a
//! second internal topic (`...-SUBSCRIPTION-RESPONSE`) keyed by the left
//! key, where the resolver joins them with the left row's current value.
//!
//! Each subscription carries a hash (128-bit murmur3, as Kafka Streams')
//! of the left value that sent it; an answer whose hash no longer matches
//! the left row is stale and dropped, so out-of-order answers never
//! overwrite newer results. The byte layouts of the wrappers, the combined
//! key and the hash are Kafka Streams', so the internal topics and the
//! subscription store's changelog interoperate with Java applications.

use std::sync::Arc;

use super::value_getter::{ValueGetter, ValueGetterSupplier};
use super::{Processor, ProcessorContext, Record, StreamPartitioner};
use crate::error::StreamsError;
use crate::serde::{Change, Serde, SerdeError, SerdeRef};
use crate::state::{TimestampedKeyValueStore, ValueAndTimestamp};

// ---------------------------------------------------------------------------
// Murmur3 (Kafka Streams' `Murmur3.hash128`, seed 104729)
// ---------------------------------------------------------------------------

/// The 128-bit murmur3 (x64 variant) of `data` with Kafka Streams' seed.
pub(crate) fn murmur3_hash128(data: &[u8]) -> [i64; 2] {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    const SEED: u64 = 104_729;
    let fmix = |mut h: u64| {
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        h
    };
    let (mut h1, mut h2) = (SEED, SEED);
    let blocks = data.len() / 16;
    for i in 0..blocks {
        let b = &data[i * 16..i * 16 + 16];
        let mut k1 = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let mut k2 = u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = &data[blocks * 16..];
    let (mut k1, mut k2) = (0u64, 0u64);
    for (i, &byte) in tail.iter().enumerate().skip(8) {
        k2 ^= u64::from(byte) << ((i - 8) * 8);
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
    }
    for (i, &byte) in tail.iter().enumerate().take(8) {
        k1 ^= u64::from(byte) << (i * 8);
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
    }
    // Java xors the int length, sign-extended to long.
    let len = data.len() as i32 as i64 as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    [h1 as i64, h2 as i64]
}

// ---------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------

/// What the receiving side does with a subscription (Kafka Streams'
/// `SubscriptionWrapper.Instruction`, same byte values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instruction {
    /// Unsubscribe; answer nothing.
    DeleteKeyNoPropagate = 0,
    /// Unsubscribe; answer with a null (the result is deleted).
    DeleteKeyAndPropagate = 1,
    /// Subscribe; answer with the value, or a null if there is none.
    PropagateNullIfNoFkValAvailable = 2,
    /// Subscribe; answer only if there is a value.
    PropagateOnlyIfFkValAvailable = 3,
}

impl Instruction {
    fn from_byte(b: u8) -> Option<Instruction> {
        Some(match b {
            0 => Instruction::DeleteKeyNoPropagate,
            1 => Instruction::DeleteKeyAndPropagate,
            2 => Instruction::PropagateNullIfNoFkValAvailable,
            3 => Instruction::PropagateOnlyIfFkValAvailable,
            _ => return None,
        })
    }
}

/// A subscription of a left row to a foreign key.
#[derive(Debug, Clone)]
pub(crate) struct SubscriptionWrapper<K> {
    pub(crate) hash: Option<[i64; 2]>,
    pub(crate) instruction: Instruction,
    pub(crate) primary_key: K,
    pub(crate) primary_partition: Option<i32>,
}

/// Kafka Streams' `SubscriptionWrapperSerde`, version 1:
/// `{1-bit hash-is-null}{7-bit version}{instruction}{16-byte hash?}{pk}{4-byte partition}`.
pub(crate) struct SubscriptionWrapperSerde<K> {
    pub(crate) key_serde: SerdeRef<K>,
}

fn malformed(what: &'static str, topic: &str) -> SerdeError {
    SerdeError::Deserialize {
        type_name: what,
        topic: topic.to_string(),
        reason: "malformed foreign-key join record".into(),
    }
}

impl<K> Serde<SubscriptionWrapper<K>> for SubscriptionWrapperSerde<K> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &SubscriptionWrapper<K>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        let version = 1u8;
        match &value.hash {
            Some(h) => {
                out.push(version);
                out.push(value.instruction as u8);
                out.extend_from_slice(&h[0].to_be_bytes());
                out.extend_from_slice(&h[1].to_be_bytes());
            }
            None => {
                out.push(version | 0x80);
                out.push(value.instruction as u8);
            }
        }
        self.key_serde
            .serialize_into(topic, &value.primary_key, out)?;
        out.extend_from_slice(&value.primary_partition.unwrap_or(-1).to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<SubscriptionWrapper<K>, SerdeError> {
        let bad = || malformed("SubscriptionWrapper", topic);
        let (&first, rest) = bytes.split_first().ok_or_else(bad)?;
        let version = first & 0x7f;
        let hash_is_null = first & 0x80 != 0;
        let (&inst, mut rest) = rest.split_first().ok_or_else(bad)?;
        let instruction = Instruction::from_byte(inst).ok_or_else(bad)?;
        let hash = if hash_is_null {
            None
        } else {
            let h0 = i64::from_be_bytes(
                rest.get(..8)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            );
            let h1 = i64::from_be_bytes(
                rest.get(8..16)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            );
            rest = &rest[16..];
            Some([h0, h1])
        };
        let (pk, partition) = if version > 0 {
            let split = rest.len().checked_sub(4).ok_or_else(bad)?;
            let p = i32::from_be_bytes(rest[split..].try_into().map_err(|_| bad())?);
            (&rest[..split], Some(p))
        } else {
            (rest, None)
        };
        Ok(SubscriptionWrapper {
            hash,
            instruction,
            primary_key: self.key_serde.deserialize(topic, pk)?,
            primary_partition: partition,
        })
    }
}

/// An answer to a subscription: the right value (`None`: none or deleted)
/// and the hash of the left value that subscribed.
#[derive(Debug, Clone)]
pub(crate) struct SubscriptionResponseWrapper<VO> {
    pub(crate) original_value_hash: Option<[i64; 2]>,
    pub(crate) foreign_value: Option<VO>,
    /// Where to send the answer; not serialized.
    pub(crate) primary_partition: Option<i32>,
}

/// Kafka Streams' `SubscriptionResponseWrapperSerde`, version 0:
/// `{1-bit hash-is-null}{7-bit version}{16-byte hash?}{value?}`.
pub(crate) struct ResponseWrapperSerde<VO> {
    pub(crate) value_serde: SerdeRef<VO>,
}

impl<VO> Serde<SubscriptionResponseWrapper<VO>> for ResponseWrapperSerde<VO> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &SubscriptionResponseWrapper<VO>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        match &value.original_value_hash {
            Some(h) => {
                out.push(0);
                out.extend_from_slice(&h[0].to_be_bytes());
                out.extend_from_slice(&h[1].to_be_bytes());
            }
            None => out.push(0x80),
        }
        if let Some(v) = &value.foreign_value {
            self.value_serde.serialize_into(topic, v, out)?;
        }
        Ok(())
    }

    fn deserialize(
        &self,
        topic: &str,
        bytes: &[u8],
    ) -> Result<SubscriptionResponseWrapper<VO>, SerdeError> {
        let bad = || malformed("SubscriptionResponseWrapper", topic);
        let (&first, mut rest) = bytes.split_first().ok_or_else(bad)?;
        let hash = if first & 0x80 != 0 {
            None
        } else {
            let h0 = i64::from_be_bytes(
                rest.get(..8)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            );
            let h1 = i64::from_be_bytes(
                rest.get(8..16)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            );
            rest = &rest[16..];
            Some([h0, h1])
        };
        let foreign_value = if rest.is_empty() {
            None
        } else {
            Some(self.value_serde.deserialize(topic, rest)?)
        };
        Ok(SubscriptionResponseWrapper {
            original_value_hash: hash,
            foreign_value,
            primary_partition: None,
        })
    }
}

/// The subscription store's key: `[4-byte fk length][fk][pk]`.
fn combined_key_prefix<KO>(
    fk_serde: &dyn Serde<KO>,
    topic: &str,
    fk: &KO,
) -> Result<Vec<u8>, SerdeError> {
    let fk_bytes = fk_serde.serialize(topic, fk)?;
    let mut out = Vec::with_capacity(4 + fk_bytes.len() + 16);
    out.extend_from_slice(&(fk_bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(&fk_bytes);
    Ok(out)
}

// ---------------------------------------------------------------------------
// Processors
// ---------------------------------------------------------------------------

/// Extracts the foreign key of a left row (`None`: no foreign key).
pub(crate) type ForeignKeyExtractor<K, V, KO> = Arc<dyn Fn(&K, &V) -> Option<KO> + Send + Sync>;

/// `KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION`: turns left changes into
/// subscriptions, keyed by foreign key.
pub(crate) struct SubscriptionSend<K, V, KO> {
    pub(crate) extractor: ForeignKeyExtractor<K, V, KO>,
    pub(crate) fk_serde: SerdeRef<KO>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) left_join: bool,
    pub(crate) serde_topic: String,
}

impl<K, V, KO> SubscriptionSend<K, V, KO>
where
    K: Clone + 'static,
    KO: Clone + 'static,
{
    fn fk_changed(&self, new: Option<&KO>, old: &KO) -> Result<bool, StreamsError> {
        let old = self.fk_serde.serialize(&self.serde_topic, old)?;
        let new = match new {
            Some(n) => Some(self.fk_serde.serialize(&self.serde_topic, n)?),
            None => None,
        };
        Ok(new.as_deref() != Some(old.as_slice()))
    }

    fn send(
        &self,
        ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
        record: &Record<K, Change<V>>,
        key: &K,
        fk: Option<KO>,
        instruction: Instruction,
        hash: Option<[i64; 2]>,
    ) -> Result<(), StreamsError> {
        let wrapper = SubscriptionWrapper {
            hash,
            instruction,
            primary_key: key.clone(),
            primary_partition: ctx.record_metadata().map(|m| m.partition),
        };
        let out = Record {
            key: fk,
            value: Some(wrapper),
            timestamp: record.timestamp,
            headers: record.headers.clone(),
        };
        ctx.forward(out)
    }
}

impl<K, V, KO> Processor<K, Change<V>, KO, SubscriptionWrapper<K>> for SubscriptionSend<K, V, KO>
where
    K: Clone + 'static,
    V: 'static,
    KO: Clone + 'static,
{
    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(change)) = (record.key.as_ref(), record.value.as_ref()) else {
            return Ok(());
        };
        let hash = match &change.new_value {
            Some(v) => Some(murmur3_hash128(
                &self.value_serde.serialize(&self.serde_topic, v)?,
            )),
            None => None,
        };
        let old_fk = change
            .old_value
            .as_ref()
            .and_then(|v| (self.extractor)(key, v));
        if self.left_join {
            if change.old_value.is_none() && change.new_value.is_none() {
                return Ok(());
            }
            let new_fk = change
                .new_value
                .as_ref()
                .and_then(|v| (self.extractor)(key, v));
            if let Some(old) = old_fk
                && self.fk_changed(new_fk.as_ref(), &old)?
            {
                self.send(
                    ctx,
                    &record,
                    key,
                    Some(old),
                    Instruction::DeleteKeyNoPropagate,
                    hash,
                )?;
            }
            return self.send(
                ctx,
                &record,
                key,
                new_fk,
                Instruction::PropagateNullIfNoFkValAvailable,
                hash,
            );
        }
        match &change.new_value {
            Some(new_value) => match (self.extractor)(key, new_value) {
                None => {
                    log::warn!(
                        "Skipping record due to null foreign key. node=[{}]",
                        ctx.node_name()
                    );
                    ctx.metrics().dropped_records += 1;
                    if let Some(old) = old_fk {
                        self.send(
                            ctx,
                            &record,
                            key,
                            Some(old),
                            Instruction::DeleteKeyAndPropagate,
                            hash,
                        )?;
                    }
                    Ok(())
                }
                Some(new_fk) => match old_fk {
                    Some(old) => {
                        if self.fk_changed(Some(&new_fk), &old)? {
                            self.send(
                                ctx,
                                &record,
                                key,
                                Some(old),
                                Instruction::DeleteKeyNoPropagate,
                                hash,
                            )?;
                            self.send(
                                ctx,
                                &record,
                                key,
                                Some(new_fk),
                                Instruction::PropagateNullIfNoFkValAvailable,
                                hash,
                            )
                        } else {
                            self.send(
                                ctx,
                                &record,
                                key,
                                Some(new_fk),
                                Instruction::PropagateOnlyIfFkValAvailable,
                                hash,
                            )
                        }
                    }
                    None => self.send(
                        ctx,
                        &record,
                        key,
                        Some(new_fk),
                        Instruction::PropagateOnlyIfFkValAvailable,
                        hash,
                    ),
                },
            },
            None => match old_fk {
                Some(old) => self.send(
                    ctx,
                    &record,
                    key,
                    Some(old),
                    Instruction::DeleteKeyAndPropagate,
                    hash,
                ),
                None => Ok(()),
            },
        }
    }
}

/// A subscription as the receiving side passes it on: the combined key's
/// parts and the subscription with its record timestamp.
#[derive(Debug, Clone)]
pub(crate) struct ReceivedSubscription<K> {
    pub(crate) wrapper: SubscriptionWrapper<K>,
    pub(crate) timestamp: i64,
}

/// The key of a received subscription: the foreign key (`None` only for a
/// left join's subscription without one) and the left key.
#[derive(Debug, Clone)]
pub(crate) struct CombinedKey<KO, K> {
    pub(crate) foreign_key: Option<KO>,
    pub(crate) primary_key: K,
}

/// `...-SUBSCRIPTION-PROCESSOR` (receive): keeps subscriptions in the
/// subscription store (removes unsubscriptions) and passes them on.
pub(crate) struct SubscriptionReceive<K, KO> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Vec<u8>, SubscriptionWrapper<K>>>,
    pub(crate) fk_serde: SerdeRef<KO>,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) serde_topic: String,
}

impl<K, KO> Processor<KO, SubscriptionWrapper<K>, CombinedKey<KO, K>, ReceivedSubscription<K>>
    for SubscriptionReceive<K, KO>
where
    K: Clone + 'static,
    KO: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, CombinedKey<KO, K>, ReceivedSubscription<K>>,
    ) -> Result<(), StreamsError> {
        self.store = Some(ctx.get_state_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<KO, SubscriptionWrapper<K>>,
        ctx: &mut ProcessorContext<'_, CombinedKey<KO, K>, ReceivedSubscription<K>>,
    ) -> Result<(), StreamsError> {
        let Some(wrapper) = record.value.clone() else {
            return Ok(());
        };
        let Some(fk) = record.key.clone() else {
            if wrapper.instruction != Instruction::PropagateNullIfNoFkValAvailable {
                log::warn!(
                    "Skipping record due to null foreign key. node=[{}]",
                    ctx.node_name()
                );
                ctx.metrics().dropped_records += 1;
                return Ok(());
            }
            let out = Record {
                key: Some(CombinedKey {
                    foreign_key: None,
                    primary_key: wrapper.primary_key.clone(),
                }),
                value: Some(ReceivedSubscription {
                    wrapper,
                    timestamp: record.timestamp,
                }),
                timestamp: record.timestamp,
                headers: record.headers,
            };
            return ctx.forward(out);
        };
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| super::aggregate::not_initialized(ctx.node_name()))?;
        let mut store_key = combined_key_prefix(self.fk_serde.as_ref(), &self.serde_topic, &fk)?;
        self.key_serde
            .serialize_into(&self.serde_topic, &wrapper.primary_key, &mut store_key)?;
        match wrapper.instruction {
            Instruction::DeleteKeyAndPropagate | Instruction::DeleteKeyNoPropagate => {
                store.delete(&store_key)?;
            }
            _ => {
                store.put(
                    &store_key,
                    Some(ValueAndTimestamp::new(wrapper.clone(), record.timestamp)),
                )?;
            }
        }
        let out = Record {
            key: Some(CombinedKey {
                foreign_key: Some(fk),
                primary_key: wrapper.primary_key.clone(),
            }),
            value: Some(ReceivedSubscription {
                wrapper,
                timestamp: record.timestamp,
            }),
            timestamp: record.timestamp,
            headers: record.headers,
        };
        ctx.forward(out)
    }
}

/// `...-SUBSCRIPTION-PROCESSOR` (join foreign): answers a subscription with
/// the right table's current value for its foreign key.
pub(crate) struct SubscriptionJoin<K, KO, VO> {
    pub(crate) foreign: ValueGetterSupplier<KO, VO>,
    pub(crate) getter: Option<Box<dyn ValueGetter<KO, VO>>>,
    pub(crate) _k: std::marker::PhantomData<fn(K)>,
}

impl<K, KO, VO>
    Processor<CombinedKey<KO, K>, ReceivedSubscription<K>, K, SubscriptionResponseWrapper<VO>>
    for SubscriptionJoin<K, KO, VO>
where
    K: Clone + 'static,
    KO: Clone + 'static,
    VO: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), StreamsError> {
        let mut getter = self.foreign.get();
        getter.init(ctx)?;
        self.getter = Some(getter);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<CombinedKey<KO, K>, ReceivedSubscription<K>>,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(sub)) = (record.key, record.value) else {
            return Ok(());
        };
        let getter = self
            .getter
            .as_ref()
            .ok_or_else(|| super::aggregate::not_initialized(ctx.node_name()))?;
        let foreign = match &key.foreign_key {
            Some(fk) => getter.get(fk)?,
            None => None,
        };
        let timestamp = foreign
            .as_ref()
            .map_or(sub.timestamp, |f| sub.timestamp.max(f.timestamp));
        let wrapper = sub.wrapper;
        let foreign_value = match wrapper.instruction {
            Instruction::DeleteKeyAndPropagate => None,
            Instruction::PropagateNullIfNoFkValAvailable => foreign.map(|f| f.value),
            Instruction::PropagateOnlyIfFkValAvailable => match foreign {
                Some(f) => Some(f.value),
                None => return Ok(()),
            },
            Instruction::DeleteKeyNoPropagate => return Ok(()),
        };
        let out = Record {
            key: Some(key.primary_key),
            value: Some(SubscriptionResponseWrapper {
                original_value_hash: wrapper.hash,
                foreign_value,
                primary_partition: wrapper.primary_partition,
            }),
            timestamp,
            headers: record.headers,
        };
        ctx.forward(out)
    }
}

/// `...-SUBSCRIPTION-PROCESSOR` (foreign join subscription): a change of a
/// right row answers every subscription to its key.
pub(crate) struct ForeignTableJoin<K, KO> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Vec<u8>, SubscriptionWrapper<K>>>,
    pub(crate) fk_serde: SerdeRef<KO>,
    pub(crate) serde_topic: String,
}

impl<K, KO, VO> Processor<KO, Change<VO>, K, SubscriptionResponseWrapper<VO>>
    for ForeignTableJoin<K, KO>
where
    K: Clone + 'static,
    KO: Clone + 'static,
    VO: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), StreamsError> {
        self.store = Some(ctx.get_state_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<KO, Change<VO>>,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), StreamsError> {
        let Some(fk) = record.key.as_ref() else {
            log::warn!(
                "Skipping record due to null key. node=[{}]",
                ctx.node_name()
            );
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let new_value = record.value.as_ref().and_then(|c| c.new_value.clone());
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| super::aggregate::not_initialized(ctx.node_name()))?;
        let prefix = combined_key_prefix(self.fk_serde.as_ref(), &self.serde_topic, fk)?;
        for (_k, sub) in store.prefix_scan(&prefix)? {
            let out = Record {
                key: Some(sub.value.primary_key),
                value: Some(SubscriptionResponseWrapper {
                    original_value_hash: sub.value.hash,
                    foreign_value: new_value.clone(),
                    primary_partition: sub.value.primary_partition,
                }),
                timestamp: record.timestamp,
                headers: record.headers.clone(),
            };
            ctx.forward(out)?;
        }
        Ok(())
    }
}

/// Joins an answer with the left row, or deletes the result.
pub(crate) type FkJoiner<V, VO, VR> = Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>;

/// `KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR`: drops stale
/// answers (the left row changed since) and joins the others with the
/// left row's current value.
pub(crate) struct ResponseJoin<K, V, VO, VR> {
    pub(crate) left: ValueGetterSupplier<K, V>,
    pub(crate) getter: Option<Box<dyn ValueGetter<K, V>>>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) serde_topic: String,
    pub(crate) joiner: FkJoiner<V, VO, VR>,
    pub(crate) left_join: bool,
}

impl<K, V, VO, VR> Processor<K, SubscriptionResponseWrapper<VO>, K, VR>
    for ResponseJoin<K, V, VO, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VO: Clone + 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<(), StreamsError> {
        let mut getter = self.left.get();
        getter.init(ctx)?;
        self.getter = Some(getter);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, SubscriptionResponseWrapper<VO>>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(response)) = (record.key.as_ref(), record.value.as_ref()) else {
            return Ok(());
        };
        let getter = self
            .getter
            .as_ref()
            .ok_or_else(|| super::aggregate::not_initialized(ctx.node_name()))?;
        let current = getter.get(key)?;
        let current_hash = match &current {
            Some(c) => Some(murmur3_hash128(
                &self.value_serde.serialize(&self.serde_topic, &c.value)?,
            )),
            None => None,
        };
        if current_hash != response.original_value_hash {
            ctx.metrics().dropped_records += 1;
            return Ok(());
        }
        let result = match (&response.foreign_value, &current) {
            (None, _) if !self.left_join || current.is_none() => None,
            (foreign, Some(c)) => (self.joiner)(&c.value, foreign.as_ref()),
            (_, None) => None,
        };
        let out = Record {
            key: record.key,
            value: result,
            timestamp: record.timestamp,
            headers: record.headers,
        };
        ctx.forward(out)
    }
}

/// Sends each answer back to the partition of the left row that asked
/// (Kafka Streams' default response partitioner).
pub(crate) struct ResponsePartitioner;

impl<K, VO> StreamPartitioner<K, SubscriptionResponseWrapper<VO>> for ResponsePartitioner
where
    K: 'static,
    VO: 'static,
{
    fn partition(
        &self,
        _topic: &str,
        _key: Option<&K>,
        value: Option<&SubscriptionResponseWrapper<VO>>,
        _num_partitions: i32,
    ) -> Option<i32> {
        value.and_then(|v| v.primary_partition)
    }
}

/// A user partitioner of the join's keys applied to a wrapper topic.
pub(crate) struct KeyOnlyPartitioner<K>(pub(crate) Arc<dyn StreamPartitioner<K, ()>>);

impl<K: 'static, W: 'static> StreamPartitioner<K, W> for KeyOnlyPartitioner<K> {
    fn partition(
        &self,
        topic: &str,
        key: Option<&K>,
        _value: Option<&W>,
        num_partitions: i32,
    ) -> Option<i32> {
        self.0.partition(topic, key, None, num_partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::murmur3_hash128;

    #[test]
    fn murmur3_matches_kafka_streams() {
        // Computed with Kafka Streams 4.3.1's Murmur3.hash128 (UTF-8 bytes).
        let cases: [(&str, [i64; 2]); 6] = [
            ("", [-7122613646888064702, -8341524471658347240]),
            ("a", [3702349557448790408, -1601067453332442517]),
            ("F1:p", [-5740021465621177500, 8114039475549635976]),
            (
                "0123456789abcdef",
                [1904622552327088487, -2893518741649893711],
            ),
            (
                "0123456789abcdefg",
                [-6253751916947851771, -5841899321478313166],
            ),
            (
                "0123456789abcdef0123456789abcd\u{ff}",
                [2966514208180448723, -4148020978174129471],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur3_hash128(input.as_bytes()), expected, "{input:?}");
        }
    }
}
