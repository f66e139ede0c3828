//! The report's timeline: a short summary of the run (operations by
//! outcome, faults by kind, the anomaly), then every client operation as
//! a bar on a canvas, one row per lane of processes that take turns, with
//! fault periods shaded and labelled (scroll to zoom, drag to pan).
//!
//! A process that gets an indeterminate (`info`) result never invokes
//! again: faultline's worker carries on as a fresh process, and
//! `History::pair` renames an imported process that carries on. One row
//! per process would add a row for every `info`; lanes keep the rows near
//! the number of client threads. An `info` operation is drawn to where its
//! client gave up, with an arrow: it may still take effect at any later
//! time.
//!
//! Big histories stay small: the timeline carries at most `TIMELINE_OPS`
//! operations — every operation near the failure, and an even sample of
//! the rest.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use checkers::counterexample::describe_op;
use checkers::{FaultPeriod, Operation, Outcome, Process};
use serde_json::json;

use crate::{escape, RunView};
use crate::{outcome_column, verdict_class};

/// Operations the timeline carries at most.
const TIMELINE_OPS: usize = 20_000;
/// Operations on each side of the failure always shown in the timeline.
const NEIGHBOURHOOD: usize = 400;
/// An `info` operation that never completed keeps its lane for this
/// share of the history's span: about the width of its mark in the whole
/// view, so the next process in the lane does not start under the mark.
const OPEN_MARK_SHARE: u64 = 100;

/// How an operation is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// A green bar from invocation to completion.
    Ok,
    /// A red bar.
    Fail,
    /// An orange bar to where the client gave up (the time of its `info`
    /// completion), then an arrow.
    GaveUp(u64),
    /// No completion at all: a short orange mark and an arrow.
    Open,
}

/// One operation as the timeline draws it.
struct Bar<'a> {
    op: &'a Operation,
    shape: Shape,
}

