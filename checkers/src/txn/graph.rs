//! The dependency graph between transactions and the search for its
//! cycles. Nodes are transactions; edges are write-write, write-read and
//! read-write (anti-) dependencies that a workload's inference proves,
//! plus process and real-time order. Strongly connected components come
//! from petgraph's Kosaraju (iterative: Tarjan's recursion overflows the
//! stack on a million transactions); inside each, a breadth-first search over
//! (transaction, anti-dependencies used so far) finds the shortest cycle
//! of each kind, so the worst anomaly is named with the fewest steps.
//!
//! It knows nothing of lists or registers: why an edge exists is asked of
//! the inference that added it, when a cycle is explained.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use petgraph::Direction;

use super::consistency::{Anomaly, Kind, Scope};
use super::transaction::Txns;
use crate::history::Outcome;

/// Why one transaction precedes another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dep {
    /// Write-write: the second overwrote (or appended after) the first.
    WW,
    /// Write-read: the second read what the first wrote.
    WR,
    /// Read-write: the first read a state the second's write came after.
    RW,
    /// The same process ran the first, then the second.
    Process,
    /// The first completed before the second began.
    Realtime,
}

impl Dep {
    /// The short label on a drawn edge.
    pub fn label(self) -> &'static str {
        match self {
            Dep::WW => "ww",
            Dep::WR => "wr",
            Dep::RW => "rw",
            Dep::Process => "process",
            Dep::Realtime => "realtime",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A cycle: `steps[i].0` precedes `steps[i+1].0` (and the last precedes
/// the first) because of `steps[i].1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// Transactions and the dependency to the next one.
    pub steps: Vec<(u32, Dep)>,
    /// What it is.
    pub anomaly: Anomaly,
}

/// The dependency graph.
pub struct DepGraph {
    g: DiGraph<(), Dep, u32>,
}

/// Edges from which the layers' components are found in parallel.
const PARALLEL_EDGES: usize = 1 << 18;

/// How much breadth-first searching one component may cost before the
/// search for a particular kind of cycle gives up (the kinds found so far
/// stand; a component always yields at least one cycle).
const SEARCH_BUDGET: usize = 20_000_000;

impl DepGraph {
    /// A graph with one node per transaction and no edges.
    pub fn new(n: usize) -> DepGraph {
        let mut g = DiGraph::with_capacity(n, n * 3);
        for _ in 0..n {
            g.add_node(());
        }
        DepGraph { g }
    }

    /// Adds `from -> to` (self-dependencies say nothing and are dropped).
    pub fn add(&mut self, from: u32, to: u32, dep: Dep) {
        if from != to {
            self.g
                .add_edge(NodeIndex::new(from as usize), NodeIndex::new(to as usize), dep);
        }
    }

    /// How many edges it has.
    pub fn edges(&self) -> usize {
        self.g.edge_count()
    }

    /// Process order: each process's committed or indeterminate
    /// transactions, one after the other (failed ones take no part).
    pub fn add_process_order(&mut self, txns: &Txns) {
        let mut last: hashbrown::HashMap<crate::history::Process, u32> = hashbrown::HashMap::new();
        for (i, t) in txns.txns.iter().enumerate() {
            if t.outcome == Outcome::Fail {
                continue;
            }
            if let Some(prev) = last.insert(t.process, i as u32) {
                self.add(prev, i as u32, Dep::Process);
            }
        }
    }

    /// Real-time order, transitively reduced as it is built: a
    /// transaction is linked from the frontier of transactions completed
    /// before it began that no other completed one follows, so each gets
    /// about as many edges as there were concurrent clients, not one per
    /// earlier transaction. Equal times are concurrent.
    pub fn add_realtime_order(&mut self, txns: &Txns) {
        // (time, 0 = invoke / 1 = complete, txn): invocations sort first
        // at equal times, so they do not see completions at that instant.
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(txns.txns.len() * 2);
        for (i, t) in txns.txns.iter().enumerate() {
            if t.outcome == Outcome::Fail {
                continue;
            }
            events.push((t.call, 0, i as u32));
            if let Some(r) = t.ret {
                events.push((r, 1, i as u32));
            }
        }
        events.sort_unstable();
        let mut frontier: Vec<u32> = Vec::new();
        // Where each transaction's predecessors start in `preds`.
        let mut preds: Vec<u32> = Vec::new();
        let mut first: hashbrown::HashMap<u32, (usize, usize)> = hashbrown::HashMap::new();
        for (_, kind, t) in events {
            if kind == 0 {
                let start = preds.len();
                preds.extend_from_slice(&frontier);
                first.insert(t, (start, preds.len()));
                for &p in &frontier {
                    self.add(p, t, Dep::Realtime);
                }
            } else {
                let (s, e) = first.remove(&t).unwrap_or((0, 0));
                let before = &preds[s..e];
                frontier.retain(|f| !before.contains(f));
                frontier.push(t);
            }
        }
    }

    /// Every cycle worth reporting: for each strongly connected component
    /// of the data dependencies, the shortest cycle of each kind found in
    /// it; then the same with process order, then with real-time order,
    /// keeping only cycles that need that order. `notes` learns of any
    /// search that ran out of budget.
    pub fn cycles(&self, notes: &mut Vec<String>) -> Vec<Cycle> {
        let layers = [
            (Scope::Data, None),
            (Scope::Process, Some(Dep::Process)),
            (Scope::Realtime, Some(Dep::Realtime)),
        ];
        let mask =
            |order: Option<Dep>| Dep::WW.bit() | Dep::WR.bit() | Dep::RW.bit() | order.map_or(0, Dep::bit);
        let walk = |order: Option<Dep>| {
            if order.is_some_and(|o| !self.g.edge_weights().any(|d| *d == o)) {
                return Vec::new();
            }
            let m = mask(order);
            let filtered = EdgeFiltered::from_fn(&self.g, |e| m & e.weight().bit() != 0);
            let mut sccs = petgraph::algo::kosaraju_scc(&filtered);
            sccs.retain(|c| c.len() > 1);
            sccs
        };
        // The three layers' components are independent walks of one
        // graph: a big graph's are walked side by side, on as many cores
        // as there are (a small one's are not worth a thread).
        let components: Vec<Vec<Vec<NodeIndex<u32>>>> = if self.g.edge_count() < PARALLEL_EDGES {
            layers.iter().map(|&(_, order)| walk(order)).collect()
        } else {
            std::thread::scope(|s| {
                let walks: Vec<_> = layers
                    .iter()
                    .map(|&(_, order)| s.spawn(move || walk(order)))
                    .collect();
                walks
                    .into_iter()
                    .map(|w| w.join().expect("a component walk panicked"))
                    .collect()
            })
        };
        let mut out = Vec::new();
        for ((scope, order), sccs) in layers.into_iter().zip(components) {
            for scc in sccs {
                let c = Component::new(&self.g, &scc, mask(order));
                c.cycles(scope, order, &mut out, notes);
            }
        }
        out
    }
}

/// One strongly connected component, copied out with local node numbers.
struct Component {
    nodes: Vec<u32>,
    g: DiGraph<(), Dep, u32>,
}

impl Component {
    fn new(g: &DiGraph<(), Dep, u32>, scc: &[NodeIndex<u32>], mask: u8) -> Component {
        let local: hashbrown::HashMap<NodeIndex<u32>, u32> =
            scc.iter().enumerate().map(|(i, n)| (*n, i as u32)).collect();
        let mut sub = DiGraph::with_capacity(scc.len(), scc.len() * 2);
        for _ in scc {
            sub.add_node(());
        }
        for n in scc {
            for e in g.edges_directed(*n, Direction::Outgoing) {
                if mask & e.weight().bit() == 0 {
                    continue;
                }
                if let Some(&to) = local.get(&e.target()) {
                    sub.add_edge(
                        NodeIndex::new(local[n] as usize),
                        NodeIndex::new(to as usize),
                        *e.weight(),
                    );
                }
            }
        }
        Component {
            nodes: scc.iter().map(|n| n.index() as u32).collect(),
            g: sub,
        }
    }

    /// Searches in order of severity: no anti-dependency with only
    /// write-write edges (G0), no anti-dependency (G1c), exactly one
    /// (G-single), two or more (G-nonadjacent, G2-item). In the process and
    /// real-time scopes each cycle must go through an order edge; in the
    /// data scope it starts from an edge of the kind the stage needs.
    fn cycles(&self, scope: Scope, order: Option<Dep>, out: &mut Vec<Cycle>, notes: &mut Vec<String>) {
        // A component of the order scopes without an order edge inside
        // holds data cycles only, already reported.
        if order.is_some_and(|o| !self.g.edge_weights().any(|d| *d == o)) {
            return;
        }
        let o = order.map_or(0, Dep::bit);
        let (ww, wr, rw) = (Dep::WW.bit(), Dep::WR.bit(), Dep::RW.bit());
        let stages: [(u8, Dep, Rw); 4] = [
            (ww | o, order.unwrap_or(Dep::WW), Rw::None),
            (ww | wr | o, order.unwrap_or(Dep::WR), Rw::None),
            (ww | wr | rw | o, order.unwrap_or(Dep::RW), Rw::One),
            (ww | wr | rw | o, order.unwrap_or(Dep::RW), Rw::TwoOrMore),
        ];
        let mut found_any = false;
        let mut seen: Vec<Kind> = Vec::new();
        let mut search = Search::new(self.g.node_count());
        // The fallback: the shortest cycle through an anchor, whatever it
        // holds. A search with one state only finds simple cycles, so a
        // cyclic component always yields one.
        let fallback = (ww | wr | rw | o, order.unwrap_or(Dep::RW), Rw::Any);
        for (mask, anchor, rw_need) in stages.into_iter().chain([fallback]) {
            if rw_need == Rw::Any && found_any {
                break;
            }
            let comp = sub_components(&self.g, mask);
            let mut budget_out = false;
            for e in self.g.edge_references() {
                if *e.weight() != anchor {
                    continue;
                }
                let (a, b) = (e.source().index(), e.target().index());
                // Without anti-dependencies a path back exists exactly when
                // both ends share a component of the stage's edges.
                if matches!(rw_need, Rw::None | Rw::Any) && comp[a] != comp[b] {
                    continue;
                }
                let first = if anchor == Dep::RW { 1 } else { 0 };
                match search.path(&self.g, b, a, mask, first, rw_need) {
                    // A search with several states may return a walk that
                    // passes a transaction twice: not a cycle of its kind.
                    Found::Path(path) => {
                        let mut steps: Vec<(u32, Dep)> = vec![(self.nodes[a], anchor)];
                        steps.extend(path.into_iter().map(|(n, d)| (self.nodes[n], d)));
                        if !is_simple(&steps) {
                            continue;
                        }
                        let anomaly = Anomaly {
                            kind: classify(&steps),
                            scope,
                        };
                        if !seen.contains(&anomaly.kind) {
                            seen.push(anomaly.kind);
                            out.push(Cycle { steps, anomaly });
                        }
                        found_any = true;
                        break;
                    }
                    Found::None => {}
                    Found::OutOfBudget => {
                        budget_out = true;
                        break;
                    }
                }
            }
            if budget_out {
                notes.push(format!(
                    "the search for {} cycles in a component of {} transactions stopped after {} steps; \
                     other kinds of cycle in it may go unreported",
                    rw_need.name(),
                    self.nodes.len(),
                    SEARCH_BUDGET
                ));
            }
        }
        if !found_any {
            notes.push(format!(
                "a component of {} transactions is cyclic, but no cycle was found within the search budget",
                self.nodes.len()
            ));
        }
    }
}

/// How many anti-dependencies a cycle must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rw {
    None,
    One,
    TwoOrMore,
    Any,
}

impl Rw {
    fn name(self) -> &'static str {
        match self {
            Rw::None => "G0/G1c",
            Rw::One => "G-single",
            Rw::TwoOrMore => "G2",
            Rw::Any => "any",
        }
    }

