//! The Wing & Gong linearizability search with Lowe's memoization, for one
//! partition of a history. Plain data in, plain data out; partitioning,
//! parallelism and words live in `linearizable`.
//!
//! The search walks a linked list of call and return events (Porcupine's
//! layout): the candidates at any point are the calls that come before the
//! first return still in the list. Linearizing an op lifts its call and
//! return out; backtracking relinks them (dancing links). Each visited
//! configuration — the set of linearized ops and the model state — is
//! remembered so it is explored once.
//!
//! What makes it fast, each sound on its own:
//! - states are interned to `u32`, and the linearized set carries a
//!   Zobrist hash updated in O(1), so a memo probe hashes two words;
//! - read-only ops that are enabled and legal are linearized at once with
//!   no branch kept (see `Model::read_only`);
//! - the op whose return comes first must be linearized before anything
//!   invoked later; a state from which it can never become legal is dead
//!   (`Model::reachable`);
//! - candidates are tried definite ops first and indeterminate (`info`)
//!   ops last, so a valid history rarely pays for its crashed ops;
//! - a state that no pending op can observe before an op that must come
//!   first overwrites it (a put every later get must follow) is replaced
//!   by one canonical state, so the orders of the blind appends before
//!   that put collapse into one configuration;
//! - `info` ops have no return event: they stay candidates to the end and
//!   never have to be linearized.
//!
//! Asked to (`search`'s `record`), it also keeps each op's longest partial
//! linearization for the report's view (Porcupine's), in a prefix tree
//! updated only when the search backtracks; not asked, it pays one branch
//! per backtrack.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use hashbrown::hash_map::Entry as MapEntry;
use hashbrown::{HashMap, HashTable};

use crate::model::Model;

/// One operation handed to the search.
#[derive(Debug)]
pub struct Entry<'a, O> {
    /// The model op.
    pub op: &'a O,
    /// Invocation time.
    pub call: u64,
    /// Completion time; `None` for an indeterminate op, which may be
    /// linearized at any point after its call, or never.
    pub ret: Option<u64>,
    /// The caller's id for this op, returned in results.
    pub id: u32,
}

/// Why a partition is unknown after `fail_fast` stopped the check.
pub(crate) const STOPPED: &str = "not decided: --fail-fast stopped the check at the first invalid key";
/// Why a partition is unknown when the whole check's budget ran out.
pub(crate) const TOTAL_SPENT: &str =
    "not decided: the whole check's time budget (--total-time-limit) ran out before or during its search";

/// Budgets the search must respect, shared by concurrent searches.
pub struct Limits<'a> {
    /// Give up after this instant.
    pub deadline: Option<Instant>,
    /// Whether `deadline` is the whole check's rather than this search's.
    pub deadline_is_total: bool,
    /// Bytes that all searches together may hold.
    pub memory_limit: u64,
    /// Bytes all searches hold now.
    pub memory_used: &'a AtomicU64,
    /// Set to stop every search early (fail-fast).
    pub cancel: &'a AtomicBool,
}

/// What the search found.
#[derive(Debug)]
pub enum Search {
    /// A linearization: the ids of the linearized ops in order (`info`
    /// ops that were never needed are absent).
    Linearizable {
        /// Ids in linearization order.
        order: Vec<u32>,
    },
    /// No linearization exists.
    NotLinearizable {
        /// The longest sequence of ops that could be linearized.
        prefix: Vec<u32>,
        /// The op that had to come next and could not.
        blocked: u32,
        /// The other ops that could have gone next (concurrent with it).
        concurrent: Vec<u32>,
        /// Each op's longest partial linearization, if `record` asked.
        partials: Option<Partials>,
    },
    /// A budget ran out.
    Unknown {
        /// Which budget, in words.
        reason: String,
    },
}