impl<'a> Bar<'a> {
    fn new(op: &'a Operation, given_up: &HashMap<Process, u64>) -> Bar<'a> {
        let shape = match op.outcome {
            Outcome::Ok => Shape::Ok,
            Outcome::Fail => Shape::Fail,
            Outcome::Info => given_up
                .get(&op.process)
                .map_or(Shape::Open, |&t| Shape::GaveUp(t)),
        };
        Bar { op, shape }
    }

    /// Where the bar ends; `None` for the short mark of an open op.
    fn end(&self) -> Option<u64> {
        match self.shape {
            Shape::Ok | Shape::Fail => Some(self.op.ret.unwrap_or(self.op.call)),
            Shape::GaveUp(t) => Some(t),
            Shape::Open => None,
        }
    }

    /// Until when it keeps its lane.
    fn until(&self, open_mark: u64) -> u64 {
        self.end().unwrap_or(self.op.call.saturating_add(open_mark))
    }

    /// The shape's number in `DATA` (the script's colour index).
    fn code(&self) -> u8 {
        match self.shape {
            Shape::Ok => 0,
            Shape::Fail => 1,
            Shape::GaveUp(_) => 2,
            Shape::Open => 3,
        }
    }
}

/// When each process's `info` operation was given up: the time of its
/// `info` completion. A process has at most one, its last operation.
fn given_up(view: &RunView) -> HashMap<Process, u64> {
    let h = view.history;
    // The operations were paired from this history already, so pairing
    // again cannot fail; if it did, every `info` op would draw as open.
    h.pair_events().map_or_else(
        |_| HashMap::new(),
        |p| {
            p.pairs
                .into_iter()
                .filter(|p| p.outcome == Outcome::Info)
                .filter_map(|p| Some((p.process, h.ops[p.completion?].time)))
                .collect()
        },
    )
}

/// The timeline's rows: processes that never overlap in time share a
/// lane.
struct Lanes {
    /// Each process's lane.
    of: HashMap<Process, usize>,
    /// Each lane's processes, in the order they took it.
    members: Vec<Vec<Process>>,
}

/// Packs processes into lanes, in the order they start: each takes a free
/// lane (its last process finished before this one starts), or a new
/// lane. The number of lanes is the most processes ever live at once: the
/// concurrency, for faultline's runs. Among free lanes it prefers the one
/// whose last process it seems to continue — its id less a multiple of
/// the lane count, as faultline and Jepsen number a thread's next process
/// (`process + concurrency`) — then the lane that freed last, so a lane
/// reads as one thread's processes in turn. Lanes rather than
/// `process % concurrency` because imported histories record no
/// concurrency, and a process renamed after an `info` gets an id past
/// every id in the file: only the times say which lane is free.
fn pack(bars: &[Bar], open_mark: u64) -> Lanes {
    let mut extent: HashMap<Process, (u64, u64)> = HashMap::new();
    for b in bars {
        let e = extent.entry(b.op.process).or_insert((b.op.call, b.op.call));
        e.0 = e.0.min(b.op.call);
        e.1 = e.1.max(b.until(open_mark));
    }
    let mut order: Vec<_> = extent.into_iter().collect();
    order.sort_by_key(|&(p, (start, _))| (start, p));
    let mut lanes = Lanes {
        of: HashMap::with_capacity(order.len()),
        members: Vec::new(),
    };
    let mut freed: Vec<u64> = Vec::new();
    for (p, (start, end)) in order {
        let n = freed.len() as u64;
        let continues = |lane: &Vec<Process>| match (lane.last(), p) {
            (Some(&Process::Client(q)), Process::Client(p)) => p > q && (p - q) % n == 0,
            _ => false,
        };
        let free = freed
            .iter()
            .enumerate()
            .filter(|&(_, &f)| f <= start)
            .max_by_key(|&(i, &f)| (continues(&lanes.members[i]), f, Reverse(i)))
            .map(|(i, _)| i);
        let lane = free.unwrap_or_else(|| {
            freed.push(0);
            lanes.members.push(Vec::new());
            freed.len() - 1
        });
        freed[lane] = end;
        lanes.members[lane].push(p);
    }
    // Rows in the order of their first process: 0 on top.
    lanes.members.sort();
    for (lane, m) in lanes.members.iter().enumerate() {
        lanes.of.extend(m.iter().map(|&p| (p, lane)));
    }
    lanes
}

/// Picks the operations the timeline shows, each with its position in
/// `ops`: everything near the failure, an even sample of the rest.
fn timeline_ops<'a>(ops: &'a [Operation], failure: Option<&Operation>) -> Vec<(u32, &'a Operation)> {
    if ops.len() <= TIMELINE_OPS {
        return ops.iter().enumerate().map(|(i, o)| (i as u32, o)).collect();
    }
    let centre = failure.and_then(|f| {
        ops.iter()
            .position(|o| o.call == f.call && o.process == f.process)
    });
    let near = centre.map_or(0..0, |c| {
        c.saturating_sub(NEIGHBOURHOOD)..(c + NEIGHBOURHOOD).min(ops.len())
    });
    let stride = ops.len().div_ceil(TIMELINE_OPS - near.len()).max(1);
    ops.iter()
        .enumerate()
        .filter(|(i, _)| near.contains(i) || i % stride == 0)
        .map(|(i, o)| (i as u32, o))
        .collect()
}

