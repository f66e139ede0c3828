//! The dependency graph between transactions and the search for its
//! cycles. Nodes are transactions; edges are write-write, write-read and
//! read-write (anti-) dependencies that a workload's inference proves,
//! plus process and real-time order. A data dependency may hold only if
//! the history respects one of those orders (rw-register infers versions
//! from them): it then carries that order's [`Scope`], and a cycle through
//! it is named as one that needs the order (`G-single-realtime`), so
//! the models that do not promise the order are not ruled out by it. Strongly connected components come
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
use super::order;
use super::transaction::Txns;

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

/// An edge: the dependency, and the order it needs to hold.
#[derive(Clone, Copy, Debug)]
struct Edge {
    dep: Dep,
    scope: Scope,
}

impl Edge {
    /// Whether the layer of `scope` holds it: data edges are in every
    /// layer, process edges in the process and real-time layers (a
    /// process runs one transaction after another: strict
    /// serializability, which promises real-time order, promises that
    /// too), real-time edges in theirs alone.
    fn in_layer(self, scope: Scope) -> bool {
        self.scope <= scope
    }
}

/// The dependency graph.
pub struct DepGraph {
    g: DiGraph<(), Edge, u32>,
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

    /// Adds `from -> to` (self-dependencies say nothing and are dropped):
    /// process and real-time edges need their order, data dependencies
    /// nothing.
    pub fn add(&mut self, from: u32, to: u32, dep: Dep) {
        let scope = match dep {
            Dep::Process => Scope::Process,
            Dep::Realtime => Scope::Realtime,
            Dep::WW | Dep::WR | Dep::RW => Scope::Data,
        };
        self.add_assuming(from, to, dep, scope);
    }

    /// Adds a data dependency that holds only if the history respects
    /// `scope`'s order.
    pub fn add_assuming(&mut self, from: u32, to: u32, dep: Dep, scope: Scope) {
        if from != to {
            self.g.add_edge(
                NodeIndex::new(from as usize),
                NodeIndex::new(to as usize),
                Edge { dep, scope },
            );
        }
    }

    /// How many edges it has.
    pub fn edges(&self) -> usize {
        self.g.edge_count()
    }

    /// Process order: each process's committed or indeterminate
    /// transactions, one after the other (failed ones take no part).
    pub fn add_process_order(&mut self, txns: &Txns) {
        order::process(txns, |_| &[0], |_, a, b| self.add(a, b, Dep::Process));
    }

    /// Real-time order, transitively reduced: each transaction is linked
    /// from the transactions completed before it began that no other
    /// completed one follows.
    pub fn add_realtime_order(&mut self, txns: &Txns) {
        order::realtime(txns, |_| &[0], |_, a, b| self.add(a, b, Dep::Realtime));
    }

    /// Every cycle worth reporting: for each strongly connected component
    /// of the data dependencies, the shortest cycle of each kind found in
    /// it; then the same with process order, then with real-time order
    /// (and process order), keeping only cycles that need the layer's
    /// order. `notes` learns of any search that ran out of budget. A big
    /// graph's layers are walked on up to `threads` threads.
    pub fn cycles(&self, threads: usize, notes: &mut Vec<String>) -> Vec<Cycle> {
        let layers = [Scope::Data, Scope::Process, Scope::Realtime];
        let walk = |scope: Scope| {
            if scope != Scope::Data && !self.g.edge_weights().any(|e| e.scope == scope) {
                return Vec::new();
            }
            let filtered = EdgeFiltered::from_fn(&self.g, |e| e.weight().in_layer(scope));
            let mut sccs = petgraph::algo::kosaraju_scc(&filtered);
            sccs.retain(|c| c.len() > 1);
            sccs
        };
        // The three layers' components are independent walks of one
        // graph: a big graph's are walked side by side (a small one's are
        // not worth a thread).
        let threads = if self.g.edge_count() < PARALLEL_EDGES {
            1
        } else {
            threads
        };
        let components = crate::parallel::map(layers.len(), threads, |i| walk(layers[i]));
        let mut out = Vec::new();
        for (scope, sccs) in layers.into_iter().zip(components) {
            for scc in sccs {
                let c = Component::new(&self.g, &scc, scope);
                c.cycles(scope, &mut out, notes);
            }
        }
        out
    }
}

/// One strongly connected component of a layer, copied out with local
/// node numbers and only the layer's edges.
struct Component {
    nodes: Vec<u32>,
    g: DiGraph<(), Edge, u32>,
}

