//! `terraform-provider-tfexample`: a small file-backed provider that proves
//! the `tfplug` protocol implementation end to end under real Terraform.
//!
//! Resources:
//! - `tfexample_file`: a file on the local disk (path forces replacement,
//!   content and mode update in place, `size` is computed, `token` is
//!   sensitive, `secret_wo` is write-only and lands in `<path>.wo`,
//!   `delay_ms` slows create/update down and is cancellable).
//! - `tfexample_echo`: copies `input` to the computed `output`, to show
//!   unknown values flowing from one resource into another.

mod file;

use std::sync::Arc;

use tfplug::{Attribute, Ctx, Diagnostics, Failure, Provider, Resource, Schema, Value};

/// The configured provider: only a label, echoed into logs.
#[derive(Debug)]
struct Client {
    label: String,
}

struct Example;

#[tfplug::async_trait]
impl Provider for Example {
    type Client = Client;

    fn schema(&self) -> Schema {
        Schema::new(0)
            .description("Example provider for the `tfplug` end-to-end tests.")
            .attribute(
                Attribute::string("label")
                    .optional()
                    .describe("Free text shown in provider logs."),
            )
            .attribute(
                Attribute::string("api_token")
                    .optional()
                    .sensitive()
                    .describe("Never used; shows that sensitive provider settings stay hidden."),
            )
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<Client>>> {
        vec![Arc::new(file::FileResource), Arc::new(Echo)]
    }

    async fn configure(
        &self,
        config: &Value,
        terraform_version: &str,
    ) -> Result<Client, Diagnostics> {
        let label = config.get_str("label").unwrap_or("default").to_owned();
        tracing::info!(%label, %terraform_version, "tfexample provider configured");
        Ok(Client { label })
    }
}

struct Echo;

#[tfplug::async_trait]
impl Resource<Client> for Echo {
    fn type_name(&self) -> &str {
        "tfexample_echo"
    }

    fn schema(&self) -> Schema {
        Schema::new(0)
            .description("Copies `input` to `output` at apply time.")
            .attribute(Attribute::string("input").required())
            .attribute(Attribute::string("output").computed())
    }

    async fn create(
        &self,
        ctx: &Ctx<'_, Client>,
        planned: &Value,
        _config: &Value,
    ) -> Result<Value, Failure> {
        tracing::debug!(label = %ctx.client.label, "echo create");
        Ok(echo(planned))
    }

    async fn read(
        &self,
        _ctx: &Ctx<'_, Client>,
        state: &Value,
    ) -> Result<Option<Value>, Diagnostics> {
        Ok(Some(state.clone()))
    }

    async fn update(
        &self,
        _: &Ctx<'_, Client>,
        _: &Value,
        planned: &Value,
        _: &Value,
    ) -> Result<Value, Failure> {
        Ok(echo(planned))
    }

    async fn delete(&self, _ctx: &Ctx<'_, Client>, _prior: &Value) -> Result<(), Diagnostics> {
        Ok(())
    }
}

fn echo(planned: &Value) -> Value {
    let mut v = planned.clone();
    let input = planned.get("input").cloned().unwrap_or(Value::Null);
    v.set("output", input);
    v
}

fn main() -> std::process::ExitCode {
    tfplug::main("provider.terraform-provider-tfexample", Example)
}