/// What the script draws: `DATA` (see `JS`).
fn data(
    view: &RunView,
    shown: &[(u32, &Operation)],
    periods: &[FaultPeriod],
    failure: Option<&Operation>,
) -> serde_json::Value {
    let given_up = given_up(view);
    let bars: Vec<Bar> = shown.iter().map(|(_, o)| Bar::new(o, &given_up)).collect();
    let end = view.history.ops.last().map_or(1, |o| o.time.max(1));
    let lanes = pack(&bars, end / OPEN_MARK_SHARE);
    let scale = if view.history.timed { 1e6 } else { 1.0 };
    let at = |t: u64| t as f64 / scale;
    let drawn = |b: &Bar, lane: usize| {
        vec![
            json!(lane),
            json!(at(b.op.call)),
            json!(b.end().map_or(-1.0, at)),
            json!(b.code()),
        ]
    };
    let ops: Vec<_> = bars
        .iter()
        .zip(shown)
        .map(|(b, (position, _))| {
            let mut o = drawn(b, lanes.of[&b.op.process]);
            o.push(describe_op(b.op).into());
            o.push((*position).into());
            o
        })
        .collect();
    let failure = failure.and_then(|f| {
        let b = Bar::new(f, &given_up);
        lanes.of.get(&f.process).map(|&lane| drawn(&b, lane))
    });
    json!({
        "lanes": lanes.members.iter().map(|m| m.iter().map(|p| p.to_string()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "ops": ops,
        "end": at(end),
        "unit": if view.history.timed { "ms" } else { "event" },
        "faults": periods.iter().map(|p| json!([at(p.start), at(p.end), p.label()])).collect::<Vec<_>>(),
        "failure": failure,
    })
}

/// Operations by outcome, faults by kind, and the anomaly sentence.
fn summary(h: &mut String, view: &RunView, periods: &[FaultPeriod]) {
    let mut outcomes = [0usize; 3];
    for o in &view.operations {
        outcomes[outcome_column(o.outcome)] += 1;
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for p in periods {
        *kinds.entry(p.kind.as_str()).or_default() += 1;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by_key(|&(k, n)| (Reverse(n), k));
    let faults = match periods.len() {
        0 => "no faults".to_string(),
        n => format!(
            "{n} fault{}: {}",
            if n == 1 { "" } else { "s" },
            kinds
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let [ok, fail, info] = outcomes;
    let _ = write!(
        h,
        "<div id=\"summary\"><p><b>{} operations</b>: <span class=\"ok\">{ok} ok</span> · <span class=\"fail\">{fail} fail</span> · \
         <span class=\"info\">{info} info</span> (indeterminate)</p><p><b>{faults}</b></p><p class=\"{}\">{}</p></div>",
        view.operations.len(),
        verdict_class(view.verdict),
        escape(&view.sentence)
    );
}

/// The timeline section: the summary, a line on how to read it, and the
/// canvas with its data and script.
pub(crate) fn section(h: &mut String, view: &RunView, periods: &[FaultPeriod], failure: Option<&Operation>) {
    h.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
    summary(h, view, periods);
    let shown = timeline_ops(&view.operations, failure);
    let data = data(view, &shown, periods, failure);
    let rows = data["lanes"].as_array().map_or(0, Vec::len);
    let processes: usize = data["lanes"]
        .as_array()
        .map_or(0, |l| l.iter().filter_map(|m| m.as_array()).map(Vec::len).sum());
    let data = data.to_string().replace("</", "<\\/");
    let _ = write!(
        h,
        "<p>{processes} process{} in {rows} row{}: a process that got an indeterminate result never invokes again (its \
         thread carries on as a fresh process), so processes that never overlap take turns in a row, named in order. \
         Each bar runs from invocation to completion (green ok, red fail); an orange bar ends where its client gave up, \
         and its arrow says the operation stays indeterminate: it may take effect at any later time (a short orange \
         mark: no completion was recorded). Shaded spans are faults, labelled on top{}. Scroll to zoom, drag to pan, \
         hover for the operation.{}</p><canvas id=\"tl\" width=\"1200\" height=\"400\"></canvas><div id=\"tip\"></div>\
         <script>const DATA={data};{JS}</script></section>",
        if processes == 1 { "" } else { "es" },
        if rows == 1 { "" } else { "s" },
        if failure.is_some() { "; the outlined bar is the operation that cannot be linearized, and the view opens on it" } else { "" },
        if shown.len() < view.operations.len() {
            format!(" Showing {} of {} operations: all near the failure, a sample of the rest.", shown.len(), view.operations.len())
        } else {
            String::new()
        }
    );
}

/// Draws `DATA`: `lanes` (each row's processes), `ops` (`[row, call, end
/// or -1, shape, description, position]`, shape 0 ok, 1 fail, 2 given up,
/// 3 never completed; position in `RunView::operations`), `faults`
/// (`[start, end, label]`), `failure` (an op without its description).
/// Fault labels sit in bands above the rows; a fault that overlaps an
/// earlier one in time takes the next band. Hovering over an op (or off
/// one) and clicking one send a `timeline-op` event (`detail: {op:
/// position or null, pin}`), which the linearization view listens for.
const JS: &str = r#"
(()=>{const c=document.getElementById('tl'),x=c.getContext('2d'),tip=document.getElementById('tip'),D=DATA;
const rows=Math.max(D.lanes.length,1),rh=Math.max(8,Math.min(22,360/rows)),L=140,FB=15,MARK=10,AR=6;
const band=[],bandEnd=[];for(const f of D.faults){let k=bandEnd.findIndex(e=>e<=f[0]);if(k<0){k=bandEnd.length;bandEnd.push(0);}bandEnd[k]=f[1];band.push(k);}
const top=bandEnd.length*FB,bottom=top+rows*rh;c.height=bottom+20;c.dataset.rows=D.lanes.length;
const W=()=>c.width;let a=0,b=D.end||1;
if(D.failure){const f=D.failure,s=f[1],e=f[2]<0?s:f[2],m=Math.max((e-s)*8,D.end/200);a=Math.max(0,s-m);b=Math.min(D.end,e+m);}
const X=t=>L+(t-a)/(b-a)*(W()-L-10),T=px=>a+(px-L)/(W()-L-10)*(b-a),col=['#2a8a3e','#c62828','#e08a00','#e08a00'];
const fit=(s,w)=>{if(x.measureText(s).width<=w)return s;let n=s.length;while(n>0&&x.measureText(s.slice(0,n)+'…').width>w)n--;return n?s.slice(0,n)+'…':'';};
const laneLabel=(ps,w)=>{let s=ps[0];for(let i=1;i<ps.length;i++){const t=s+', '+ps[i],rest=ps.length-i-1;
if(x.measureText(t+(rest?' +'+rest:'')).width>w)return s+' +'+(ps.length-i);s=t;}return s;};
const barEnd=o=>{const s=X(o[1]);return o[3]==3?s+MARK:Math.max(X(o[2]),s+1.5);};
const right=o=>barEnd(o)+(o[3]>=2?AR:0);
function bar(o){const y=top+o[0]*rh,s=X(o[1]),e=barEnd(o);if(e+AR<L||s>W())return;x.fillStyle=col[o[3]];
if(e>L)x.fillRect(Math.max(s,L),y+1,Math.min(e,W())-Math.max(s,L),rh-2);
if(o[3]>=2&&e>=L&&e<W()){x.beginPath();x.moveTo(e,y);x.lineTo(e+AR,y+rh/2);x.lineTo(e,y+rh);x.fill();}}
function draw(){x.clearRect(0,0,W(),c.height);x.font='11px sans-serif';
D.faults.forEach((f,i)=>{const p=Math.max(X(f[0]),L),q=Math.min(X(f[1]),W());if(q<=p)return;x.fillStyle='rgba(250,170,170,.35)';
x.fillRect(p,top,q-p,rows*rh);x.fillStyle='#d36b6b';x.fillRect(p,band[i]*FB+1,q-p,FB-2);x.fillStyle='#fff';x.fillText(fit(f[2],q-p-4),p+2,band[i]*FB+FB-4);});
x.fillStyle='#555';D.lanes.forEach((ps,i)=>{if(rh>=9||i%5==0)x.fillText(laneLabel(ps,L-8),4,top+i*rh+rh*.75)});
for(const o of D.ops)if(o[3]<2)bar(o);for(const o of D.ops)if(o[3]>=2)bar(o);
if(D.failure){const f=D.failure;x.strokeStyle='#000';x.lineWidth=2;x.strokeRect(X(f[1])-2,top+f[0]*rh-1,right(f)-X(f[1])+4,rh+2);}
x.fillStyle='#333';const sec=D.unit=='ms'&&b-a>=2000;for(let i=0;i<6;i++){const t=a+(b-a)*i/6;x.fillText(sec?(t/1000).toFixed(1)+' s':t.toFixed(1)+' '+D.unit,X(t)-10,c.height-5);}}
const at=v=>v.toFixed(2)+' '+D.unit,faultText=f=>'fault: '+f[2]+'  ['+at(f[0])+' – '+at(f[1])+']';
const opText=o=>o[4]+'  ['+at(o[1])+(o[3]==3?', no completion recorded: it stays indeterminate and may take effect at any later time]'
:' – '+at(o[2])+(o[3]==2?': the client gave up here; it stays indeterminate and may take effect at any later time]':']'));
c.addEventListener('wheel',ev=>{ev.preventDefault();const r=c.getBoundingClientRect(),t=T((ev.clientX-r.left)*W()/r.width),k=ev.deltaY>0?1.25:0.8;
a=Math.max(0,t-(t-a)*k);b=Math.min(D.end,t+(b-t)*k);draw();});
let drag=null;c.addEventListener('mousedown',ev=>drag=[ev.clientX,a,b]);window.addEventListener('mouseup',()=>drag=null);
c.addEventListener('mousemove',ev=>{const r=c.getBoundingClientRect(),px=(ev.clientX-r.left)*W()/r.width,py=(ev.clientY-r.top)*c.height/r.height;
if(drag){const d=(ev.clientX-drag[0])*W()/r.width/(W()-L-10)*(drag[2]-drag[1]);a=drag[1]-d;b=drag[2]-d;draw();return;}
const t=T(px),row=Math.floor((py-top)/rh),fault=D.faults.find((f,i)=>f[0]<=t&&t<=f[1]&&(py>=top||band[i]==Math.floor(py/FB)));let s='';
if(py>=top&&row<rows&&px<L){const ps=D.lanes[row]||[];s='row '+(row+1)+': process'+(ps.length>1?'es ':' ')+ps.slice(0,40).join(', ')+(ps.length>40?' and '+(ps.length-40)+' more':'');}
else{const o=opAt(ev);s=o?opText(o):'';const op=o?o[5]:null;if(op!==hovered){hovered=op;send(op,false);}}
tip.textContent=s||(fault&&px>=L?faultText(fault):'');});
let hovered=null;const send=(op,pin)=>document.dispatchEvent(new CustomEvent('timeline-op',{detail:{op,pin}}));
function opAt(ev){const r=c.getBoundingClientRect(),px=(ev.clientX-r.left)*W()/r.width,py=(ev.clientY-r.top)*c.height/r.height,row=Math.floor((py-top)/rh);
if(py<top||row>=rows||px<L)return null;const hit=o=>o[0]==row&&X(o[1])<=px&&px<=right(o);return D.ops.find(o=>o[3]>=2&&hit(o))||D.ops.find(hit)||null;}
let down=null;c.addEventListener('mousedown',ev=>down=[ev.clientX,ev.clientY]);
c.addEventListener('click',ev=>{if(down&&Math.abs(ev.clientX-down[0])+Math.abs(ev.clientY-down[1])>3)return;const o=opAt(ev);if(o)send(o[5],true);});
draw();})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::{import, History, Verdict};

    /// The report's view of a JSONL history, valid, without checkers.
    fn view(h: &History) -> RunView<'_> {
        RunView {
            title: "t".into(),
            verdict: Verdict::Valid,
            sentence: "all clear".into(),
            test: None,
            history: h,
            operations: h.operations().unwrap(),
            checkers: Vec::new(),
            linearizable: None,
            transactions: None,
            metrics: None,
            log: None,
            faults: Vec::new(),
        }
    }

    fn history(lines: &[(u64, &str, &str, &str)]) -> History {
        let text: Vec<String> = lines
            .iter()
            .map(|(t, kind, p, f)| {
                format!(r#"{{"time":{t},"type":"{kind}","process":{p},"f":"{f}","value":null}}"#)
            })
            .collect();
        import::parse(&text.join("\n"), "h.jsonl", None).unwrap().0
    }

    /// The section's embedded `DATA`, as the browser reads it.
    fn embedded(view: &RunView, periods: &[FaultPeriod]) -> (String, serde_json::Value) {
        let mut h = String::new();
        section(&mut h, view, periods, None);
        let from = h.find("const DATA=").expect("DATA is embedded") + "const DATA=".len();
        let data = serde_json::Deserializer::from_str(&h[from..])
            .into_iter::<serde_json::Value>()
            .next()
            .unwrap()
            .unwrap();
        (h, data)
    }

    #[test]
    fn retired_processes_take_turns_in_their_workers_lane() {
        // Three workers. Worker 0's process 0 gets an info and carries on as
        // 3 (faultline's way), which also ends in an info and carries on as
        // 6; process 1 carries on under its own id after an info (other
        // harnesses' way: pairing renames it 7, past every id).
        let h = history(&[
            (0, "invoke", "0", "read"),
            (1, "invoke", "1", "read"),
            (2, "invoke", "2", "read"),
            (10, "info", "0", "read"),
            (11, "invoke", "3", "read"),
            (12, "info", "1", "read"),
            (13, "ok", "2", "read"),
            (14, "invoke", "1", "read"),
            (15, "invoke", "2", "read"),
            (20, "info", "3", "read"),
            (21, "invoke", "6", "read"),
            (22, "ok", "6", "read"),
            (23, "ok", "1", "read"),
            (24, "ok", "2", "read"),
        ]);
        let (html, data) = embedded(&view(&h), &[]);
        assert_eq!(
            data["lanes"],
            json!([["0", "3", "6"], ["1", "7"], ["2"]]),
            "six processes in three lanes, each worker's in turn"
        );
        assert!(html.contains("6 processes in 3 rows"), "{html}");
    }

    #[test]
    fn a_fresh_process_joins_its_predecessors_lane_though_another_freed_later() {
        // Two workers: 0 gives up at 10, 1 at 12; 2 (0's next, 0 + 2)
        // starts at 13, when both lanes are free.
        let h = history(&[
            (0, "invoke", "0", "read"),
            (1, "invoke", "1", "read"),
            (10, "info", "0", "read"),
            (12, "info", "1", "read"),
            (13, "invoke", "2", "read"),
            (14, "invoke", "3", "read"),
            (15, "ok", "2", "read"),
            (16, "ok", "3", "read"),
        ]);
        let (_, data) = embedded(&view(&h), &[]);
        assert_eq!(data["lanes"], json!([["0", "2"], ["1", "3"]]));
    }

    #[test]
    fn an_info_op_ends_where_it_was_given_up_and_one_never_answered_is_a_short_mark() {
        let ms = 1_000_000;
        let h = history(&[
            (0, "invoke", "0", "write"),
            (ms, "invoke", "1", "write"),
            (5 * ms, "info", "0", "write"),
            (6 * ms, "invoke", "2", "read"),
            (7 * ms, "ok", "2", "read"),
            (8 * ms, "invoke", "4", "read"),
            (9 * ms, "ok", "4", "read"),
            (20 * ms, "invoke", "3", "read"),
            (21 * ms, "ok", "3", "read"),
            (900 * ms, "invoke", "2", "read"),
            (901 * ms, "ok", "2", "read"),
        ]);
        let (_, data) = embedded(&view(&h), &[]);
        let ops = data["ops"].as_array().unwrap();
        let op = |p: &str| {
            ops.iter()
                .find(|o| o[4].as_str().unwrap().starts_with(&format!("process {p} wrote")))
                .unwrap()
        };
        assert_eq!(
            (op("0")[2].as_f64(), op("0")[3].as_u64()),
            (Some(5.0), Some(2)),
            "drawn to its info at 5 ms, not to the end"
        );
        assert_eq!(
            (op("1")[2].as_f64(), op("1")[3].as_u64()),
            (Some(-1.0), Some(3)),
            "no completion: a mark"
        );
        assert_eq!(data["end"], 901.0);
        // Process 1's mark keeps its lane for 1% of the span (9.01 ms), so
        // process 4 (8–9 ms) needs a lane of its own, and 3 (from 20 ms)
        // takes the lane that freed last.
        assert_eq!(data["lanes"], json!([["0", "2"], ["1", "3"], ["4"]]));
    }

    #[test]
    fn fault_spans_carry_their_labels_and_the_summary_counts_them() {
        let h = history(&[
            (0, "invoke", "0", "read"),
            (1, "ok", "0", "read"),
            (2, "invoke", "0", "write"),
            (3, "fail", "0", "write"),
            (4, "invoke", "0", "read"),
            (5, "info", "0", "read"),
        ]);
        let period = |kind: &str, what: &str, start, end| FaultPeriod {
            kind: kind.into(),
            nodes: Vec::new(),
            start,
            end,
            what: what.into(),
        };
        let periods = [
            period("partition", "partition isolate one: n1,n3 | n2", 0, 3),
            period("kill", "kill n1", 1, 4),
            period("partition", "partition majority/minority: n1,n2 | n3", 4, 5),
        ];
        let (html, data) = embedded(&view(&h), &periods);
        let labels: Vec<&str> = data["faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f[2].as_str().unwrap())
            .collect();
        assert_eq!(
            labels,
            [
                "partition isolate one: n1,n3 | n2",
                "kill n1",
                "partition majority/minority: n1,n2 | n3"
            ]
        );
        assert!(html.contains("<b>3 operations</b>: <span class=\"ok\">1 ok</span> · <span class=\"fail\">1 fail</span> · <span class=\"info\">1 info</span>"), "{html}");
        assert!(html.contains("<b>3 faults: 2 partition, 1 kill</b>"), "{html}");
        assert!(html.contains("<p class=\"valid\">all clear</p>"), "{html}");
    }
}
