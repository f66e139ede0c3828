//! `Linearizations`: what the report's linearization view shows for one
//! key, as data (Porcupine's visualization, bounded). For a valid key, one
//! complete linearization; for an invalid one, each op's longest partial
//! linearization the search reached — both with the model's state after
//! each step. Rendering them is the `reports` crate's job.
//!
//! Porcupine copies a description per step per op, and its page grew to
//! 1.5 GB for 3,000 operations (its issue #20). Here the steps form one
//! prefix tree: a partial linearization is a step and its ancestors, so
//! those that begin alike share their beginning; ops are numbers; state
//! descriptions are stored once each. A key keeps at most `MAX_STEPS`
//! steps, and says how many ops the cap left out; which keys keep theirs
//! is `linearizable::Linearize`'s choice.

use serde::Serialize;

use crate::history::Operation;
use crate::model::Model;
use crate::wgl::Partials;

/// Steps one key keeps at most.
pub const MAX_STEPS: usize = 100_000;
/// Invalid keys that keep their partial linearizations at most (the first
/// in key order).
pub const MAX_KEYS: usize = 50;

/// One key's linearizations. Ops are named by their position among the
/// history's operations in invocation order (`History::operations`).
#[derive(Clone, Debug, Serialize)]
pub struct Linearizations {
    /// `true`: the steps are one complete linearization, in order (a
    /// valid key). `false`: partial ones, one per op in `longest`.
    pub complete: bool,
    /// The steps, each `[parent, op, state]`: the step before it (`null`
    /// for a first step), the op linearized, and the index in `states` of
    /// the model's state after it. A step comes after its parent.
    pub steps: Vec<(Option<u32>, u32, u32)>,
    /// The model's states, in words, each once.
    pub states: Vec<String>,
    /// For partial linearizations: each op that was in one, `[op, step]`,
    /// where `step` ends the longest the search reached that contains it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub longest: Vec<(u32, u32)>,
    /// Ops the cap (`MAX_STEPS`) left out: a complete linearization's ops
    /// past it, or the ops whose partial linearization did not fit.
    pub omitted: usize,
}

/// Builds steps, replaying each in the model from its parent's state.
struct Builder<'a, M: Model> {
    model: &'a M,
    ops: &'a [(Operation, M::Op)],
    positions: &'a [u32],
    out: Linearizations,
    /// The model state after each step.
    after: Vec<M::State>,
    described: hashbrown::HashMap<M::State, u32>,
}

impl<'a, M: Model> Builder<'a, M> {
    fn new(model: &'a M, ops: &'a [(Operation, M::Op)], positions: &'a [u32], complete: bool) -> Self {
        Builder {
            model,
            ops,
            positions,
            out: Linearizations {
                complete,
                steps: Vec::new(),
                states: Vec::new(),
                longest: Vec::new(),
                omitted: 0,
            },
            after: Vec::new(),
            described: hashbrown::HashMap::new(),
        }
    }

    /// Adds the step of op `id` (an index into `ops`) after `parent`.
    fn push(&mut self, parent: Option<u32>, id: u32) -> u32 {
        let before = parent.map_or_else(|| self.model.init(), |p| self.after[p as usize].clone());
        // The search only records legal steps; a step that did not replay
        // would keep the state it came from.
        let state = self
            .model
            .step(&before, &self.ops[id as usize].1)
            .unwrap_or(before);
        let next = self.out.states.len() as u32;
        let text = *self.described.entry(state.clone()).or_insert(next);
        if text == next {
            self.out.states.push(self.model.describe(&state));
        }
        self.after.push(state);
        self.out.steps.push((parent, self.positions[id as usize], text));
        self.out.steps.len() as u32 - 1
    }
}

impl Linearizations {
    /// A valid key's complete linearization: `order` holds ids (indices
    /// into `ops`) in linearization order.
    pub(crate) fn complete<M: Model>(
        model: &M,
        ops: &[(Operation, M::Op)],
        positions: &[u32],
        order: &[u32],
    ) -> Linearizations {
        let mut b = Builder::new(model, ops, positions, true);
        let mut last = None;
        for &id in order.iter().take(MAX_STEPS) {
            last = Some(b.push(last, id));
        }
        b.out.omitted = order.len().saturating_sub(MAX_STEPS);
        b.out
    }

    /// An invalid key's partial linearizations, from the search's tree.
    /// Ops are kept in history order while their steps fit in `MAX_STEPS`.
    pub(crate) fn partial<M: Model>(
        model: &M,
        ops: &[(Operation, M::Op)],
        positions: &[u32],
        tree: &Partials,
    ) -> Linearizations {
        let mut b = Builder::new(model, ops, positions, false);
        // Each tree node's step, once made.
        let mut made: Vec<Option<u32>> = vec![None; tree.op.len()];
        let mut missing = Vec::new();
        for &(id, end) in &tree.ends {
            missing.clear();
            let mut n = Some(end);
            while let Some(node) = n.filter(|&node| made[node as usize].is_none()) {
                missing.push(node);
                n = tree.parent[node as usize];
            }
            if b.out.steps.len() + missing.len() > MAX_STEPS {
                b.out.omitted += 1;
                continue;
            }
            for &node in missing.iter().rev() {
                let parent =
                    tree.parent[node as usize].map(|p| made[p as usize].expect("parents are made first"));
                made[node as usize] = Some(b.push(parent, tree.op[node as usize]));
            }
            let step = made[end as usize].expect("just made");
            b.out.longest.push((positions[id as usize], step));
        }
        b.out
    }

    /// The ops of the linearization that ends at `step`, first to last,
    /// each with its state's index.
    pub fn path(&self, step: u32) -> Vec<(u32, u32)> {
        let mut path = Vec::new();
        let mut s = Some(step);
        while let Some(i) = s {
            let (parent, op, state) = self.steps[i as usize];
            path.push((op, state));
            s = parent;
        }
        path.reverse();
        path
    }
}
