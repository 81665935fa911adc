//! Eviction of clean blocks: a two-segment policy (probation + protected,
//! in the spirit of 2Q / segmented LRU) so that one large scan cannot flush
//! the blocks that are read again and again.
//!
//! A block becomes clean when its upload is recorded or a read (or
//! read-ahead) fetched it; it enters *probation* (FIFO). A hit from a
//! non-sequential read promotes it to *protected*, capped at three quarters
//! of the budget (the CLOCK hand demotes the coldest back to probation).
//! Sequential readers never promote: a scan only cycles through probation.
//! Eviction takes probation's oldest first, then runs the CLOCK over
//! protected. Dirty blocks and blocks being uploaded are never in the lists.
//! Entries are invalidated lazily: a list entry is live only while the
//! block's `token` still matches.

use std::collections::VecDeque;

use super::Cache;
use crate::shard::ContentKey;

/// The two lists; entries are `(file, block index, token)`.
#[derive(Default)]
pub(crate) struct Lists {
    probation: VecDeque<(ContentKey, u64, u64)>,
    protected: VecDeque<(ContentKey, u64, u64)>,
    next_token: u64,
    /// Bytes of clean protected blocks.
    pub(crate) protected_bytes: u64,
    /// Entries (live or stale) beyond which the lists are compacted.
    compact_at: usize,
}

/// Smallest `compact_at`.
const COMPACT_MIN: usize = 1024;

impl Lists {
    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }
}

impl Cache {
    /// Puts a block that just became clean into probation.
    pub(crate) fn admit(&mut self, key: ContentKey, index: u64) {
        let token = self.lists.token();
        let Some(block) = self
            .files
            .get_mut(&key)
            .and_then(|f| f.blocks.get_mut(&index))
        else {
            return;
        };
        if !block.is_clean() {
            return;
        }
        block.token = token;
        block.protected = false;
        block.referenced = false;
        self.lists.probation.push_back((key, index, token));
        self.compact();
    }

    /// Drops stale entries once the lists grew past `compact_at` (blocks
    /// written or truncated while clean leave their entries behind).
    fn compact(&mut self) {
        let len = self.lists.probation.len() + self.lists.protected.len();
        if len <= self.lists.compact_at.max(COMPACT_MIN) {
            return;
        }
        let files = &self.files;
        let live = |(key, index, token): &(ContentKey, u64, u64)| {
            files
                .get(key)
                .and_then(|f| f.blocks.get(index))
                .is_some_and(|b| b.token == *token && b.is_clean())
        };
        self.lists.probation.retain(live);
        self.lists.protected.retain(live);
        let left = self.lists.probation.len() + self.lists.protected.len();
        self.lists.compact_at = (2 * left).max(COMPACT_MIN);
    }

    /// A read hit a clean block; `sequential` reads never promote it.
    pub(crate) fn touch(&mut self, key: ContentKey, index: u64, sequential: bool) {
        let token = self.lists.token();
        let Some(block) = self
            .files
            .get_mut(&key)
            .and_then(|f| f.blocks.get_mut(&index))
        else {
            return;
        };
        if !block.is_clean() || block.token == 0 {
            return;
        }
        if block.protected {
            block.referenced = true;
            return;
        }
        if sequential {
            return;
        }
        block.token = token;
        block.protected = true;
        block.referenced = false;
        self.lists.protected_bytes += block.frozen.as_ref().map_or(0, |b| b.len() as u64);
        self.lists.protected.push_back((key, index, token));
        self.compact();
        let cap = self.budget_bytes / 4 * 3;
        let mut steps = self.lists.protected.len() * 2;
        while self.lists.protected_bytes > cap && steps > 0 {
            steps -= 1;
            self.clock_step(false);
        }
    }

    /// Evicts clean blocks while memory exceeds the budget.
    pub(crate) fn evict(&mut self) {
        let mut steps = (self.lists.probation.len() + self.lists.protected.len()) * 2 + 1;
        while self.held_bytes + self.clean_bytes > self.budget_bytes
            && self.clean_bytes > 0
            && steps > 0
        {
            steps -= 1;
            if let Some((key, index, token)) = self.lists.probation.pop_front() {
                if self.live(key, index, token) {
                    self.drop_clean(key, index);
                }
            } else if !self.clock_step(true) {
                break;
            }
        }
    }

    fn live(&self, key: ContentKey, index: u64, token: u64) -> bool {
        self.files
            .get(&key)
            .and_then(|f| f.blocks.get(&index))
            .is_some_and(|b| b.token == token && b.is_clean())
    }

    /// One move of the CLOCK hand over protected: a referenced block gets a
    /// second chance; an unreferenced one is evicted (`evict`) or demoted to
    /// probation. Returns false when protected is empty.
    fn clock_step(&mut self, evict: bool) -> bool {
        let Some((key, index, token)) = self.lists.protected.pop_front() else {
            return false;
        };
        if !self.live(key, index, token) {
            return true;
        }
        let new_token = self.lists.token();
        let Some(block) = self
            .files
            .get_mut(&key)
            .and_then(|f| f.blocks.get_mut(&index))
        else {
            return true;
        };
        if block.referenced {
            block.referenced = false;
            block.token = new_token;
            self.lists.protected.push_back((key, index, new_token));
        } else if evict {
            self.drop_clean(key, index);
        } else {
            block.protected = false;
            block.token = new_token;
            self.lists.protected_bytes -= block.frozen.as_ref().map_or(0, |b| b.len() as u64);
            self.lists.probation.push_back((key, index, new_token));
        }
        true
    }

    fn drop_clean(&mut self, key: ContentKey, index: u64) {
        if self
            .with_block(key, index, |b| {
                b.frozen = None;
            })
            .is_ok()
        {
            self.stats.evictions += 1;
            crate::stats::add(&crate::stats::local().evictions, 1);
        }
    }
}
