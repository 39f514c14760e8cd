//! A bounded record of what a stand-in received: the newest 10,000 entries and a total count,
//! so a demo left under load does not grow without limit.

use std::collections::VecDeque;

const CAP: usize = 10_000;

pub(crate) struct History<T> {
    items: VecDeque<T>,
    total: usize,
}

impl<T: Clone> History<T> {
    pub(crate) fn new() -> Self {
        History {
            items: VecDeque::new(),
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() == CAP {
            self.items.pop_front();
        }
        self.items.push_back(item);
        self.total += 1;
    }

    /// The newest entries, oldest first.
    pub(crate) fn items(&self) -> Vec<T> {
        self.items.iter().cloned().collect()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    /// Everything ever pushed, including entries no longer kept.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}