    /// The search state for `n` anti-dependencies so far.
    fn state(self, n: u8) -> u8 {
        match self {
            Rw::None => n,
            Rw::One | Rw::TwoOrMore => n.min(2),
            Rw::Any => 0,
        }
    }

    fn accepts(self, n: u8) -> bool {
        match self {
            Rw::None => n == 0,
            Rw::One => n == 1,
            Rw::TwoOrMore => n >= 2,
            Rw::Any => true,
        }
    }

    fn allows(self, n: u8) -> bool {
        match self {
            Rw::None => n == 0,
            Rw::One => n <= 1,
            Rw::TwoOrMore | Rw::Any => true,
        }
    }
}

/// Strongly connected components of the edges in `mask`: the component
/// number of each node.
fn sub_components(g: &DiGraph<(), Dep, u32>, mask: u8) -> Vec<u32> {
    let filtered = EdgeFiltered::from_fn(g, |e| mask & e.weight().bit() != 0);
    let mut comp = vec![0u32; g.node_count()];
    for (i, scc) in petgraph::algo::kosaraju_scc(&filtered).into_iter().enumerate() {
        for n in scc {
            comp[n.index()] = i as u32;
        }
    }
    comp
}

/// Whether a cycle visits each transaction once.
fn is_simple(steps: &[(u32, Dep)]) -> bool {
    let mut nodes: Vec<u32> = steps.iter().map(|p| p.0).collect();
    nodes.sort_unstable();
    nodes.windows(2).all(|w| w[0] != w[1])
}

