//! The report's panel of the system's own metrics: the chosen series,
//! one line per node, on the latency plot's time axis with the same fault
//! shading and the anomalous operation's time marked, and a list to plot
//! any other series sampled. Drawn in the browser (SVG) from data
//! embedded in the page, bounded: at most [`MAX_SERIES`] series (the
//! chosen first, then those that changed; a series constant on every node
//! is left out) of at most [`MAX_POINTS`] points per node.

use std::fmt::Write as _;

use checkers::FaultPeriod;
use serde_json::json;

use crate::{escape, RunView, SystemMetrics};

/// Series embedded at most.
pub const MAX_SERIES: usize = 300;
/// Points per node and series at most (evenly thinned beyond).
pub const MAX_POINTS: usize = 300;

/// Writes the panel, if the run sampled the system's metrics. `marks`:
/// when the anomalous operations were invoked (ns).
pub(crate) fn section(h: &mut String, view: &RunView, periods: &[FaultPeriod], marks: &[u64]) {
    let Some(m) = view.metrics else { return };
    let span_ns = view
        .history
        .ops
        .last()
        .map_or(0, |o| o.time)
        .max(periods.iter().map(|p| p.end).max().unwrap_or(0));
    let (names, left_out) = embedded(m);
    let series: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|name| {
            let lines: Vec<Vec<(f64, f64)>> = m.series[*name].iter().map(|l| thin(l)).collect();
            (name.to_string(), json!(lines))
        })
        .collect();
    let gaps: Vec<Vec<f64>> = m
        .gaps
        .iter()
        .map(|g| g.iter().map(|&t| secs(t)).collect())
        .collect();
    let data = json!({
        "nodes": m.nodes,
        "chosen": m.chosen.iter().filter(|c| m.series.contains_key(*c)).collect::<Vec<_>>(),
        "series": series,
        "gaps": gaps,
        "span": secs(span_ns).max(1.0),
        "faults": periods.iter().map(|p| (secs(p.start), secs(p.end), p.label())).collect::<Vec<_>>(),
        "marks": marks.iter().map(|&t| secs(t)).collect::<Vec<_>>(),
    });
    let missing: Vec<&String> = m.chosen.iter().filter(|c| !m.series.contains_key(*c)).collect();
    let _ = write!(
        h,
        "<section id=\"system-metrics\"><h2>The system's metrics</h2><p>Sampled from each node about once a second \
         (a gap where a node did not answer), on the latency plot's time axis; faults shaded{}. {} series sampled; \
         {} embedded here (at most {MAX_SERIES}, the chosen first; {left_out} constant or over the cap left out; \
         at most {MAX_POINTS} points per node).{}</p><div id=\"metrics-chosen\"></div>\
         <p><label>Any other series: <select id=\"metrics-select\"><option value=\"\">choose…</option>",
        if marks.is_empty() { "" } else { ", the anomalous operation marked in red" },
        m.series.len(),
        names.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(
                " Not sampled: {}.",
                missing.iter().map(|s| escape(s)).collect::<Vec<_>>().join(", ")
            )
        },
    );
    for name in &names {
        let _ = write!(h, "<option>{}</option>", escape(name));
    }
    // `</` cannot end the script early: JSON escapes it as `<\/`.
    let embedded = data.to_string().replace("</", "<\\/");
    let _ = writeln!(
        h,
        "</select></label></p><div id=\"metrics-any\"></div>\
         <script type=\"application/json\" id=\"metrics-data\">{embedded}</script><script>{SCRIPT}</script></section>"
    );
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The series to embed, chosen first, and how many were left out.
fn embedded(m: &SystemMetrics) -> (Vec<&str>, usize) {
    let varies = |lines: &Vec<Vec<(u64, f64)>>| {
        let mut values = lines.iter().flatten().map(|p| p.1);
        values.next().is_some_and(|first| values.any(|v| v != first))
    };
    let chosen = m
        .chosen
        .iter()
        .filter(|c| m.series.contains_key(*c))
        .map(String::as_str);
    let others = m
        .series
        .iter()
        .filter(|(name, lines)| !m.chosen.contains(name) && varies(lines))
        .map(|(name, _)| name.as_str());
    let names: Vec<&str> = chosen.chain(others).take(MAX_SERIES).collect();
    (names.clone(), m.series.len() - names.len())
}

