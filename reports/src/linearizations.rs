//! The report's linearization view (Porcupine's, bounded): for a valid
//! key, the complete linearization the checker kept; for an invalid key,
//! each operation's longest partial linearization the search reached,
//! shown on hovering or clicking the operation in a list or in the
//! timeline, with the model's state after each step. `#op=N` in the
//! address opens operation N's.
//!
//! The page carries the checker's data as it is (a prefix tree of steps
//! naming ops by number, each state's words once) and builds each table
//! when asked, so its size grows with the steps kept, not with steps
//! times operations. It embeds at most `EMBED_BYTES` of them, invalid
//! keys first, and says what it left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use checkers::counterexample::{describe_op, when};
use checkers::linearization::{MAX_KEYS, MAX_STEPS};
use checkers::Verdict;
use serde_json::json;

use crate::{escape, RunView};

/// Bytes of linearization data the page embeds at most.
const EMBED_BYTES: usize = 8 << 20;
/// Steps of one linearization drawn at once (around the operation).
const ROWS: usize = 1_000;

/// The section, if the checker kept any linearization.
pub(crate) fn section(h: &mut String, view: &RunView) {
    render(h, view, EMBED_BYTES);
}

/// The section, embedding at most `budget` bytes of linearizations.
fn render(h: &mut String, view: &RunView, budget: usize) {
    let Some(lin) = view.linearizable else { return };
    let mut kept: Vec<_> = lin
        .partitions
        .iter()
        .filter_map(|p| p.linearizations.as_ref().map(|l| (p, l)))
        .collect();
    if kept.is_empty() {
        return;
    }
    // Invalid keys first: they are what a reader came for.
    kept.sort_by_key(|(p, _)| p.verdict != Verdict::Invalid);
    let mut keys = Vec::new();
    let mut ops: BTreeMap<u32, serde_json::Value> = BTreeMap::new();
    let (mut bytes, mut left_out) = (0, Vec::new());
    for (p, l) in &kept {
        let key = p.key.as_ref().map(|k| k.to_string());
        let entry = json!({
            "key": key,
            "verdict": p.verdict,
            "complete": l.complete,
            "steps": l.steps,
            "states": l.states,
            "longest": l.longest,
            "omitted": l.omitted,
            "ops": p.ops,
        });
        let new_ops: BTreeMap<u32, serde_json::Value> = l
            .steps
            .iter()
            .map(|s| s.1)
            .filter(|op| !ops.contains_key(op))
            .filter_map(|op| {
                let o = view.operations.get(op as usize)?;
                Some((op, json!([describe_op(o), when(o, view.history.timed)])))
            })
            .collect();
        let size = entry.to_string().len() + new_ops.values().map(|o| o.to_string().len() + 8).sum::<usize>();
        if bytes + size > budget {
            left_out.push(key.unwrap_or_else(|| "the history".into()));
            continue;
        }
        bytes += size;
        ops.extend(new_ops);
        keys.push(entry);
    }
    let invalid = lin
        .partitions
        .iter()
        .filter(|p| p.verdict == Verdict::Invalid)
        .count();
    let without = lin
        .partitions
        .iter()
        .filter(|p| p.verdict == Verdict::Invalid && p.linearizations.is_none())
        .count();
    let mut limits = format!(
        "What is kept is bounded: the checker keeps at most {MAX_STEPS} steps per key (an operation whose partial \
         linearization would not fit is left out, and counted), the partial linearizations of the first {MAX_KEYS} \
         invalid keys and the complete linearization of the first valid key (<code>faultline check FILE --report DIR \
         --linearization-key K</code> keeps key K's too); this page embeds at most {:.1} MiB of them — here {} keys, {:.1} \
         KiB — and draws {ROWS} steps of a linearization at a time, around the operation.",
        budget as f64 / f64::from(1 << 20),
        keys.len(),
        bytes as f64 / 1024.0
    );
    if without > 0 {
        let _ = write!(
            limits,
            " {without} of the {invalid} invalid keys kept none (past the first {MAX_KEYS})."
        );
    }
    if !left_out.is_empty() {
        let _ = write!(
            limits,
            " Not embedded, past the page's budget (results.json and <code>faultline check --json --linearizations</code> \
             carry them): {}.",
            escape(&left_out.join(", "))
        );
    }
    let data = json!({ "keys": keys, "ops": ops, "rows": ROWS })
        .to_string()
        .replace("</", "<\\/");
    let _ = writeln!(
        h,
        "<section id=\"linearizations\"><h2>Linearizations</h2><p>For a valid key, a complete linearization: an order of \
         its operations that respects real time, in which each is legal in the model. For an invalid key, the longest \
         partial linearization the search reached through each operation: hover over an operation in the list or in the \
         timeline to see it, with the model's state after each step; click to keep it (the address then names it: \
         <code>#op=N</code>).</p><p class=\"note\">{limits}</p><p><label>key <select id=\"lin-key\"></select></label></p>\
         <div id=\"lin-list\"></div><div id=\"lin-view\"></div><script>const LIN={data};{JS}</script></section>"
    );
}

