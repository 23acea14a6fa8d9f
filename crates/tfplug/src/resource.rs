//! The provider and resource traits a provider author implements.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::diag::{Diagnostic, Diagnostics};
use crate::schema::Schema;
use crate::value::{AttrPath, Value};

/// Handed to every resource operation that may do I/O.
#[derive(Debug)]
pub struct Ctx<'a, C> {
    /// What [`Provider::configure`] returned.
    pub client: &'a C,
    /// Cancelled when Terraform sends StopProvider (the user pressed Ctrl-C).
    pub cancel: CancellationToken,
}

impl<C> Ctx<'_, C> {
    /// True once Terraform asked the provider to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs `fut`, giving up with a "cancelled" error as soon as Terraform
    /// asks the provider to stop. What `fut` had done until then stays done;
    /// callers that must record partial work should check
    /// [`Ctx::is_cancelled`] between steps instead.
    pub async fn run<T, F>(&self, fut: F) -> Result<T, Diagnostics>
    where
        F: Future<Output = Result<T, Diagnostics>>,
    {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(cancelled().into()),
            r = fut => r,
        }
    }
}

/// The diagnostic for work stopped by Terraform.
pub fn cancelled() -> Diagnostic {
    Diagnostic::error(
        "Operation cancelled",
        "Terraform asked the provider to stop (interrupt); the operation was abandoned and can be re-run.",
    )
}

/// A planned change, handed to [`Resource::plan`] after the library has
/// applied defaults and marked computed values unknown. The hook may set
/// computed values it knows, ask for replacement, or add diagnostics.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The current state; `Value::Null` when the resource is to be created.
    pub prior: Value,
    /// The configuration, with unknowns where values are not known yet.
    pub config: Value,
    /// The planned new state; edit computed attributes only.
    pub planned: Value,
    /// Extra paths whose change forces replacement (force-new attributes are
    /// added by the library).
    pub requires_replace: Vec<AttrPath>,
    /// Warnings (errors go in the `Err` result).
    pub diagnostics: Diagnostics,
}

impl Plan {
    /// True when the resource does not exist yet.
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }
}

/// A failed create or update: the diagnostics, and the state of whatever was
/// created before the failure so that Terraform records it (as tainted) and
/// nothing is lost.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    /// What went wrong.
    pub diagnostics: Diagnostics,
    /// The resource as far as it exists; `None` when nothing was created.
    pub partial: Option<Value>,
}

impl Failure {
    /// A failure that leaves `partial` behind.
    pub fn with_partial(diagnostics: impl Into<Diagnostics>, partial: Value) -> Failure {
        Failure {
            diagnostics: diagnostics.into(),
            partial: Some(partial),
        }
    }
}

impl From<Diagnostics> for Failure {
    fn from(diagnostics: Diagnostics) -> Self {
        Failure {
            diagnostics,
            partial: None,
        }
    }
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::from(Diagnostics::from(d))
    }
}

/// A managed resource type. Values are objects of [`Resource::schema`]'s type.
///
/// The library enforces Terraform's rules around these calls: defaults and
/// unknown computed values in plans, replacement for force-new attributes,
/// write-only attributes always null in responses, and an apply result that
/// matches the plan (a mismatch is reported as a provider bug naming the
/// attribute, instead of Terraform's generic inconsistency error).
#[async_trait]
pub trait Resource<C>: Send + Sync {
    /// Full type name, e.g. `example_file`.
    fn type_name(&self) -> &str;

    /// The schema; called once at start-up.
    fn schema(&self) -> Schema;

    /// Checks configuration beyond per-attribute validators (relations
    /// between attributes). Values may be unknown. No client is available.
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Refines a plan: set computed values that are known, request
    /// replacement, or reject the change.
    async fn plan(&self, _ctx: &Ctx<'_, C>, _plan: &mut Plan) -> Result<(), Diagnostics> {
        Ok(())
    }

    /// Creates the resource; returns its full state with nothing unknown.
    async fn create(
        &self,
        ctx: &Ctx<'_, C>,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure>;

    /// Reads the current state; `None` when the resource no longer exists.
    async fn read(&self, ctx: &Ctx<'_, C>, state: &Value) -> Result<Option<Value>, Diagnostics>;

    /// Updates in place; returns the new state.
    async fn update(
        &self,
        ctx: &Ctx<'_, C>,
        prior: &Value,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure>;

    /// Deletes the resource.
    async fn delete(&self, ctx: &Ctx<'_, C>, prior: &Value) -> Result<(), Diagnostics>;

    /// Builds state from an import ID; Terraform reads it right after.
    async fn import(&self, _ctx: &Ctx<'_, C>, id: &str) -> Result<Value, Diagnostics> {
        Err(Diagnostic::error(
            "Import not supported",
            format!("{} cannot be imported (ID {id:?})", self.type_name()),
        )
        .into())
    }

    /// Converts state stored by schema `from_version` to the current schema.
    /// The default decodes it with the current type, dropping attributes the
    /// schema no longer has.
    fn upgrade(&self, _from_version: i64, state: &serde_json::Value) -> Result<Value, Diagnostics> {
        crate::json::decode(state, &self.schema().value_type(), true).map_err(|e| {
            Diagnostic::error("Stored state does not match the schema", e.to_string()).into()
        })
    }
}

/// A provider: its configuration schema, how to turn configuration into a
/// client, and its resource types.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What resources get in [`Ctx::client`].
    type Client: Send + Sync + 'static;

    /// The provider block's schema.
    fn schema(&self) -> Schema;

    /// The resource types.
    fn resources(&self) -> Vec<Arc<dyn Resource<Self::Client>>>;

    /// Checks the provider block beyond per-attribute validators.
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Builds the client from the provider block.
    async fn configure(
        &self,
        config: &Value,
        terraform_version: &str,
    ) -> Result<Self::Client, Diagnostics>;
}
