//! Keys alike in every job rendered from one template, written once: when a pipeline has
//! several jobs of one kind with their own bodies (the update checks, their batches, the
//! trigger jobs of shards), the keys whose values all of them share go into the hidden job
//! `.gipgee-<kind>`, which each of them extends. A batch of update checks then carries its
//! check lines, not the checking script, and GitLab builds exactly the jobs the template
//! rendered: the hidden job holds only keys the job no longer has, so merging them back is
//! the identity.

use serde_yaml::{Mapping, Value};

use crate::gitlab::Job;

/// The name of the hidden job holding what every job of `kind` shares.
pub fn hidden_job_name(kind: &str) -> String {
    format!(".gipgee-{kind}")
}

/// The keys of `bodies` (in the first body's order) whose value every body has alike; none
/// for fewer than two bodies, or when writing them once would not save bytes: each job gains
/// an `extends` line and the hidden job costs its name.
pub fn common_keys(bodies: &[&Mapping], hidden: &str) -> Option<Mapping> {
    let (first, rest) = bodies.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let common: Mapping = first
        .iter()
        .filter(|(key, value)| rest.iter().all(|body| body.get(key) == Some(value)))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if common.is_empty() {
        return None;
    }
    let shared_bytes = super::yaml::document(&common).len();
    let extends_line = "  extends: \n".len() + hidden.len();
    let saved = shared_bytes * rest.len();
    let cost = extends_line * bodies.len() + hidden.len() + 2;
    (saved > cost).then_some(common)
}

/// `job` without the keys of `common`, extending `hidden` (the job that holds them) after
/// whatever it extends itself, so the hidden job's keys come last and win as its own did.
pub fn extend_hidden(job: &mut Job, common: &Mapping, hidden: &str) {
    let body = std::mem::take(&mut job.body);
    let mut rest = Mapping::with_capacity(body.len() + 1);
    // First among the job's keys, as in the jobs of shared bodies; where the job extends
    // other jobs itself, the hidden job is added after them instead.
    if !body.contains_key("extends") || common.contains_key("extends") {
        rest.insert("extends".into(), hidden.into());
    }
    for (key, value) in body {
        if common.contains_key(&key) {
            continue;
        }
        let value = match key.as_str() {
            Some("extends") => extended(value, hidden),
            _ => value,
        };
        rest.insert(key, value);
    }
    job.body = rest;
}

/// `own` (one job name or a list of them), then `hidden`.
fn extended(own: Value, hidden: &str) -> Value {
    match own {
        Value::Sequence(mut names) => {
            names.push(hidden.into());
            Value::Sequence(names)
        }
        name => Value::Sequence(vec![name, hidden.into()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitlab::Stage;

    fn mapping(yaml: &str) -> Mapping {
        serde_yaml::from_str(yaml).expect("test YAML")
    }

    fn job(yaml: &str) -> Job {
        Job {
            name: "job".into(),
            stage: Stage::Check,
            needs: None,
            manual: false,
            body: mapping(yaml),
        }
    }

    const SCRIPT: &str = "a long checking script that every batch runs before its own lines";

    #[test]
    fn keys_alike_in_every_body_are_common_in_the_first_body_s_order() {
        let one = mapping(&format!(
            "timeout: 1h\nbefore_script: [{SCRIPT}]\nscript: [a]\nwhen: always"
        ));
        let two = mapping(&format!(
            "when: always\nscript: [b]\nbefore_script: [{SCRIPT}]\ntimeout: 2h"
        ));
        let common = common_keys(&[&one, &two, &one], ".gipgee-x").expect("worth it");
        let keys: Vec<_> = common.keys().filter_map(Value::as_str).collect();
        assert_eq!(keys, ["before_script", "when"]);
    }

    #[test]
    fn nothing_is_common_to_one_job_or_when_it_would_not_save_bytes() {
        let one = mapping(&format!("before_script: [{SCRIPT}]"));
        assert_eq!(common_keys(&[&one], ".gipgee-x"), None);
        let short = mapping("when: always\nscript: [a]");
        let other = mapping("when: always\nscript: [b]");
        assert_eq!(common_keys(&[&short, &other], ".gipgee-x"), None);
        let differ = mapping("script: [b]");
        assert_eq!(common_keys(&[&one, &differ], ".gipgee-x"), None);
    }

    #[test]
    fn a_job_keeps_what_differs_and_extends_the_hidden_job_last() {
        let common = mapping(&format!("before_script: [{SCRIPT}]\nwhen: always"));
        let mut own_extends = job(&format!(
            "extends: .gipgee-buildah\nbefore_script: [{SCRIPT}]\nscript: [a]\nwhen: always"
        ));
        extend_hidden(&mut own_extends, &common, ".gipgee-x");
        assert_eq!(
            own_extends.body,
            mapping("extends: [.gipgee-buildah, .gipgee-x]\nscript: [a]")
        );
        let mut no_extends = job(&format!("script: [a]\nbefore_script: [{SCRIPT}]"));
        extend_hidden(&mut no_extends, &common, ".gipgee-x");
        assert_eq!(no_extends.body, mapping("extends: .gipgee-x\nscript: [a]"));
        let mut list = job("extends: [.a, .b]\nscript: [a]");
        extend_hidden(&mut list, &common, ".gipgee-x");
        assert_eq!(
            list.body,
            mapping("extends: [.a, .b, .gipgee-x]\nscript: [a]")
        );
    }

    #[test]
    fn a_common_extends_moves_into_the_hidden_job() {
        let common = mapping(&format!(
            "extends: .gipgee-buildah\nbefore_script: [{SCRIPT}]"
        ));
        let mut job = job(&format!(
            "extends: .gipgee-buildah\nscript: [a]\nbefore_script: [{SCRIPT}]"
        ));
        extend_hidden(&mut job, &common, ".gipgee-x");
        assert_eq!(job.body, mapping("extends: .gipgee-x\nscript: [a]"));
    }
}
