//! Damaging a stopped node's data files, as a disk or a careless
//! operator would: one file, chosen by a seed, either cut short or with
//! bits flipped. Done with shell tools on the node (`find`, `truncate`,
//! `od`, `dd`), so it works the same on this machine and over SSH. What
//! the system makes of it on restart — refusing to start, repairing, or
//! serving wrong data — is what the run shows; nothing here judges it.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::node::{quote, Node};

/// Bits flipped in a file chosen for flips.
const FLIPS: u64 = 4;

/// Damages one non-empty file under `dir` on `node`; what was done, in
/// words.
pub fn corrupt(node: &mut dyn Node, dir: &Path, seed: u64) -> Result<String> {
    let listing = node.run(
        &format!(
            "find {} -type f -size +0c -printf '%s %p\\n'",
            quote(&dir.display().to_string())
        ),
        true,
    )?;
    let mut files: Vec<(u64, String)> = String::from_utf8_lossy(&listing)
        .lines()
        .filter_map(|l| {
            let (size, path) = l.split_once(' ')?;
            Some((size.parse().ok()?, path.to_string()))
        })
        .collect();
    if files.is_empty() {
        bail!("no data file under {} yet", dir.display());
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (size, path) = files[(next() % files.len() as u64) as usize].clone();
    let name = path
        .strip_prefix(&format!("{}/", dir.display()))
        .unwrap_or(&path)
        .to_string();
    let q = quote(&path);
    if next() % 2 == 0 {
        let cut = 1 + next() % (size / 2).max(1);
        node.run(&format!("truncate -s {} {q}", size - cut), true)
            .with_context(|| format!("truncating {path}"))?;
        return Ok(format!("cut the last {cut} of {size} bytes of {name}"));
    }
    let mut script = String::from("set -e\n");
    let mut offsets = Vec::new();
    for _ in 0..FLIPS {
        let offset = next() % size;
        let mask = 1u64 << (next() % 8);
        offsets.push(offset);
        script.push_str(&format!(
            "b=$(od -An -tu1 -j {offset} -N1 {q}); printf \"$(printf '\\\\%03o' $((b ^ {mask})))\" | dd of={q} bs=1 seek={offset} conv=notrunc status=none\n"
        ));
    }
    node.run(&script, true)
        .with_context(|| format!("flipping bits in {path}"))?;
    let at: Vec<String> = offsets.iter().map(u64::to_string).collect();
    Ok(format!(
        "flipped a bit at each of bytes {} of {name} ({size} bytes)",
        at.join(", ")
    ))
}
