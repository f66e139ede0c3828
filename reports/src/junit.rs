//! `junit.xml`: one test case per checker, so CI systems show the result
//! natively. An invalid checker is a failure whose message is the anomaly;
//! an unknown one is an error (the check could not decide).

use checkers::Verdict;

use crate::{escape, RunView};

/// The JUnit XML document for a run.
pub fn render(view: &RunView) -> String {
    let failures = view
        .checkers
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .count();
    let errors = view
        .checkers
        .iter()
        .filter(|c| c.verdict == Verdict::Unknown)
        .count();
    let suite = escape(&view.title);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\">\n  <testsuite name=\"{suite}\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\">\n",
        n = view.checkers.len()
    );
    for c in &view.checkers {
        let name = escape(&c.name);
        let msg = escape(&c.sentence);
        out += &format!("    <testcase classname=\"{suite}\" name=\"{name}\">\n");
        match c.verdict {
            Verdict::Valid => out += &format!("      <system-out>{msg}</system-out>\n"),
            Verdict::Invalid => {
                out += &format!("      <failure message=\"{msg}\" type=\"invalid\">{msg}</failure>\n")
            }
            Verdict::Unknown => {
                out += &format!("      <error message=\"{msg}\" type=\"unknown\">{msg}</error>\n")
            }
        }
        out += "    </testcase>\n";
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckerView;
    use checkers::History;

    #[test]
    fn an_invalid_checker_is_a_failure_with_the_anomaly() {
        let h = History::default();
        let view = RunView {
            title: "demo <x>".into(),
            verdict: Verdict::Invalid,
            sentence: String::new(),
            test: None,
            history: &h,
            operations: Vec::new(),
            faults: Vec::new(),
            checkers: vec![CheckerView {
                name: "linearizable".into(),
                verdict: Verdict::Invalid,
                sentence: "process 1 read 3 \"late\"".into(),
            }],
            linearizable: None,
            transactions: None,
            metrics: None,
            log: None,
        };
        let xml = render(&view);
        assert!(xml.contains(r#"failures="1""#));
        assert!(
            xml.contains(r#"<failure message="process 1 read 3 &quot;late&quot;""#),
            "{xml}"
        );
        assert!(xml.contains("demo &lt;x&gt;"));
    }
}
