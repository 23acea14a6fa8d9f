//! `tfexample_file`: a file on the local disk.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tfplug::{
    Attribute, Ctx, Diagnostic, Diagnostics, Failure, Plan, Resource, Schema, Type, Value,
    validators,
};

use crate::Client;

pub struct FileResource;

fn io_error(what: &str, path: &str, e: std::io::Error) -> Diagnostic {
    Diagnostic::error(format!("Could not {what} {path}"), e.to_string())
}

fn mode_bits(v: &Value) -> Result<u32, String> {
    let s = v.as_str().unwrap_or("0644");
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal file mode like \"0644\""))
}

impl FileResource {
    async fn write(
        &self,
        ctx: &Ctx<'_, Client>,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure> {
        let path = planned.get_str("path").unwrap_or_default().to_owned();
        let delay = planned.get_i64("delay_ms").unwrap_or(0);
        if delay > 0 {
            tracing::info!(delay_ms = delay, "tfexample_file: artificial delay");
            ctx.run(async {
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
                Ok(())
            })
            .await?;
        }
        let content = planned.get_str("content").unwrap_or_default();
        std::fs::write(&path, content).map_err(|e| io_error("write", &path, e))?;
        let mode = mode_bits(planned.get("mode").unwrap_or(&Value::Null))
            .map_err(|e| Diagnostic::error("Invalid mode", e).at_attr("mode"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_error("chmod", &path, e))?;
        // The write-only value only exists in configuration, never in state.
        let wo_path = format!("{path}.wo");
        match config.get_str("secret_wo") {
            Some(secret) => {
                std::fs::write(&wo_path, secret).map_err(|e| io_error("write", &wo_path, e))?
            }
            None => {
                let _ = std::fs::remove_file(&wo_path);
            }
        }
        let mut v = planned.clone();
        v.set("id", Value::from(path.as_str()));
        v.set("size", Value::int(content.len() as i64));
        Ok(v)
    }
}

#[tfplug::async_trait]
impl Resource<Client> for FileResource {
    fn type_name(&self) -> &str {
        "tfexample_file"
    }

    fn schema(&self) -> Schema {
        Schema::new(1)
            .description("A file on the machine that runs Terraform.")
            .attribute(
                Attribute::string("id")
                    .computed()
                    .stable()
                    .describe("The file's path."),
            )
            .attribute(
                Attribute::string("path")
                    .required()
                    .force_new()
                    .validate(|v| match v.as_str() {
                        Some(p) if Path::new(p).is_absolute() => Ok(()),
                        _ => Err("must be an absolute path".to_owned()),
                    })
                    .describe("Absolute path; changing it replaces the file."),
            )
            .attribute(
                Attribute::string("content")
                    .required()
                    .describe("File content."),
            )
            .attribute(
                Attribute::string("mode")
                    .default("0644")
                    .validate(|v| mode_bits(v).map(|_| ()))
                    .describe("Octal permission bits."),
            )
            .attribute(
                Attribute::number("size")
                    .computed()
                    .describe("Content length in bytes."),
            )
            .attribute(
                Attribute::string("token")
                    .optional()
                    .sensitive()
                    .describe("Sensitive; hidden in plans."),
            )
            .attribute(
                Attribute::string("secret_wo")
                    .optional()
                    .write_only()
                    .describe("Write-only: written to `<path>.wo`, never stored in state."),
            )
            .attribute(
                Attribute::number("delay_ms")
                    .optional()
                    .validate(validators::int_between(0, 600_000))
                    .describe("Artificial delay for create and update, in milliseconds."),
            )
            .attribute(
                Attribute::new("tags", Type::map(Type::String))
                    .optional()
                    .describe("Free-form tags."),
            )
    }

    async fn plan(&self, _ctx: &Ctx<'_, Client>, plan: &mut Plan) -> Result<(), Diagnostics> {
        // The size is known at plan time whenever the content is.
        if let Some(content) = plan.planned.get_str("content") {
            let size = content.len() as i64;
            plan.planned.set("size", Value::int(size));
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<'_, Client>,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure> {
        self.write(ctx, planned, config).await
    }

    async fn read(
        &self,
        _ctx: &Ctx<'_, Client>,
        state: &Value,
    ) -> Result<Option<Value>, Diagnostics> {
        let path = state
            .get_str("path")
            .or(state.get_str("id"))
            .unwrap_or_default()
            .to_owned();
        let content = match std::fs::read_to_string(&path) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &path, e).into()),
        };
        let mode = std::fs::metadata(&path)
            .map_err(|e| io_error("stat", &path, e))?
            .permissions()
            .mode()
            & 0o777;
        let mut v = state.clone();
        v.set("id", Value::from(path.as_str()));
        v.set("path", Value::from(path.as_str()));
        v.set("size", Value::int(content.len() as i64));
        v.set("content", Value::from(content));
        v.set("mode", Value::from(format!("{mode:04o}")));
        Ok(Some(v))
    }

    async fn update(
        &self,
        ctx: &Ctx<'_, Client>,
        _prior: &Value,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure> {
        self.write(ctx, planned, config).await
    }

    async fn delete(&self, _ctx: &Ctx<'_, Client>, prior: &Value) -> Result<(), Diagnostics> {
        let path = prior.get_str("path").unwrap_or_default();
        for p in [path.to_owned(), format!("{path}.wo")] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("delete", &p, e).into()),
            }
        }
        Ok(())
    }

    async fn import(&self, _ctx: &Ctx<'_, Client>, id: &str) -> Result<Value, Diagnostics> {
        if !Path::new(id).is_absolute() {
            return Err(Diagnostic::error(
                "Invalid import ID",
                format!("{id:?} is not an absolute path"),
            )
            .into());
        }
        let ty = self.schema().value_type();
        let Type::Object(attrs) = ty else {
            return Err(Diagnostics::new());
        };
        let mut v = Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect());
        v.set("id", Value::from(id));
        v.set("path", Value::from(id));
        Ok(v)
    }
}