/// Renders `LIN`: `keys` (each `{key, verdict, complete, steps: [parent,
/// op, state], states, longest: [op, step], omitted, ops}`), `ops` (op
/// number → `[description, when]`), `rows`. Listens for `timeline-op`
/// events (`detail: {op, pin}`) from the timeline.
const JS: &str = r#"
(()=>{const D=LIN,sel=document.getElementById('lin-key'),list=document.getElementById('lin-list'),view=document.getElementById('lin-view');
const esc=s=>String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const where=new Map();D.keys.forEach((k,i)=>{if(k.complete){for(const s of k.steps)where.set(s[1],[i,k.steps.length-1]);}else for(const [op,end] of k.longest)where.set(op,[i,end]);});
const name=k=>k.key==null?'the history':'key '+k.key;
const path=(k,end)=>{const p=[];for(let s=end;s!=null;s=k.steps[s][0])p.push(k.steps[s]);return p.reverse();};
const depth=(k,end)=>{let n=0;for(let s=end;s!=null;s=k.steps[s][0])n++;return n;};
D.keys.forEach((k,i)=>{const o=document.createElement('option');o.value=i;o.textContent=name(k)+' ('+k.verdict+': '+(k.complete?'a complete linearization, '+k.steps.length+' steps':'partial linearizations of '+k.longest.length+' of its '+k.ops+' operations')+')';sel.appendChild(o);});
function fill(){const k=D.keys[+sel.value];if(k.complete){list.innerHTML=k.omitted?'<p>The first '+k.steps.length+' steps; '+k.omitted+' more are past the cap.</p>':'';return;}
let h='<p>'+k.longest.length+' of the '+k.ops+' operations of '+esc(name(k))+' are in a partial linearization the search reached'+(k.omitted?' ('+k.omitted+' more left out by the cap)':'')+'; the others never could be ordered. Hover over one:</p><table><tr><th>operation</th><th>time</th><th>its longest partial linearization</th></tr>';
for(const [op,end] of k.longest){const o=D.ops[op];h+='<tr data-op="'+op+'"><td>'+esc(o[0])+'</td><td>'+esc(o[1])+'</td><td>'+depth(k,end)+' steps</td></tr>';}
list.innerHTML=h+'</table>';}
function longestOf(k){let best=null,n=-1;for(const [op,end] of k.longest){const d=depth(k,end);if(d>n){n=d;best=op;}}return best;}
function show(op){let k=D.keys[+sel.value];
if(op!=null){const w=where.get(op);if(!w){view.innerHTML='<p>'+esc(D.ops[op]?D.ops[op][0]:'operation '+op)+': in no partial linearization the search reached.</p>';return;}
if(w[0]!=+sel.value){sel.value=w[0];fill();k=D.keys[w[0]];}}
else if(!k.complete){op=longestOf(k);if(op==null){view.innerHTML='<p>No operation of '+esc(name(k))+' could be ordered.</p>';return;}}
const end=k.complete?k.steps.length-1:where.get(op)[1],p=path(k,end),at=op==null?p.length-1:p.findIndex(s=>s[1]==op);
const from=Math.max(0,Math.min(at-(D.rows>>1),p.length-D.rows)),to=Math.min(p.length,from+D.rows);
let h='<p class="lin-title" data-steps="'+p.length+'">'+(k.complete?esc(name(k))+': a complete linearization, '+p.length+' steps':'The longest partial linearization through <b>'+esc(D.ops[op][0])+'</b>: '+p.length+' steps')+(from>0||to<p.length?' (steps '+(from+1)+'–'+to+' shown)':'')+'</p>';
h+='<table class="steps"><tr><th>#</th><th>operation</th><th>time</th><th>state after</th></tr>';
for(let i=from;i<to;i++){const s=p[i],o=D.ops[s[1]];h+='<tr data-op="'+s[1]+'"'+(s[1]==op?' class="here"':'')+'><td>'+(i+1)+'</td><td>'+esc(o[0])+'</td><td>'+esc(o[1])+'</td><td class="state">'+esc(k.states[s[2]])+'</td></tr>';}
view.innerHTML=h+'</table>';}
const pinned=()=>{const m=/^#op=(\d+)$/.exec(location.hash);return m?+m[1]:null;};
sel.addEventListener('change',()=>{fill();show(null);});
list.addEventListener('mouseover',ev=>{const r=ev.target.closest('tr[data-op]');if(r)show(+r.dataset.op);});
list.addEventListener('mouseleave',()=>show(pinned()));
list.addEventListener('click',ev=>{const r=ev.target.closest('tr[data-op]');if(r)location.hash='op='+r.dataset.op;});
document.addEventListener('timeline-op',ev=>{const op=ev.detail.op;if(ev.detail.pin&&op!=null)location.hash='op='+op;else if(op!=null&&where.has(op))show(op);else if(op==null)show(pinned());});
window.addEventListener('hashchange',()=>show(pinned()));
fill();show(pinned());})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::linearizable::{check, Linearize, Options};
    use checkers::{import, History, ModelKind};

    /// Two keys, each with a read of a value nobody wrote after a write.
    fn history() -> History {
        let mut lines = Vec::new();
        for (k, t) in [(0, 0), (1, 10)] {
            for (dt, kind, f, v) in [
                (0, "invoke", "write", "1"),
                (1, "ok", "write", "1"),
                (2, "invoke", "read", "null"),
                (3, "ok", "read", "2"),
            ] {
                lines.push(format!(
                    r#"{{"time":{},"type":"{kind}","process":{k},"f":"{f}","key":{k},"value":{v}}}"#,
                    t + dt
                ));
            }
        }
        import::parse(&lines.join("\n"), "h.jsonl", None).unwrap().0
    }

    fn embedded(h: &str) -> serde_json::Value {
        let from = h.split("const LIN=").nth(1).expect("the data is embedded");
        serde_json::Deserializer::from_str(from)
            .into_iter()
            .next()
            .unwrap()
            .unwrap()
    }

    #[test]
    fn keys_past_the_budget_are_left_out_and_named() {
        let history = history();
        let opts = Options {
            linearizations: Some(Linearize::default()),
            ..Options::default()
        };
        let report = check(&history, ModelKind::Register, None, &opts).unwrap();
        assert_eq!(
            report
                .partitions
                .iter()
                .filter(|p| p.verdict == Verdict::Invalid)
                .count(),
            2
        );
        let view = RunView {
            title: "t".into(),
            verdict: report.verdict,
            sentence: String::new(),
            test: None,
            history: &history,
            operations: history.operations().unwrap(),
            faults: Vec::new(),
            checkers: Vec::new(),
            linearizable: Some(&report),
            transactions: None,
            metrics: None,
            log: None,
        };
        let mut whole = String::new();
        render(&mut whole, &view, EMBED_BYTES);
        let data = embedded(&whole);
        assert_eq!(data["keys"].as_array().unwrap().len(), 2);
        // Each key's write is in a partial linearization, and named.
        assert_eq!(data["keys"][1]["longest"], json!([[2, 0]]));
        assert_eq!(data["ops"]["2"][0], "process 1 wrote 1 on key 1");
        assert!(!whole.contains("Not embedded"));

        let one = whole.split("here 2 keys, ").nth(1).unwrap();
        let kib: f64 = one.split(' ').next().unwrap().parse().unwrap();
        let mut cut = String::new();
        render(&mut cut, &view, (kib * 1024.0) as usize - 1);
        assert_eq!(
            embedded(&cut)["keys"].as_array().unwrap().len(),
            1,
            "only key 0 fits"
        );
        assert!(cut.contains("Not embedded, past the page's budget"), "{cut}");
        assert!(cut.contains("carry them): 1."), "key 1 is named");
    }
}