/// At most `MAX_POINTS` of a line's points, in seconds.
fn thin(line: &[(u64, f64)]) -> Vec<(f64, f64)> {
    let stride = line.len().div_ceil(MAX_POINTS).max(1);
    line.iter().step_by(stride).map(|&(t, v)| (secs(t), v)).collect()
}

/// Draws one SVG per series: a line per node, broken at its gaps.
const SCRIPT: &str = r##"(function(){
const d=JSON.parse(document.getElementById('metrics-data').textContent);
const NS='http://www.w3.org/2000/svg',W=900,H=180,L=70,R=110,T=22,B=24;
const colors=['#1f77b4','#d62728','#2ca02c','#9467bd','#ff7f0e','#8c564b','#e377c2','#7f7f7f'];
function el(n,a,p){const e=document.createElementNS(NS,n);for(const k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}
function draw(name,into){
 const lines=d.series[name];if(!lines)return;
 let lo=Infinity,hi=-Infinity;
 for(const l of lines)for(const p of l){lo=Math.min(lo,p[1]);hi=Math.max(hi,p[1]);}
 if(!(lo<=hi)){lo=0;hi=1;} if(lo===hi){lo-=1;hi+=1;}
 const x=t=>L+(W-L-R)*t/d.span,y=v=>H-B-(H-T-B)*(v-lo)/(hi-lo);
 const svg=el('svg',{width:W,height:H,class:'metric','data-series':name});
 el('text',{x:L,y:14,'font-size':13},svg).textContent=name;
 for(const f of d.faults){const r=el('rect',{x:x(f[0]),y:T,width:Math.max(1,x(f[1])-x(f[0])),height:H-T-B,fill:'#f4c7c3',opacity:0.6,class:'fault'},svg);el('title',{},r).textContent=f[2];}
 el('line',{x1:L,y1:H-B,x2:W-R,y2:H-B,stroke:'#333'},svg);el('line',{x1:L,y1:T,x2:L,y2:H-B,stroke:'#333'},svg);
 el('text',{x:L-4,y:T+10,'text-anchor':'end','font-size':11},svg).textContent=+hi.toPrecision(4);
 el('text',{x:L-4,y:H-B,'text-anchor':'end','font-size':11},svg).textContent=+lo.toPrecision(4);
 for(let s=0;s<=d.span;s+=Math.max(1,Math.ceil(d.span/10)))el('text',{x:x(s),y:H-8,'text-anchor':'middle','font-size':11},svg).textContent=s+' s';
 lines.forEach((l,i)=>{
  const gaps=d.gaps[i]||[];let pts=[];const c=colors[i%colors.length];
  const flush=()=>{if(pts.length)el('polyline',{points:pts.join(' '),fill:'none',stroke:c,'stroke-width':1.5,class:'node-line','data-node':d.nodes[i]},svg);pts=[];};
  l.forEach((p,j)=>{if(p[0]>d.span)return;if(j>0&&gaps.some(g=>g>l[j-1][0]&&g<p[0]))flush();pts.push(x(p[0]).toFixed(1)+','+y(p[1]).toFixed(1));});
  flush();
  el('text',{x:W-R+8,y:T+12+14*i,fill:c,'font-size':12},svg).textContent=d.nodes[i];
 });
 for(const m of d.marks)el('line',{x1:x(m),y1:T,x2:x(m),y2:H-B,stroke:'red','stroke-width':2,class:'anomaly-mark'},svg);
 into.appendChild(svg);
}
const chosen=document.getElementById('metrics-chosen');
for(const n of d.chosen)draw(n,chosen);
const any=document.getElementById('metrics-any');
document.getElementById('metrics-select').addEventListener('change',e=>{any.textContent='';draw(e.target.value,any);});
})();"##;
