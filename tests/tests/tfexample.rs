//! Protocol scenarios on the example provider, run on every Terraform: the
//! pinned 1.15.5 and 1.13.5 (installed by scripts/setup.sh) and a
//! `terraform` on PATH when there is one.

// Test code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use k3strading_e2e::{scenario, terraform_for};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-tfexample");

fn on(
    label: &str,
    name: &str,
    f: impl FnOnce(&k3strading_e2e::Terraform, &Path) -> anyhow::Result<()>,
) {
    match terraform_for(label) {
        Ok(Some(tf)) => {
            let version = tf
                .version()
                .unwrap_or_else(|e| panic!("terraform {label}: {e:#}"));
            if let Err(e) = f(&tf, Path::new(BIN)) {
                panic!("{name} on Terraform {version}: {e:#}");
            }
            println!("{name}: ok on Terraform {version}");
        }
        Ok(None) => println!("{name}: skipped, no terraform on PATH"),
        Err(e) => panic!("{e:#}"),
    }
}

macro_rules! scenarios {
    ($($module:ident => $label:literal),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn validate() {
                on($label, "validate", scenario::validate);
            }
            #[test]
            fn validation_error_names_attribute() {
                on($label, "validation error", scenario::validation_error_names_attribute);
            }
            #[test]
            fn lifecycle_plan_apply_replan_update_replace_destroy() {
                on($label, "lifecycle", scenario::lifecycle);
            }
            #[test]
            fn drift_recreates_deleted_resource() {
                on($label, "drift", scenario::drift_recreates);
            }
            #[test]
            fn import_matches_created_state() {
                on($label, "import", scenario::import_verify);
            }
            #[test]
            fn unknown_flows_between_resources() {
                on($label, "unknown flow", scenario::unknown_flows_between_resources);
            }
            #[test]
            fn provider_logs_visible_with_tf_log_provider() {
                on($label, "provider logs", scenario::provider_logs_visible);
            }
            #[test]
            fn sensitive_hidden_and_write_only_not_stored() {
                on($label, "sensitive/write-only", scenario::sensitive_and_write_only);
            }
            #[test]
            fn interrupt_cancels_slow_apply() {
                on($label, "interrupt", |tf, bin| {
                    let took = scenario::interrupt_stops_slow_apply(tf, bin)?;
                    println!("interrupt: terraform exited {took:?} after SIGINT");
                    Ok(())
                });
            }
        }
    )*};
}

scenarios! {
    terraform_1_15_5 => "1.15.5",
    terraform_1_13_5 => "1.13.5",
    terraform_on_path => "path",
}