/// What a cycle's dependencies make it.
fn classify(steps: &[(u32, Dep)]) -> Kind {
    let rws: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].1 == Dep::RW).collect();
    match rws.len() {
        0 if steps.iter().any(|s| s.1 == Dep::WR) => Kind::G1c,
        0 => Kind::G0,
        1 => Kind::GSingle,
        _ => {
            let n = steps.len();
            let adjacent = rws.iter().any(|&i| steps[(i + 1) % n].1 == Dep::RW);
            if adjacent {
                Kind::G2Item
            } else {
                Kind::GNonadjacent
            }
        }
    }
}

enum Found {
    Path(Vec<(usize, Dep)>),
    None,
    OutOfBudget,
}

/// Breadth-first search over (node, anti-dependencies so far), reusing
/// its arrays between searches.
struct Search {
    /// Per (node, state): the search that last reached it.
    stamp: Vec<u32>,
    /// Per (node, state): how it was reached (previous node, state, edge).
    parent: Vec<(u32, u8, Dep)>,
    round: u32,
    spent: usize,
}

const STATES: usize = 3;

impl Search {
    fn new(n: usize) -> Search {
        Search {
            stamp: vec![0; n * STATES],
            parent: vec![(0, 0, Dep::WW); n * STATES],
            round: 0,
            spent: 0,
        }
    }

