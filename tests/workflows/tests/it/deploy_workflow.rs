//! The properties deploy.yml must keep: what is offered, when it runs, and
//! what makes a destroy impossible to lose.

use k3strading_workflow_tests::Workflow;
use serde_yaml_ng::Value;

fn deploy() -> Workflow {
    Workflow::load("deploy.yml").unwrap()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

#[test]
fn is_named_deploy_k3s_cluster() {
    assert_eq!(
        str_at(&deploy().yaml, &["name"]),
        Some("Deploy K3s Cluster")
    );
}

#[test]
fn dispatch_offers_environment_and_action_as_choices() {
    let wf = deploy();
    let inputs = wf.yaml["on"]["workflow_dispatch"]["inputs"].clone();
    for (input, options) in [
        ("environment", ["dev", "prod"]),
        ("action", ["create", "destroy"]),
    ] {
        let input_def = &inputs[input];
        assert_eq!(
            input_def["type"].as_str(),
            Some("choice"),
            "input {input} is a choice"
        );
        let got: Vec<&str> = input_def["options"]
            .as_sequence()
            .unwrap_or_else(|| panic!("input {input} has options"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(got, options, "options of input {input}");
    }
}

#[test]
fn schedule_runs_off_the_hour() {
    let wf = deploy();
    let schedule = wf.yaml["on"]["schedule"].as_sequence().expect("a schedule");
    assert!(!schedule.is_empty(), "at least one cron");
    for entry in schedule {
        let cron = entry["cron"].as_str().expect("a cron string");
        let fields: Vec<&str> = cron.split_whitespace().collect();
        assert_eq!(fields.len(), 5, "five cron fields in {cron:?}");
        let minute: u32 = fields[0]
            .parse()
            .unwrap_or_else(|_| panic!("a single minute in {cron:?}"));
        assert_ne!(minute, 0, "{cron:?}: runs at minute 0 are delayed the most");
    }
}

#[test]
fn top_level_permissions_are_contents_read_only() {
    let wf = deploy();
    let expected: Value = serde_yaml_ng::from_str("contents: read").unwrap();
    assert_eq!(wf.yaml["permissions"], expected);
}

#[test]
fn every_job_queues_per_environment_without_cancelling() {
    let wf = deploy();
    let jobs = wf.jobs();
    assert!(!jobs.is_empty());
    for (id, job) in jobs {
        let group = str_at(job, &["concurrency", "group"])
            .unwrap_or_else(|| panic!("job {id} has a concurrency group"));
        assert!(
            group.starts_with("deploy-") && group.contains(".environment }}"),
            "job {id}: group {group:?} is deploy-<environment>"
        );
        assert_eq!(
            job["concurrency"]["cancel-in-progress"].as_bool(),
            Some(false),
            "job {id}: a running create or destroy is never cancelled"
        );
        let env = str_at(job, &["environment"])
            .unwrap_or_else(|| panic!("job {id} runs in a GitHub environment"));
        assert!(
            env.contains(".environment }}"),
            "job {id}: environment {env:?}"
        );
    }
}

#[test]
fn scheduled_destroy_covers_dev_and_prod_independently() {
    let wf = deploy();
    let (_, job) = wf
        .jobs()
        .into_iter()
        .find(|(id, _)| id == "scheduled-destroy")
        .expect("a scheduled-destroy job");
    let envs: Vec<&str> = job["strategy"]["matrix"]["environment"]
        .as_sequence()
        .expect("a matrix of environments")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(envs, ["dev", "prod"]);
    assert_eq!(
        job["strategy"]["fail-fast"].as_bool(),
        Some(false),
        "one environment's failure must not cancel the other's destroy"
    );
    let runs: Vec<&str> = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(
        runs.iter().any(|r| r.contains("scripts/deploy.sh destroy")),
        "the scheduled job destroys: {runs:?}"
    );
}

#[test]
fn create_path_calls_the_deploy_script_with_the_inputs() {
    let wf = deploy();
    let (_, job) = wf
        .jobs()
        .into_iter()
        .find(|(id, _)| id == "dispatch")
        .expect("a dispatch job");
    let step = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("scripts/deploy.sh"))
        })
        .expect("a step running scripts/deploy.sh");
    assert_eq!(
        step["run"].as_str(),
        Some("scripts/deploy.sh \"$ACTION\" \"$ENVIRONMENT\"")
    );
    assert_eq!(step["env"]["ACTION"].as_str(), Some("${{ inputs.action }}"));
    assert_eq!(
        step["env"]["ENVIRONMENT"].as_str(),
        Some("${{ inputs.environment }}")
    );
}

#[test]
fn terraform_is_pinned_to_1_13_4_without_the_wrapper() {
    let wf = deploy();
    let setups: Vec<&Value> = wf
        .steps()
        .into_iter()
        .filter(|(_, s)| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("hashicorp/setup-terraform@"))
        })
        .map(|(_, s)| s)
        .collect();
    assert!(!setups.is_empty(), "a hashicorp/setup-terraform step");
    for step in setups {
        // A bare 1.13.4 is a string in YAML; a quoted one too.
        assert_eq!(step["with"]["terraform_version"].as_str(), Some("1.13.4"));
        // The wrapper would mix its own lines into `terraform output -raw`.
        assert_eq!(step["with"]["terraform_wrapper"].as_bool(), Some(false));
    }
}

#[test]
fn secrets_reach_only_step_env() {
    for wf in Workflow::all().unwrap() {
        for (id, job) in wf.jobs() {
            let mut job = job.clone();
            if let Some(steps) = job.get_mut("steps").and_then(Value::as_sequence_mut) {
                for step in steps {
                    if let Some(step) = step.as_mapping_mut() {
                        step.remove("env");
                    }
                }
            }
            let rest = serde_yaml_ng::to_string(&job).unwrap();
            assert!(
                !rest.contains("secrets."),
                "{}: job {id} uses a secret outside a step's env:\n{rest}",
                wf.name
            );
        }
    }
}
