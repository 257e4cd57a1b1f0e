//! What each worker's books hold and have given up, readable from other
//! threads (the run summary, `live`'s metrics) without asking the worker.

use crate::client_behaviour::ClientBook;
use crate::population::PopulationBook;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's counters, published after each batch it scores.
#[derive(Debug, Default)]
pub struct ShardCounters {
    clients: AtomicU64,
    clients_evicted: AtomicU64,
    clients_expired: AtomicU64,
    clients_retired: AtomicU64,
    retired_forgotten: AtomicU64,
    populations: AtomicU64,
    populations_evicted: AtomicU64,
    populations_shed: AtomicU64,
    populations_rested: AtomicU64,
    population_addresses: AtomicU64,
}

/// All workers' counters added up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BookTotals {
    /// Clients with behaviour state now.
    pub clients: u64,
    /// Clients that left the book, least recently seen first, for newer ones.
    pub clients_evicted: u64,
    /// Clients that left the book after `limits.client_idle_s` without a connection.
    pub clients_expired: u64,
    /// Clients that left, whose summaries are kept for learning (and for their return).
    pub clients_retired: u64,
    /// Summaries of clients that left, forgotten for newer ones.
    pub retired_forgotten: u64,
    /// Fingerprint populations now.
    pub populations: u64,
    /// Populations given up for newer ones (`limits.max_fingerprints`).
    pub populations_evicted: u64,
    /// Populations given up for the address budget (`limits.max_population_entries`).
    pub populations_shed: u64,
    /// Populations that gave back their addresses after being idle.
    pub populations_rested: u64,
    /// Addresses the populations remember now (the budget's measure).
    pub population_addresses: u64,
}

impl ShardCounters {
    pub fn publish(&self, clients: &ClientBook, pops: &PopulationBook) {
        self.clients.store(clients.len() as u64, Relaxed);
        self.clients_evicted.store(clients.evicted, Relaxed);
        self.clients_expired.store(clients.expired, Relaxed);
        self.clients_retired
            .store(clients.retired() as u64, Relaxed);
        self.retired_forgotten
            .store(clients.retired_forgotten, Relaxed);
        self.populations.store(pops.len() as u64, Relaxed);
        self.populations_evicted.store(pops.evicted, Relaxed);
        self.populations_shed.store(pops.shed, Relaxed);
        self.populations_rested.store(pops.rested, Relaxed);
        self.population_addresses
            .store(pops.entries() as u64, Relaxed);
    }

    pub fn totals<'a>(shards: impl IntoIterator<Item = &'a ShardCounters>) -> BookTotals {
        let mut t = BookTotals::default();
        for s in shards {
            t.clients += s.clients.load(Relaxed);
            t.clients_evicted += s.clients_evicted.load(Relaxed);
            t.clients_expired += s.clients_expired.load(Relaxed);
            t.clients_retired += s.clients_retired.load(Relaxed);
            t.retired_forgotten += s.retired_forgotten.load(Relaxed);
            t.populations += s.populations.load(Relaxed);
            t.populations_evicted += s.populations_evicted.load(Relaxed);
            t.populations_shed += s.populations_shed.load(Relaxed);
            t.populations_rested += s.populations_rested.load(Relaxed);
            t.population_addresses += s.population_addresses.load(Relaxed);
        }
        t
    }
}