/// Each op's longest partial linearization the search reached: a prefix
/// tree of steps, node `n` linearizing op `op[n]` after the steps up to
/// `parent[n]` (`None`: it is a first step), so partial linearizations
/// that begin alike share their beginning. Nodes come after their parents.
#[derive(Debug, Default)]
pub struct Partials {
    /// Each node's parent.
    pub parent: Vec<Option<u32>>,
    /// Each node's op (its id).
    pub op: Vec<u32>,
    /// Each op that was in some partial linearization (its id), and the
    /// node that ends the longest of them, in op order.
    pub ends: Vec<(u32, u32)>,
}

/// Counters describing the work done.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Configurations entered.
    pub nodes: u64,
    /// Distinct configurations remembered.
    pub memo: u64,
    /// Distinct model states.
    pub states: u64,
}

const NIL: u32 = u32::MAX;
/// Events `look_ahead` examines at most: enough to see past the
/// concurrent window, bounded so that models with no overwriting op do not
/// pay for the whole history at every step.
const LOOKAHEAD: usize = 256;

/// What looking ahead found.
enum Ahead {
    /// This pending op can never become legal.
    Dead(u32),
    /// Nothing found against this configuration.
    Live,
    /// Nothing can observe the state before it is overwritten.
    Unobservable,
}
/// The id of the initial state, interned first; it stands for every state
/// that cannot be observed.
const CANONICAL: u32 = 0;
/// How often (in entered configurations) budgets are checked.
const CHECK_EVERY: u64 = 1 << 10;

/// The best dead end so far, for the counterexample.
struct DeadEnd {
    /// (return time of the blocked op, prefix length): larger explains more.
    key: (u64, usize),
    prefix: Vec<u32>,
    blocked: u32,
    concurrent: Vec<u32>,
}

struct Frame {
    /// The op linearized to reach this configuration (`NIL` at the root).
    branch: u32,
    /// The state before `branch`.
    prev_state: u32,
    /// `order.len()` before this configuration's forced ops.
    order_mark: u32,
    /// This configuration's candidates are `cands[next..end]`.
    next: u32,
    end: u32,
    cands_start: u32,
}

/// Doubly linked list of call/return events; node `head` is a sentinel.
struct Events {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// The op of each event node.
    op: Vec<u32>,
    /// Whether each event node is a return.
    is_ret: Vec<bool>,
    call_node: Vec<u32>,
    ret_node: Vec<u32>,
    head: u32,
}

impl Events {
    fn new(calls: &[u64], rets: &[Option<u64>]) -> Events {
        // (time, kind, op): at equal times calls sort before returns, so
        // ops that share a timestamp are concurrent: intervals are closed,
        // since a clock too coarse to order two events must not order them.
        let mut ev: Vec<(u64, u8, u32)> = Vec::with_capacity(calls.len() * 2);
        for (i, (&c, r)) in calls.iter().zip(rets).enumerate() {
            ev.push((c, 0, i as u32));
            if let Some(r) = r {
                ev.push((*r, 1, i as u32));
            }
        }
        ev.sort_unstable();
        let n = ev.len();
        let head = n as u32;
        let mut e = Events {
            next: vec![NIL; n + 1],
            prev: vec![NIL; n + 1],
            op: Vec::with_capacity(n),
            is_ret: Vec::with_capacity(n),
            call_node: vec![NIL; calls.len()],
            ret_node: vec![NIL; calls.len()],
            head,
        };
        let mut last = head;
        for (node, &(_, kind, op)) in ev.iter().enumerate() {
            let node = node as u32;
            e.op.push(op);
            e.is_ret.push(kind == 1);
            if kind == 1 {
                e.ret_node[op as usize] = node;
            } else {
                e.call_node[op as usize] = node;
            }
            e.next[last as usize] = node;
            e.prev[node as usize] = last;
            last = node;
        }
        e
    }