impl Component {
    fn new(g: &DiGraph<(), Edge, u32>, scc: &[NodeIndex<u32>], scope: Scope) -> Component {
        let local: hashbrown::HashMap<NodeIndex<u32>, u32> =
            scc.iter().enumerate().map(|(i, n)| (*n, i as u32)).collect();
        let mut sub = DiGraph::with_capacity(scc.len(), scc.len() * 2);
        for _ in scc {
            sub.add_node(());
        }
        for n in scc {
            for e in g.edges_directed(*n, Direction::Outgoing) {
                if !e.weight().in_layer(scope) {
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
    /// real-time scopes each cycle must go through an edge of that scope
    /// (the order itself, or a dependency that assumes it); in the data
    /// scope it starts from an edge of the kind the stage needs.
    fn cycles(&self, scope: Scope, out: &mut Vec<Cycle>, notes: &mut Vec<String>) {
        // A component of the order scopes without an edge of its scope
        // inside holds data cycles only, already reported.
        if scope != Scope::Data && !self.g.edge_weights().any(|e| e.scope == scope) {
            return;
        }
        // The component holds only its layer's edges: its orders may
        // join any stage's cycles.
        let o = Dep::Process.bit() | Dep::Realtime.bit();
        let (ww, wr, rw) = (Dep::WW.bit(), Dep::WR.bit(), Dep::RW.bit());
        // (edges, the data scope's anchor, anti-dependencies).
        let stages: [(u8, Dep, Rw); 4] = [
            (ww | o, Dep::WW, Rw::None),
            (ww | wr | o, Dep::WR, Rw::None),
            (ww | wr | rw | o, Dep::RW, Rw::One),
            (ww | wr | rw | o, Dep::RW, Rw::TwoOrMore),
        ];
        let mut found_any = false;
        let mut seen: Vec<Kind> = Vec::new();
        let mut search = Search::new(self.g.node_count());
        // The fallback: the shortest cycle through an anchor, whatever it
        // holds. A search with one state only finds simple cycles, so a
        // cyclic component always yields one.
        let fallback = (ww | wr | rw | o, Dep::RW, Rw::Any);
        for (mask, anchor, rw_need) in stages.into_iter().chain([fallback]) {
            if rw_need == Rw::Any && found_any {
                break;
            }
            let comp = sub_components(&self.g, mask);
            let mut budget_out = false;
            for e in self.g.edge_references() {
                let Edge {
                    dep,
                    scope: edge_scope,
                } = *e.weight();
                let anchors = match scope {
                    Scope::Data => dep == anchor,
                    _ => edge_scope == scope && mask & dep.bit() != 0,
                };
                if !anchors {
                    continue;
                }
                let (a, b) = (e.source().index(), e.target().index());
                // Without anti-dependencies a path back exists exactly when
                // both ends share a component of the stage's edges.
                if matches!(rw_need, Rw::None | Rw::Any) && comp[a] != comp[b] {
                    continue;
                }
                let first = u8::from(dep == Dep::RW);
                match search.path(&self.g, b, a, mask, first, rw_need) {
                    // A search with several states may return a walk that
                    // passes a transaction twice: not a cycle of its kind.
                    Found::Path(path) => {
                        let mut steps: Vec<(u32, Dep)> = vec![(self.nodes[a], dep)];
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
fn sub_components(g: &DiGraph<(), Edge, u32>, mask: u8) -> Vec<u32> {
    let filtered = EdgeFiltered::from_fn(g, |e| mask & e.weight().dep.bit() != 0);
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
        g: &DiGraph<(), Edge, u32>,
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
                let d = e.weight().dep;
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
        g.cycles(1, &mut notes)
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
    fn dependencies_that_assume_an_order_are_named_by_it() {
        use Dep::*;
        let mut g = graph(2, &[(0, 1, WR)]);
        g.add_assuming(1, 0, RW, Scope::Process);
        assert_eq!(kinds(&g), vec!["G-single-process"]);
        let mut g = graph(2, &[(0, 1, WR)]);
        g.add_assuming(1, 0, RW, Scope::Realtime);
        assert_eq!(kinds(&g), vec!["G-single-realtime"]);
        // Strict serializability promises both orders: a cycle that needs
        // both is a real-time one.
        let mut g = DepGraph::new(2);
        g.add_assuming(0, 1, WW, Scope::Process);
        g.add_assuming(1, 0, WW, Scope::Realtime);
        assert_eq!(kinds(&g), vec!["G0-realtime"]);
        let g = graph(3, &[(0, 1, Process), (1, 2, Realtime), (2, 0, WR)]);
        assert_eq!(kinds(&g), vec!["G1c-realtime"]);
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
        let cycles = g.cycles(1, &mut notes);
        let names: Vec<String> = cycles.iter().map(|c| c.anomaly.to_string()).collect();
        assert_eq!(names, vec!["G0", "G1c", "G-single", "G2-item"]);
        assert_eq!(cycles[0].steps.len(), 2);
        assert!(notes.is_empty());
    }
}