    /// The shortest path `from` ⇝ `to` over `mask` edges whose count of
    /// anti-dependencies, plus `first`, satisfies `need`: the nodes after
    /// `from` with the edge leading into each... returned as (node, edge
    /// out of it) from `from` to the node before `to`'s arrival.
    fn path(
        &mut self,
        g: &DiGraph<(), Dep, u32>,
        from: usize,
        to: usize,
        mask: u8,
        first: u8,
        need: Rw,
    ) -> Found {
        self.round += 1;
        let round = self.round;
        let start = need.state(first);
        let mut queue = std::collections::VecDeque::new();
        self.stamp[from * STATES + start as usize] = round;
        queue.push_back((from, start));
        while let Some((n, s)) = queue.pop_front() {
            if n == to && need.accepts(s) {
                // Walk back to `from`: each step's node and its edge out.
                let mut path = Vec::new();
                let (mut cur, mut cs) = (n, s);
                while !(cur == from && cs == start) {
                    let (p, ps, d) = self.parent[cur * STATES + cs as usize];
                    path.push((p as usize, d));
                    cur = p as usize;
                    cs = ps;
                }
                path.reverse();
                return Found::Path(path);
            }
            for e in g.edges_directed(NodeIndex::new(n), Direction::Outgoing) {
                self.spent += 1;
                if self.spent > SEARCH_BUDGET {
                    return Found::OutOfBudget;
                }
                let d = *e.weight();
                if mask & d.bit() == 0 {
                    continue;
                }
                let ns = need.state(s + u8::from(d == Dep::RW));
                if !need.allows(ns) {
                    continue;
                }
                let m = e.target().index();
                let slot = m * STATES + ns as usize;
                if self.stamp[slot] == round {
                    continue;
                }
                self.stamp[slot] = round;
                self.parent[slot] = (n as u32, s, d);
                queue.push_back((m, ns));
            }
        }
        Found::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(u32, u32, Dep)]) -> DepGraph {
        let mut g = DepGraph::new(n);
        for &(a, b, d) in edges {
            g.add(a, b, d);
        }
        g
    }

    fn kinds(g: &DepGraph) -> Vec<String> {
        let mut notes = Vec::new();
        g.cycles(&mut notes)
            .iter()
            .map(|c| c.anomaly.to_string())
            .collect()
    }

    #[test]
    fn classifies_cycles_by_their_anti_dependencies() {
        use Dep::*;
        assert_eq!(kinds(&graph(2, &[(0, 1, WW), (1, 0, WW)])), vec!["G0"]);
        assert_eq!(kinds(&graph(2, &[(0, 1, WW), (1, 0, WR)])), vec!["G1c"]);
        assert_eq!(kinds(&graph(2, &[(0, 1, WR), (1, 0, RW)])), vec!["G-single"]);
        assert_eq!(kinds(&graph(2, &[(0, 1, RW), (1, 0, RW)])), vec!["G2-item"]);
        assert_eq!(
            kinds(&graph(4, &[(0, 1, RW), (1, 2, WR), (2, 3, RW), (3, 0, WR)])),
            vec!["G-nonadjacent"]
        );
        assert!(kinds(&graph(3, &[(0, 1, RW), (1, 2, RW)])).is_empty());
    }

    #[test]
    fn order_cycles_are_named_by_the_order_they_need() {
        use Dep::*;
        assert_eq!(
            kinds(&graph(2, &[(0, 1, Process), (1, 0, WR)])),
            vec!["G1c-process"]
        );
        assert_eq!(
            kinds(&graph(2, &[(0, 1, Realtime), (1, 0, RW)])),
            vec!["G-single-realtime"]
        );
        // A data cycle is not reported again as a process cycle.
        assert_eq!(
            kinds(&graph(3, &[(0, 1, WW), (1, 0, WW), (1, 2, Process)])),
            vec!["G0"]
        );
    }

    #[test]
    fn one_component_can_hold_several_kinds_and_the_shortest_cycle_is_kept() {
        use Dep::*;
        let g = graph(
            4,
            &[
                (0, 1, WW),
                (1, 0, WW),
                (1, 2, WR),
                (2, 3, RW),
                (3, 1, WR),
                (2, 0, WR),
                (0, 2, RW),
            ],
        );
        let mut notes = Vec::new();
        let cycles = g.cycles(&mut notes);
        let names: Vec<String> = cycles.iter().map(|c| c.anomaly.to_string()).collect();
        assert_eq!(names, vec!["G0", "G1c", "G-single", "G2-item"]);
        assert_eq!(cycles[0].steps.len(), 2);
        assert!(notes.is_empty());
    }
}
