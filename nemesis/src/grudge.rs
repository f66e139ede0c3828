//! Partitions as data (Jepsen's grudges): for each node, the nodes whose
//! traffic it drops. Shapes are built over a shuffled order of the nodes,
//! so the same shape falls differently each time.

/// The partition shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Two halves that cannot talk to each other.
    Halves,
    /// A random minority cut off from the majority.
    MajorityMinority,
    /// One node cut off from all others.
    IsolateOne,
    /// Each node sees a majority, but no two see the same one (needs 5+).
    MajoritiesRing,
    /// Two halves, and one node that still talks to both (needs 3+).
    Bridge,
}

impl Shape {
    /// The name used in events.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Halves => "halves",
            Shape::MajorityMinority => "majority/minority",
            Shape::IsolateOne => "isolate one",
            Shape::MajoritiesRing => "majorities ring",
            Shape::Bridge => "bridge",
        }
    }

    /// The shapes that mean something for `n` nodes.
    pub fn for_nodes(n: usize) -> Vec<Shape> {
        let mut shapes = vec![Shape::Halves, Shape::MajorityMinority, Shape::IsolateOne];
        if n >= 4 {
            shapes.push(Shape::Bridge);
        }
        if n >= 5 {
            shapes.push(Shape::MajoritiesRing);
        }
        shapes
    }
}

/// For each node, the nodes it drops traffic from (symmetric).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grudge(pub Vec<Vec<usize>>);

impl Grudge {
    /// `shape` laid over the nodes in `order` (a permutation of 0..n).
    pub fn new(shape: Shape, order: &[usize]) -> Grudge {
        let n = order.len();
        let mut drops = vec![Vec::new(); n];
        let mut cut = |a: &[usize], b: &[usize]| {
            for &x in a {
                for &y in b {
                    drops[x].push(y);
                    drops[y].push(x);
                }
            }
        };
        match shape {
            Shape::Halves => {
                let (a, b) = order.split_at(n / 2);
                cut(a, b);
            }
            Shape::MajorityMinority => {
                let (minority, majority) = order.split_at(n.saturating_sub(1) / 2);
                cut(minority, majority);
            }
            Shape::IsolateOne => {
                let (one, rest) = order.split_at(1.min(n));
                cut(one, rest);
            }
            Shape::Bridge => {
                let (left, rest) = order.split_at(n.saturating_sub(1) / 2);
                let right = &rest[1.min(rest.len())..];
                cut(left, right);
            }
            Shape::MajoritiesRing => {
                // Node at ring position i talks to the nodes within
                // distance n/4 on either side (a majority with itself) and
                // drops the rest.
                let reach = (n / 2) / 2 + (n / 2) % 2;
                for i in 0..n {
                    for j in 0..n {
                        let d = (i + n - j) % n;
                        if i != j && d.min(n - d) > reach {
                            drops[order[i]].push(order[j]);
                        }
                    }
                }
            }
        }
        for d in &mut drops {
            d.sort_unstable();
            d.dedup();
        }
        Grudge(drops)
    }

    /// The components of the partition in words: `n1,n3 | n2`, or each
    /// node's view for shapes that are not clean components.
    pub fn describe(&self, name: impl Fn(usize) -> String) -> String {
        let n = self.0.len();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for i in 0..n {
            // Nodes that drop exactly the same others and not each other
            // form one side.
            match groups
                .iter_mut()
                .find(|g| self.0[g[0]] == self.0[i] && !self.0[i].contains(&g[0]))
            {
                Some(g) => g.push(i),
                None => groups.push(vec![i]),
            }
        }
        groups
            .iter()
            .map(|g| g.iter().map(|&i| name(i)).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(g: &Grudge, a: usize, b: usize) -> bool {
        !g.0[a].contains(&b)
    }

    #[test]
    fn halves_and_isolation() {
        let g = Grudge::new(Shape::Halves, &[0, 1, 2, 3]);
        assert!(connected(&g, 0, 1) && connected(&g, 2, 3));
        assert!(!connected(&g, 0, 2) && !connected(&g, 3, 1));
        let g = Grudge::new(Shape::IsolateOne, &[2, 0, 1]);
        assert_eq!(g.0[2], vec![0, 1]);
        assert!(connected(&g, 0, 1));
        assert_eq!(g.describe(|i| format!("n{}", i + 1)), "n1,n2 | n3");
    }

    #[test]
    fn majority_minority_for_five() {
        let g = Grudge::new(Shape::MajorityMinority, &[0, 1, 2, 3, 4]);
        assert_eq!(g.0[0], vec![2, 3, 4]);
        assert_eq!(g.0[4], vec![0, 1]);
    }

    #[test]
    fn a_bridge_talks_to_both_sides() {
        let g = Grudge::new(Shape::Bridge, &[0, 1, 2, 3, 4]);
        assert!(g.0[2].is_empty(), "{:?}", g.0);
        assert!(!connected(&g, 0, 4) && connected(&g, 0, 1));
    }

    #[test]
    fn majorities_ring_gives_everyone_a_different_majority() {
        let g = Grudge::new(Shape::MajoritiesRing, &[0, 1, 2, 3, 4]);
        let mut views = Vec::new();
        for i in 0..5 {
            let sees = 5 - g.0[i].len();
            assert!(sees >= 3, "node {i} sees a majority: {:?}", g.0);
            views.push(g.0[i].clone());
        }
        views.sort();
        views.dedup();
        assert_eq!(views.len(), 5);
    }
}
