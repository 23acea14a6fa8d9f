//! What Hetzner offers (locations, server types, images), and checks of a
//! spec against it: only orderable types, in the chosen location.

use hcloud::models::{Image, Location, ServerType};

use crate::{Error, Field};

/// The parts of the catalog specs are checked against.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Locations.
    pub locations: Vec<Location>,
    /// Server types.
    pub server_types: Vec<ServerType>,
    /// System images.
    pub images: Vec<Image>,
}

impl Catalog {
    /// Reads the catalog (three requests, in parallel).
    pub async fn fetch(api: &hcloud::Client) -> Result<Catalog, Error> {
        let (locations, server_types, images) =
            tokio::try_join!(api.locations(), api.server_types(), api.images(None))
                .map_err(|e| Error::api("read the catalog (locations, server types, images)", e))?;
        Ok(Catalog {
            locations,
            server_types,
            images,
        })
    }

    /// Checks location, server type (offered there and not deprecated) and
    /// image. Every problem is returned, each naming its field.
    pub fn check(&self, location: &str, server_type: &str, image: &str) -> Vec<Error> {
        let mut out = Vec::new();
        if !self.locations.iter().any(|l| l.name == location) {
            let known: Vec<&str> = self.locations.iter().map(|l| l.name.as_str()).collect();
            out.push(Error::refused(
                Field::Location,
                format!("Unknown location {location:?}"),
                format!("Hetzner offers: {}", known.join(", ")),
            ));
            return out;
        }
        match self.server_types.iter().find(|t| t.name == server_type) {
            None => out.push(Error::refused(
                Field::ServerType,
                format!("Unknown server type {server_type:?}"),
                "see `hcloud server-type list`; the 2 vCPU / 4 GB type is cpx22",
            )),
            Some(t) if !t.orderable_in(location) => {
                let why = match t.locations.iter().find(|l| l.name == location) {
                    Some(l) if l.deprecation.is_some() => {
                        "is deprecated there and can no longer be ordered"
                    }
                    Some(_) => "is not available there right now",
                    None => "is not offered there",
                };
                let alternatives: Vec<&str> = self
                    .server_types
                    .iter()
                    .filter(|o| {
                        o.orderable_in(location)
                            && o.cores == t.cores
                            && o.architecture == t.architecture
                    })
                    .map(|o| o.name.as_str())
                    .collect();
                out.push(Error::refused(
                    Field::ServerType,
                    format!("Server type {server_type} {why} in {location}"),
                    format!(
                        "orderable types with {} vCPUs in {location}: {}",
                        t.cores,
                        alternatives.join(", ")
                    ),
                ));
            }
            Some(_) => {}
        }
        if !self.images.iter().any(|i| i.name.as_deref() == Some(image)) {
            out.push(Error::refused(
                Field::Image,
                format!("Unknown image {image:?}"),
                "use a system image name such as ubuntu-24.04",
            ));
        }
        out
    }

    /// The network zone of `location`.
    pub fn zone(&self, location: &str) -> Option<&str> {
        self.locations
            .iter()
            .find(|l| l.name == location)
            .map(|l| l.network_zone.as_str())
    }
}
