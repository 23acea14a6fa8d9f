//! The tfplugin6 `Provider` gRPC service on top of [`Provider`] and
//! [`Resource`], with the invariants of [`crate::invariants`] applied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::convert::{decode, diagnostics, encode, path_to_pb, schema as schema_pb};
use crate::diag::{Diagnostic, Diagnostics};
use crate::invariants;
use crate::proto::tfplugin6 as pb;
use crate::resource::{Ctx, Plan, Provider, Resource};
use crate::schema::Schema;
use crate::value::{Type, Value};

struct Entry<C> {
    resource: Arc<dyn Resource<C>>,
    schema: Schema,
    ty: Type,
}

/// Serves one [`Provider`] over tfplugin6.
pub struct ProviderService<P: Provider> {
    provider: P,
    schema: Schema,
    resources: HashMap<String, Entry<P::Client>>,
    client: RwLock<Option<Arc<P::Client>>>,
    stop: Mutex<CancellationToken>,
}

impl<P: Provider> std::fmt::Debug for ProviderService<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderService")
            .field("resources", &self.resources.keys().collect::<Vec<_>>())
            .finish()
    }
}

type Rpc<T> = Result<Response<T>, Status>;

fn ok<T>(t: T) -> Rpc<T> {
    Ok(Response::new(t))
}

impl<P: Provider> ProviderService<P> {
    /// Collects the provider's schemas once.
    pub fn new(provider: P) -> ProviderService<P> {
        let schema = provider.schema();
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| {
                let schema = r.schema();
                let ty = schema.value_type();
                (
                    r.type_name().to_owned(),
                    Entry {
                        resource: r,
                        schema,
                        ty,
                    },
                )
            })
            .collect();
        ProviderService {
            provider,
            schema,
            resources,
            client: RwLock::new(None),
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    /// Cancels in-flight operations; later operations run normally.
    pub fn stop(&self) {
        if let Ok(mut tok) = self.stop.lock() {
            tok.cancel();
            *tok = CancellationToken::new();
        }
    }

    fn cancel_token(&self) -> CancellationToken {
        self.stop
            .lock()
            .map(|t| t.child_token())
            .unwrap_or_default()
    }

    fn entry(&self, type_name: &str) -> Result<&Entry<P::Client>, Diagnostic> {
        self.resources.get(type_name).ok_or_else(|| {
            Diagnostic::error(
                "Unknown resource type",
                format!("this provider has no resource type {type_name:?}"),
            )
        })
    }

    fn client(&self) -> Result<Arc<P::Client>, Diagnostic> {
        let guard = self
            .client
            .read()
            .map_err(|_| Diagnostic::error("Provider state poisoned", ""))?;
        guard.clone().ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                "Terraform called a resource operation before ConfigureProvider",
            )
        })
    }
}