    fn unlink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        if n != NIL {
            self.prev[n as usize] = x;
        }
    }

    fn lift(&mut self, op: u32) {
        self.unlink(self.call_node[op as usize]);
        let r = self.ret_node[op as usize];
        if r != NIL {
            self.unlink(r);
        }
    }

    fn unlift(&mut self, op: u32) {
        let r = self.ret_node[op as usize];
        if r != NIL {
            self.relink(r);
        }
        self.relink(self.call_node[op as usize]);
    }

    /// The op whose return is first in the list, if any.
    fn first_return(&self) -> Option<u32> {
        let mut x = self.next[self.head as usize];
        while x != NIL {
            if self.is_ret[x as usize] {
                return Some(self.op[x as usize]);
            }
            x = self.next[x as usize];
        }
        None
    }
}

/// The set of linearized ops, split in two: definite ops (with a Zobrist
/// hash updated in O(1)) and indeterminate ones (a separate small bitset),
/// because the memo treats them differently.
struct Linearized {
    definite: Vec<u64>,
    optional: Vec<u64>,
    hash: u64,
    /// Per op: its Zobrist key if definite; its index among the optional
    /// ops if optional.
    slot: Vec<u64>,
    is_optional: Vec<bool>,
}

impl Linearized {
    fn new(optional: &[bool]) -> Self {
        let mut next_optional = 0;
        let slot = optional
            .iter()
            .enumerate()
            .map(|(i, &o)| {
                if o {
                    next_optional += 1;
                    next_optional - 1
                } else {
                    splitmix64(i as u64)
                }
            })
            .collect();
        Linearized {
            definite: vec![0; optional.len().div_ceil(64).max(1)],
            optional: vec![0; (next_optional as usize).div_ceil(64)],
            hash: 0,
            slot,
            is_optional: optional.to_vec(),
        }
    }

    fn flip(&mut self, op: u32) {
        let slot = self.slot[op as usize];
        if self.is_optional[op as usize] {
            self.optional[slot as usize / 64] ^= 1 << (slot % 64);
        } else {
            self.definite[op as usize / 64] ^= 1 << (op % 64);
            self.hash ^= slot;
        }
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Remembered configurations, with dominance for indeterminate ops.
///
/// Lowe's memo remembers `(linearized set, state)`. Here the key is the
/// definite part of the set and the state; under it is a list of the
/// optional-op sets seen with them. A configuration that has linearized a
/// superset of some remembered optional set — with the same definite ops
/// and the same state — is dominated: it can only do less, because an
/// `info` op never has to be linearized. This keeps crashed ops from
/// multiplying the configurations by two each.
///
/// Keys are `(hash, state)` with the full bitsets kept in arenas, so a
/// hash collision is never a false hit.
struct Memo {
    table: HashTable<u32>,
    /// Per key: hash, state, and the head of its optional-set list.
    keys: Vec<(u64, u32, u32)>,
    definite: Vec<u64>,
    definite_words: usize,
    /// Optional-set list nodes: the next node (or `NIL`) and the words.
    next: Vec<u32>,
    optional: Vec<u64>,
    optional_words: usize,
}

impl Memo {
    fn new(set: &Linearized) -> Self {
        Memo {
            table: HashTable::new(),
            keys: Vec::new(),
            definite: Vec::new(),
            definite_words: set.definite.len(),
            next: Vec::new(),
            optional: Vec::new(),
            optional_words: set.optional.len(),
        }
    }

    /// Inserts; false if the configuration is remembered or dominated.
    fn insert(&mut self, set: &Linearized, state: u32) -> bool {
        let dw = self.definite_words;
        let hash = set.hash ^ splitmix64(state as u64);
        let (keys, definite) = (&self.keys, &self.definite);
        let found = self.table.find(hash, |&i| {
            let (h, s, _) = keys[i as usize];
            let start = i as usize * dw;
            h == set.hash && s == state && definite[start..start + dw] == set.definite[..]
        });
        if let Some(&i) = found {
            let ow = self.optional_words;
            let mut node = self.keys[i as usize].2;
            while node != NIL {
                let seen = &self.optional[node as usize * ow..(node as usize + 1) * ow];
                if seen.iter().zip(&set.optional).all(|(s, c)| s & !c == 0) {
                    return false;
                }
                node = self.next[node as usize];
            }
            let head = self.keys[i as usize].2;
            self.keys[i as usize].2 = self.push_optional(set, head);
            return true;
        }
        let i = self.keys.len() as u32;
        let head = self.push_optional(set, NIL);
        self.keys.push((set.hash, state, head));
        self.definite.extend_from_slice(&set.definite);
        let keys = &self.keys;
        self.table.insert_unique(hash, i, |&j| {
            let (h, s, _) = keys[j as usize];
            h ^ splitmix64(s as u64)
        });
        true
    }

    fn push_optional(&mut self, set: &Linearized, next: u32) -> u32 {
        self.next.push(next);
        self.optional.extend_from_slice(&set.optional);
        self.next.len() as u32 - 1
    }

    fn bytes(&self) -> u64 {
        (self.keys.capacity() * 16
            + self.definite.capacity() * 8
            + self.next.capacity() * 4
            + self.optional.capacity() * 8
            + self.table.capacity() * 5) as u64
    }
}

/// Interns model states to dense ids.
struct States<S> {
    ids: HashMap<S, u32>,
    list: Vec<S>,
    heap: u64,
}

impl<S: Clone + Eq + std::hash::Hash> States<S> {
    fn intern(&mut self, s: S, bytes: impl FnOnce(&S) -> usize) -> u32 {
        match self.ids.entry(s) {
            MapEntry::Occupied(e) => *e.get(),
            MapEntry::Vacant(e) => {
                let id = self.list.len() as u32;
                self.heap += bytes(e.key()) as u64;
                self.list.push(e.key().clone());
                e.insert(id);
                id
            }
        }
    }

    fn bytes(&self) -> u64 {
        self.heap * 2 + (self.list.capacity() * std::mem::size_of::<S>() * 2 + self.ids.capacity() * 8) as u64
    }
}

/// Keeps each op's longest partial linearization while the search runs.
///
/// The search's `order` is a partial linearization at every moment; its
/// longest moments are just before it backtracks, so it is recorded then.
/// Both the scan and the tree grow only by what changed since the last
/// record: `floor` bounds from below how long the partial linearizations
/// of `order`'s ops already are (a binary search finds where a longer
/// order could improve one), and `path` holds the tree nodes of `order`'s
/// prefixes, reused while `order` has not shrunk below them.
struct Recorder {
    /// Per internal op: the length of its longest partial linearization
    /// (0: none yet) and the tree node that ends it.
    best: Vec<(u32, u32)>,
    /// The tree: each node's parent (`NIL` for a first step) and op.
    parent: Vec<u32>,
    op: Vec<u32>,
    /// `path[d]`: the node for `order[..=d]`; valid below `path_low`.
    path: Vec<u32>,
    /// `floor[d]`: at most the least `best` length over `order[..=d]`;
    /// valid below `low`.
    floor: Vec<u32>,
    /// The shortest `order` has been since the last record.
    low: usize,
    /// The shortest `order` has been since `path` was last extended.
    path_low: usize,
}

impl Recorder {
    fn new(ops: usize) -> Self {
        Recorder {
            best: vec![(0, NIL); ops],
            parent: Vec::new(),
            op: Vec::new(),
            path: Vec::new(),
            floor: Vec::new(),
            low: 0,
            path_low: 0,
        }
    }

    /// `order` was cut back to `len` ops.
    fn shrunk(&mut self, len: usize) {
        self.low = self.low.min(len);
        self.path_low = self.path_low.min(len);
    }

    /// Gives every op of `order` whose partial linearization is shorter
    /// this one.
    fn record(&mut self, order: &[u32]) {
        let len = order.len() as u32;
        self.floor.truncate(self.low);
        let start = self.floor.partition_point(|&f| f >= len);
        self.floor.truncate(start);
        let mut end = NIL;
        for &i in &order[start..] {
            if self.best[i as usize].0 < len {
                if end == NIL {
                    end = self.extend_path(order);
                }
                self.best[i as usize] = (len, end);
            }
            let below = self.floor.last().copied().unwrap_or(u32::MAX);
            self.floor.push(below.min(self.best[i as usize].0));
        }
        self.low = order.len();
    }

    /// The tree node for the whole of `order` (not empty), adding the
    /// nodes `path` lacks.
    fn extend_path(&mut self, order: &[u32]) -> u32 {
        self.path.truncate(self.path_low);
        for &i in &order[self.path.len()..] {
            self.parent.push(self.path.last().copied().unwrap_or(NIL));
            self.op.push(i);
            self.path.push(self.op.len() as u32 - 1);
        }
        self.path_low = order.len();
        *self.path.last().expect("a recorded order is not empty")
    }

    fn bytes(&self) -> u64 {
        (self.best.capacity() * 8
            + (self.parent.capacity() + self.op.capacity() + self.path.capacity() + self.floor.capacity())
                * 4) as u64
    }

    /// The tree pruned to the nodes some op's longest partial
    /// linearization uses, renumbered, with ops named by `id`.
    fn finish(self, id: impl Fn(u32) -> u32) -> Partials {
        let mut renamed = vec![NIL; self.op.len()];
        for &(len, end) in &self.best {
            let mut n = end;
            while len > 0 && n != NIL && renamed[n as usize] == NIL {
                renamed[n as usize] = 0;
                n = self.parent[n as usize];
            }
        }
        let mut p = Partials::default();
        for n in 0..self.op.len() {
            if renamed[n] == NIL {
                continue;
            }
            renamed[n] = p.op.len() as u32;
            let parent = self.parent[n];
            p.parent.push((parent != NIL).then(|| renamed[parent as usize]));
            p.op.push(id(self.op[n]));
        }
        p.ends = self
            .best
            .iter()
            .enumerate()
            .filter(|(_, &(len, _))| len > 0)
            .map(|(i, &(_, end))| (id(i as u32), renamed[end as usize]))
            .collect();
        p.ends.sort_unstable();
        p
    }
}

/// Searches for a linearization of `entries` under `model`; with `record`,
/// an invalid answer carries each op's longest partial linearization.
pub fn search<M: Model>(
    model: &M,
    entries: &[Entry<'_, M::Op>],
    limits: &Limits,
    record: bool,
) -> (Search, Stats) {
    let mut s = Searcher::new(model, entries);
    s.recorder = record.then(|| Recorder::new(entries.len()));
    let result = s.run(limits);
    s.stats.states = s.states.list.len() as u64;
    limits.memory_used.fetch_sub(s.reported_bytes, Ordering::Relaxed);
    (result, s.stats)
}

struct Searcher<'m, 'o, M: Model> {
    model: &'m M,
    entries: &'m [Entry<'o, M::Op>],
    /// Entry indices in call order; internal op `i` is `entries[by_call[i]]`.
    by_call: Vec<u32>,
    optional: Vec<bool>,
    read_only: Vec<bool>,
    events: Events,
    set: Linearized,
    memo: Memo,
    states: States<M::State>,
    order: Vec<u32>,
    stats: Stats,
    reported_bytes: u64,
    best: Option<DeadEnd>,
    overwrites: Vec<bool>,
    observes: Vec<bool>,
    /// Scratch for `viable`.
    others: Vec<&'o M::Op>,
    recorder: Option<Recorder>,
}

impl<'m, 'o, M: Model> Searcher<'m, 'o, M> {
    fn new(model: &'m M, entries: &'m [Entry<'o, M::Op>]) -> Self {
        let mut by_call: Vec<u32> = (0..entries.len() as u32).collect();
        by_call.sort_by_key(|&i| entries[i as usize].call);
        let calls: Vec<u64> = by_call.iter().map(|&i| entries[i as usize].call).collect();
        let rets: Vec<Option<u64>> = by_call.iter().map(|&i| entries[i as usize].ret).collect();
        let optional: Vec<bool> = rets.iter().map(Option::is_none).collect();
        let set = Linearized::new(&optional);
        let memo = Memo::new(&set);
        Searcher {
            model,
            entries,
            optional,
            read_only: by_call
                .iter()
                .map(|&i| model.read_only(entries[i as usize].op))
                .collect(),
            events: Events::new(&calls, &rets),
            set,
            memo,
            states: States {
                ids: HashMap::new(),
                list: Vec::new(),
                heap: 0,
            },
            order: Vec::new(),
            stats: Stats::default(),
            reported_bytes: 0,
            best: None,
            overwrites: by_call
                .iter()
                .map(|&i| model.overwrites(entries[i as usize].op))
                .collect(),
            observes: by_call
                .iter()
                .map(|&i| !model.always_legal(entries[i as usize].op))
                .collect(),
            by_call,
            others: Vec::new(),
            recorder: None,
        }
    }

    fn op(&self, i: u32) -> &'o M::Op {
        self.entries[self.by_call[i as usize] as usize].op
    }

    fn id(&self, i: u32) -> u32 {
        self.entries[self.by_call[i as usize] as usize].id
    }

    fn intern(&mut self, s: M::State) -> u32 {
        let model = self.model;
        self.states.intern(s, |s| model.state_bytes(s))
    }

    fn linearize(&mut self, i: u32, remaining: &mut usize) {
        self.events.lift(i);
        self.set.flip(i);
        self.order.push(i);
        if !self.optional[i as usize] {
            *remaining -= 1;
        }
    }

    fn undo(&mut self, remaining: &mut usize) -> u32 {
        let i = self.order.pop().expect("undo with an empty order");
        self.events.unlift(i);
        self.set.flip(i);
        if !self.optional[i as usize] {
            *remaining += 1;
        }
        i
    }

    /// Linearizes every enabled read-only op that is legal in `state`.
    fn force_read_only(&mut self, state: u32, remaining: &mut usize) {
        let mut x = self.events.next[self.events.head as usize];
        while x != NIL && !self.events.is_ret[x as usize] {
            let after = self.events.next[x as usize];
            let i = self.events.op[x as usize];
            if self.read_only[i as usize]
                && self
                    .model
                    .step(&self.states.list[state as usize], self.op(i))
                    .is_some()
            {
                self.linearize(i, remaining);
            }
            x = after;
        }
    }

    /// Pushes this configuration's candidates, definite ops first.
    fn candidates(&self, cands: &mut Vec<u32>) {
        let mut x = self.events.next[self.events.head as usize];
        while x != NIL && !self.events.is_ret[x as usize] {
            let i = self.events.op[x as usize];
            if !self.optional[i as usize] {
                cands.push(i);
            }
            x = self.events.next[x as usize];
        }
        let mut x = self.events.next[self.events.head as usize];
        while x != NIL && !self.events.is_ret[x as usize] {
            let i = self.events.op[x as usize];
            if self.optional[i as usize] {
                cands.push(i);
            }
            x = self.events.next[x as usize];
        }
    }

    /// Looks ahead from the current configuration in one walk of the list.
    ///
    /// An unlinearized op `g` must be linearized before anything invoked
    /// after its return, so only the ops whose calls precede that return
    /// can help it become legal: the walk hands each return it meets the
    /// calls met so far. The walk ends at the first return of an
    /// overwriting op (every op invoked later may rely on that overwrite
    /// instead of on the current state) or after `LOOKAHEAD` events.
    ///
    /// If that overwrite comes before the call of any op that could
    /// observe the state, every observer must follow it and everything
    /// before it is legal in any state: the state is unobservable.
    fn look_ahead(&mut self, state: u32) -> Ahead {
        let mut others = std::mem::take(&mut self.others);
        others.clear();
        let mut observed = false;
        let mut result = Ahead::Live;
        let mut x = self.events.next[self.events.head as usize];
        for _ in 0..LOOKAHEAD {
            if x == NIL {
                break;
            }
            let i = self.events.op[x as usize];
            if !self.events.is_ret[x as usize] {
                observed |= self.observes[i as usize];
                others.push(self.op(i));
            } else if self.overwrites[i as usize] {
                if !observed {
                    result = Ahead::Unobservable;
                }
                break;
            } else if !self
                .model
                .reachable(&self.states.list[state as usize], self.op(i), &others)
            {
                result = Ahead::Dead(i);
                break;
            }
            x = self.events.next[x as usize];
        }
        self.others = others;
        result
    }

    /// Keeps the dead end that explains the most of the history for the
    /// counterexample: the one whose blocked op returns latest (how far in
    /// time the history could be explained), then the longest prefix.
    fn remember_dead_end(&mut self, blocked: u32) {
        let key = (self.ret_time(blocked), self.order.len());
        if self.best.as_ref().is_some_and(|b| b.key >= key) {
            return;
        }
        let mut concurrent = Vec::new();
        self.candidates(&mut concurrent);
        concurrent.retain(|&c| c != blocked);
        self.best = Some(DeadEnd {
            key,
            prefix: self.order.clone(),
            blocked,
            concurrent,
        });
    }

    fn ret_time(&self, i: u32) -> u64 {
        self.entries[self.by_call[i as usize] as usize]
            .ret
            .unwrap_or(u64::MAX)
    }

    fn budget_exceeded(&mut self, limits: &Limits) -> Option<String> {
        if limits.cancel.load(Ordering::Relaxed) {
            return Some(STOPPED.into());
        }
        if limits.deadline.is_some_and(|d| Instant::now() >= d) {
            if limits.deadline_is_total {
                return Some(TOTAL_SPENT.into());
            }
            return Some(format!(
                "time limit reached after exploring {} configurations",
                self.stats.nodes
            ));
        }
        let bytes =
            self.memo.bytes() + self.states.bytes() + self.recorder.as_ref().map_or(0, Recorder::bytes);
        let delta = bytes.saturating_sub(self.reported_bytes);
        let total = limits.memory_used.fetch_add(delta, Ordering::Relaxed) + delta;
        self.reported_bytes += delta;
        (total > limits.memory_limit).then(|| {
            format!(
                "memory budget of {} MiB reached ({} MiB held by this partition, {} configurations)",
                limits.memory_limit >> 20,
                bytes >> 20,
                self.stats.memo
            )
        })
    }

    fn run(&mut self, limits: &Limits) -> Search {
        let init = self.model.init();
        let mut state = self.intern(init);
        let mut remaining = self.optional.iter().filter(|o| !**o).count();
        let mut frames: Vec<Frame> = Vec::new();
        let mut cands: Vec<u32> = Vec::new();
        let mut branch = NIL;
        let mut prev_state = state;
        loop {
            // Entering a configuration.
            self.stats.nodes += 1;
            if self.stats.nodes.is_multiple_of(CHECK_EVERY) {
                if let Some(reason) = self.budget_exceeded(limits) {
                    return Search::Unknown { reason };
                }
            }
            let order_mark = self.order.len() as u32;
            self.force_read_only(state, &mut remaining);
            if remaining == 0 {
                return Search::Linearizable {
                    order: self.order.iter().map(|&i| self.id(i)).collect(),
                };
            }
            let live = match self.look_ahead(state) {
                Ahead::Dead(blocked) => {
                    self.remember_dead_end(blocked);
                    false
                }
                Ahead::Live => true,
                Ahead::Unobservable => {
                    state = CANONICAL;
                    true
                }
            } && self.memo.insert(&self.set, state);
            let cands_start = cands.len() as u32;
            if live {
                self.candidates(&mut cands);
            }
            if live {
                self.stats.memo += 1;
            }
            frames.push(Frame {
                branch,
                prev_state,
                order_mark,
                next: cands_start,
                end: cands.len() as u32,
                cands_start,
            });
            // Take the next candidate that steps, backtracking as needed.
            loop {
                let top = frames
                    .last_mut()
                    .expect("a frame is always pushed before this loop");
                if top.next < top.end {
                    let c = cands[top.next as usize];
                    top.next += 1;
                    if let Some(next) = self.model.step(&self.states.list[state as usize], self.op(c)) {
                        let next = self.intern(next);
                        self.linearize(c, &mut remaining);
                        branch = c;
                        prev_state = state;
                        state = next;
                        break;
                    }
                    continue;
                }
                if let Some(blocked) = self.events.first_return() {
                    self.remember_dead_end(blocked);
                }
                if let Some(r) = &mut self.recorder {
                    r.record(&self.order);
                }
                let f = frames.pop().expect("checked above");
                while self.order.len() > f.order_mark as usize {
                    self.undo(&mut remaining);
                }
                cands.truncate(f.cands_start as usize);
                if f.branch == NIL {
                    return self.not_linearizable();
                }
                self.undo(&mut remaining);
                if let Some(r) = &mut self.recorder {
                    r.shrunk(self.order.len());
                }
                state = f.prev_state;
            }
        }
    }

    /// Look-ahead finds a doomed op early, when only a few ops are ordered;
    /// a person understands the failure better at the point where that op
    /// has to come next. From the dead end, keep ordering the legal
    /// candidate that returns first until the blocked op is the next to
    /// return. Kept only if the blocked op is still impossible there.
    /// Runs once, after the search, on the fully relinked event list.
    fn extend(&mut self, mut prefix: Vec<u32>, blocked: u32) -> Option<(Vec<u32>, Vec<u32>)> {
        let mut state = self.model.init();
        let mut lifted = Vec::with_capacity(prefix.len());
        let mut ok = true;
        for &i in &prefix {
            match self.model.step(&state, self.op(i)) {
                Some(next) => state = next,
                None => ok = false,
            }
            self.events.lift(i);
            lifted.push(i);
        }
        let mut concurrent = Vec::new();
        while ok && self.events.first_return().is_some_and(|f| f != blocked) {
            concurrent.clear();
            self.candidates(&mut concurrent);
            let pick = concurrent
                .iter()
                .filter(|&&c| c != blocked && !self.optional[c as usize])
                .filter_map(|&c| {
                    self.model
                        .step(&state, self.op(c))
                        .map(|next| (self.ret_time(c), c, next))
                })
                .min_by_key(|(ret, c, _)| (*ret, *c));
            let Some((_, c, next)) = pick else { break };
            self.events.lift(c);
            lifted.push(c);
            prefix.push(c);
            state = next;
        }
        concurrent.clear();
        self.candidates(&mut concurrent);
        concurrent.retain(|&c| c != blocked);
        let still_blocked = self.model.step(&state, self.op(blocked)).is_none();
        for &i in lifted.iter().rev() {
            self.events.unlift(i);
        }
        (ok && still_blocked).then_some((prefix, concurrent))
    }

    fn not_linearizable(&mut self) -> Search {
        let DeadEnd {
            prefix,
            blocked,
            concurrent,
            ..
        } = self.best.take().expect("a dead end was recorded");
        let (prefix, concurrent) = self
            .extend(prefix.clone(), blocked)
            .unwrap_or((prefix, concurrent));
        // The counterexample's prefix may reach past where the search
        // stopped: a partial linearization too.
        let partials = self.recorder.take().map(|mut r| {
            r.shrunk(0);
            r.record(&prefix);
            r.finish(|i| self.id(i))
        });
        Search::NotLinearizable {
            prefix: prefix.iter().map(|&i| self.id(i)).collect(),
            blocked: self.id(blocked),
            concurrent: concurrent.iter().map(|&i| self.id(i)).collect(),
            partials,
        }
    }
}