/// Runs `f` and folds its error diagnostics into the response's list.
macro_rules! try_diag {
    ($diags:ident, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(d) => {
                $diags.extend(Diagnostics::from(d));
                return None;
            }
        }
    };
}

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderService<P> {
    async fn get_metadata(
        &self,
        _: Request<pb::get_metadata::Request>,
    ) -> Rpc<pb::get_metadata::Response> {
        ok(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: Vec::new(),
            resources: self
                .resources
                .keys()
                .map(|k| pb::get_metadata::ResourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
        })
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Rpc<pb::get_provider_schema::Response> {
        tracing::debug!("GetProviderSchema");
        ok(pb::get_provider_schema::Response {
            provider: Some(schema_pb(&self.schema)),
            resource_schemas: self
                .resources
                .iter()
                .map(|(k, e)| (k.clone(), schema_pb(&e.schema)))
                .collect(),
            data_source_schemas: HashMap::new(),
            diagnostics: Vec::new(),
            provider_meta: None,
            server_capabilities: Some(capabilities()),
        })
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Rpc<pb::validate_provider_config::Response> {
        let req = req.into_inner();
        let mut diags = Diagnostics::new();
        let _ = (|| {
            let config = try_diag!(
                diags,
                decode(
                    req.config.as_ref(),
                    &self.schema.value_type(),
                    "provider configuration"
                )
            );
            diags.extend(invariants::validate_config(&self.schema.block, &config));
            diags.extend(self.provider.validate(&config));
            Some(())
        })();
        ok(pb::validate_provider_config::Response {
            diagnostics: diagnostics(&diags),
        })
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let req = req.into_inner();
        tracing::debug!(type_name = %req.type_name, "ValidateResourceConfig");
        let mut diags = Diagnostics::new();
        let _ = (|| {
            let e = try_diag!(diags, self.entry(&req.type_name));
            let config = try_diag!(
                diags,
                decode(req.config.as_ref(), &e.ty, "resource configuration")
            );
            diags.extend(invariants::validate_config(&e.schema.block, &config));
            diags.extend(e.resource.validate(&config));
            Some(())
        })();
        ok(pb::validate_resource_config::Response {
            diagnostics: diagnostics(&diags),
        })
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Rpc<pb::validate_data_resource_config::Response> {
        let d = no_data_source(&req.into_inner().type_name);
        ok(pb::validate_data_resource_config::Response {
            diagnostics: diagnostics(&d),
        })
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        let d = no_data_source(&req.into_inner().type_name);
        ok(pb::read_data_source::Response {
            state: None,
            diagnostics: diagnostics(&d),
            deferred: None,
        })
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        let req = req.into_inner();
        tracing::debug!(type_name = %req.type_name, version = req.version, "UpgradeResourceState");
        let mut diags = Diagnostics::new();
        let upgraded = (|| {
            let e = try_diag!(diags, self.entry(&req.type_name));
            let raw = req
                .raw_state
                .as_ref()
                .map(|r| r.json.as_slice())
                .unwrap_or_default();
            if raw.is_empty() {
                diags.push(Diagnostic::error(
                    "Unsupported stored state",
                    "state in the legacy flatmap format cannot be upgraded by this provider",
                ));
                return None;
            }
            let json: serde_json::Value = try_diag!(
                diags,
                serde_json::from_slice(raw).map_err(|e| Diagnostic::error(
                    "Stored state is not valid JSON",
                    e.to_string()
                ))
            );
            let mut v = try_diag!(diags, e.resource.upgrade(req.version, &json));
            invariants::null_write_only(&e.schema.block, &mut v);
            Some(try_diag!(diags, encode(&v, &e.ty, "upgraded state")))
        })();
        ok(pb::upgrade_resource_state::Response {
            upgraded_state: upgraded,
            diagnostics: diagnostics(&diags),
        })
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        let req = req.into_inner();
        tracing::debug!(terraform_version = %req.terraform_version, "ConfigureProvider");
        let mut diags = Diagnostics::new();
        match decode(
            req.config.as_ref(),
            &self.schema.value_type(),
            "provider configuration",
        ) {
            Err(d) => diags.push(d),
            Ok(config) => match self
                .provider
                .configure(&config, &req.terraform_version)
                .await
            {
                Ok(client) => {
                    if let Ok(mut slot) = self.client.write() {
                        *slot = Some(Arc::new(client));
                    }
                }
                Err(d) => diags.extend(d),
            },
        }
        ok(pb::configure_provider::Response {
            diagnostics: diagnostics(&diags),
        })
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Rpc<pb::read_resource::Response> {
        let req = req.into_inner();
        tracing::debug!(type_name = %req.type_name, "ReadResource");
        let mut diags = Diagnostics::new();
        let new_state = async {
            let e = self.entry(&req.type_name)?;
            let state = decode(req.current_state.as_ref(), &e.ty, "current state")?;
            let client = self.client()?;
            let ctx = Ctx {
                client: client.as_ref(),
                cancel: self.cancel_token(),
            };
            match e.resource.read(&ctx, &state).await {
                Ok(Some(mut v)) => {
                    invariants::null_write_only(&e.schema.block, &mut v);
                    Ok(Some(encode(&v, &e.ty, "read state")?))
                }
                Ok(None) => Ok(Some(encode(&Value::Null, &e.ty, "read state")?)),
                Err(d) => {
                    diags.extend(d);
                    // Keep the prior state so a failed read loses nothing.
                    Ok(req.current_state.clone())
                }
            }
        }
        .await
        .unwrap_or_else(|d: Diagnostic| {
            diags.push(d);
            req.current_state.clone()
        });
        ok(pb::read_resource::Response {
            new_state,
            diagnostics: diagnostics(&diags),
            private: req.private,
            deferred: None,
            new_identity: None,
        })
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let req = req.into_inner();
        tracing::debug!(type_name = %req.type_name, "PlanResourceChange");
        let mut diags = Diagnostics::new();
        let mut replace = Vec::new();
        let planned = self.plan(&req, &mut diags, &mut replace).await;
        ok(pb::plan_resource_change::Response {
            planned_state: planned,
            requires_replace: replace.iter().map(path_to_pb).collect(),
            planned_private: req.prior_private,
            diagnostics: diagnostics(&diags),
            deferred: None,
            planned_identity: None,
        })
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let req = req.into_inner();
        tracing::debug!(type_name = %req.type_name, "ApplyResourceChange");
        let mut diags = Diagnostics::new();
        let new_state = self.apply(&req, &mut diags).await;
        ok(pb::apply_resource_change::Response {
            new_state,
            private: req.planned_private,
            diagnostics: diagnostics(&diags),
            new_identity: None,
        })
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        let req = req.into_inner();
        tracing::debug!(type_name = %req.type_name, id = %req.id, "ImportResourceState");
        let mut diags = Diagnostics::new();
        let imported = async {
            let e = self.entry(&req.type_name)?;
            let client = self.client()?;
            let ctx = Ctx {
                client: client.as_ref(),
                cancel: self.cancel_token(),
            };
            match e.resource.import(&ctx, &req.id).await {
                Ok(mut v) => {
                    invariants::null_write_only(&e.schema.block, &mut v);
                    Ok(vec![pb::import_resource_state::ImportedResource {
                        type_name: req.type_name.clone(),
                        state: Some(encode(&v, &e.ty, "imported state")?),
                        private: Vec::new(),
                        identity: None,
                    }])
                }
                Err(d) => {
                    diags.extend(d);
                    Ok(Vec::new())
                }
            }
        }
        .await
        .unwrap_or_else(|d: Diagnostic| {
            diags.push(d);
            Vec::new()
        });
        ok(pb::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: diagnostics(&diags),
            deferred: None,
        })
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> Rpc<pb::stop_provider::Response> {
        tracing::info!("StopProvider: cancelling in-flight operations");
        self.stop();
        ok(pb::stop_provider::Response {
            error: String::new(),
        })
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

fn no_data_source(type_name: &str) -> Diagnostics {
    Diagnostic::error(
        "Unknown data source",
        format!("this provider has no data source {type_name:?}"),
    )
    .into()
}

impl<P: Provider> ProviderService<P> {
    async fn plan(
        &self,
        req: &pb::plan_resource_change::Request,
        diags: &mut Diagnostics,
        replace: &mut Vec<crate::value::AttrPath>,
    ) -> Option<pb::DynamicValue> {
        let e = try_diag!(diags, self.entry(&req.type_name));
        let prior = try_diag!(
            diags,
            decode(req.prior_state.as_ref(), &e.ty, "prior state")
        );
        let proposed = try_diag!(
            diags,
            decode(req.proposed_new_state.as_ref(), &e.ty, "proposed state")
        );
        let config = try_diag!(diags, decode(req.config.as_ref(), &e.ty, "configuration"));
        if proposed.is_null() {
            return Some(try_diag!(
                diags,
                encode(&Value::Null, &e.ty, "planned state")
            ));
        }
        let planned = invariants::plan_computed(&e.schema.block, &prior, &config, proposed);
        let mut plan = Plan {
            prior,
            config,
            planned,
            requires_replace: Vec::new(),
            diagnostics: Diagnostics::new(),
        };
        let client = try_diag!(diags, self.client());
        let ctx = Ctx {
            client: client.as_ref(),
            cancel: self.cancel_token(),
        };
        let hook = e.resource.plan(&ctx, &mut plan).await;
        diags.extend(std::mem::take(&mut plan.diagnostics));
        if let Err(d) = hook {
            diags.extend(d);
            return None;
        }
        invariants::null_write_only(&e.schema.block, &mut plan.planned);
        let check = invariants::check_plan(&e.schema.block, &plan.config, &plan.planned);
        if check.has_errors() {
            diags.extend(check);
            return None;
        }
        replace.extend(plan.requires_replace);
        for p in invariants::replace_paths(&e.schema.block, &plan.prior, &plan.planned) {
            if !replace.contains(&p) {
                replace.push(p);
            }
        }
        Some(try_diag!(
            diags,
            encode(&plan.planned, &e.ty, "planned state")
        ))
    }

    async fn apply(
        &self,
        req: &pb::apply_resource_change::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::DynamicValue> {
        let e = try_diag!(diags, self.entry(&req.type_name));
        let prior = try_diag!(
            diags,
            decode(req.prior_state.as_ref(), &e.ty, "prior state")
        );
        let planned = try_diag!(
            diags,
            decode(req.planned_state.as_ref(), &e.ty, "planned state")
        );
        let config = try_diag!(diags, decode(req.config.as_ref(), &e.ty, "configuration"));
        let client = try_diag!(diags, self.client());
        let ctx = Ctx {
            client: client.as_ref(),
            cancel: self.cancel_token(),
        };
        let result = if planned.is_null() {
            match e.resource.delete(&ctx, &prior).await {
                Ok(()) => Ok(Value::Null),
                Err(d) => Err(crate::resource::Failure::with_partial(d, prior.clone())),
            }
        } else if prior.is_null() {
            e.resource.create(&ctx, &planned, &config).await
        } else {
            e.resource
                .update(&ctx, &prior, &planned, &config)
                .await
                .map_err(|mut f| {
                    f.partial.get_or_insert_with(|| prior.clone());
                    f
                })
        };
        let new = match result {
            Ok(mut v) => {
                invariants::null_write_only(&e.schema.block, &mut v);
                diags.extend(invariants::check_apply(&planned, &v));
                invariants::unknown_as_null(&mut v);
                v
            }
            Err(f) => {
                diags.extend(f.diagnostics);
                let mut v = f.partial.unwrap_or(Value::Null);
                invariants::unknown_as_null(&mut v);
                invariants::null_write_only(&e.schema.block, &mut v);
                v
            }
        };
        Some(try_diag!(diags, encode(&new, &e.ty, "new state")))
    }
}
