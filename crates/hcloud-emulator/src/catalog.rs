//! The fixed catalog: locations, server types (with per-location
//! deprecation and prices) and system images, modelled on Hetzner's offer
//! after the 2025-10 CPX generation change.

use hcloud::models::*;

const CREATED: &str = "2024-01-01T00:00:00Z";

fn location(
    id: Id,
    name: &str,
    city: &str,
    country: &str,
    zone: &str,
    lat: f64,
    lon: f64,
) -> Location {
    Location {
        id,
        name: name.into(),
        description: format!("{city} DC Park 1"),
        country: country.into(),
        city: city.into(),
        latitude: lat,
        longitude: lon,
        network_zone: zone.into(),
    }
}

/// Locations: the three eu-central ones the project uses, and three others.
pub fn locations() -> Vec<Location> {
    vec![
        location(
            1,
            "fsn1",
            "Falkenstein",
            "DE",
            "eu-central",
            50.47612,
            12.370071,
        ),
        location(
            2,
            "nbg1",
            "Nuremberg",
            "DE",
            "eu-central",
            49.452102,
            11.076665,
        ),
        location(
            3,
            "hel1",
            "Helsinki",
            "FI",
            "eu-central",
            60.169855,
            24.938379,
        ),
        location(
            4,
            "ash",
            "Ashburn, VA",
            "US",
            "us-east",
            39.045821,
            -77.487073,
        ),
        location(
            5,
            "hil",
            "Hillsboro, OR",
            "US",
            "us-west",
            45.54222,
            -122.95194,
        ),
        location(
            6,
            "sin",
            "Singapore",
            "SG",
            "ap-southeast",
            1.283333,
            103.833333,
        ),
    ]
}

fn amount(net: f64) -> Amount {
    Amount {
        net: format!("{net:.4}"),
        gross: format!("{:.4}", net * 1.19),
    }
}

/// `(name, id, cores, memory GB, disk GB, monthly EUR, deprecated in EU, arch)`
type TypeRow = (&'static str, Id, f64, f64, f64, f64, bool, &'static str);
const TYPES: &[TypeRow] = &[
    ("cpx11", 22, 2.0, 2.0, 40.0, 4.35, true, "x86"),
    ("cpx21", 23, 3.0, 4.0, 80.0, 7.55, true, "x86"),
    ("cpx31", 24, 4.0, 8.0, 160.0, 13.60, true, "x86"),
    ("cpx22", 112, 2.0, 4.0, 80.0, 7.99, false, "x86"),
    ("cpx32", 113, 4.0, 8.0, 160.0, 13.99, false, "x86"),
    ("cpx42", 114, 8.0, 16.0, 320.0, 25.49, false, "x86"),
    ("cx23", 104, 2.0, 4.0, 40.0, 3.49, false, "x86"),
    ("cax11", 45, 2.0, 4.0, 40.0, 3.79, false, "arm"),
];

/// Server types. CPX Gen1 types are deprecated (not orderable) in the
/// eu-central locations but still offered elsewhere.
pub fn server_types() -> Vec<ServerType> {
    let locs = locations();
    TYPES
        .iter()
        .map(|&(name, id, cores, memory, disk, monthly, gen1, arch)| {
            let offered: Vec<&Location> = locs
                .iter()
                .filter(|l| arch == "x86" || l.network_zone == "eu-central")
                .collect();
            ServerType {
                id,
                name: name.into(),
                description: name.to_uppercase(),
                cores,
                memory,
                disk,
                deprecated: false,
                prices: offered
                    .iter()
                    .map(|l| Price {
                        location: l.name.clone(),
                        price_hourly: amount(monthly / 730.0),
                        price_monthly: amount(monthly),
                        included_traffic: 21_990_232_555_520,
                        price_per_tb_traffic: amount(1.0),
                    })
                    .collect(),
                storage_type: "local".into(),
                cpu_type: "shared".into(),
                category: Some(
                    if arch == "arm" {
                        "cost_optimized"
                    } else {
                        "regular_purpose"
                    }
                    .into(),
                ),
                architecture: arch.into(),
                deprecation: None,
                locations: offered
                    .iter()
                    .map(|l| {
                        let dep = gen1 && l.network_zone == "eu-central";
                        ServerTypeLocation {
                            id: l.id,
                            name: l.name.clone(),
                            deprecation: dep.then(|| Deprecation {
                                announced: "2025-10-16T00:00:00Z".into(),
                                unavailable_after: "2026-01-01T00:00:00Z".into(),
                            }),
                            recommended: !dep && name == "cpx22",
                            available: !dep,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

fn image(id: Id, name: &str, flavor: &str, version: &str, desc: &str) -> Image {
    Image {
        id,
        kind: "system".into(),
        status: "available".into(),
        name: Some(name.into()),
        description: desc.into(),
        image_size: None,
        disk_size: 5.0,
        created: CREATED.into(),
        created_from: None,
        bound_to: None,
        os_flavor: flavor.into(),
        os_version: Some(version.into()),
        rapid_deploy: true,
        protection: Protection::default(),
        deprecated: None,
        deleted: None,
        labels: Labels::new(),
        architecture: "x86".into(),
    }
}

/// System images.
pub fn images() -> Vec<Image> {
    vec![
        image(
            161_547_269,
            "ubuntu-24.04",
            "ubuntu",
            "24.04",
            "Ubuntu 24.04",
        ),
        image(
            103_908_130,
            "ubuntu-22.04",
            "ubuntu",
            "22.04",
            "Ubuntu 22.04",
        ),
        image(114_690_387, "debian-12", "debian", "12", "Debian 12"),
        image(242_181_424, "debian-13", "debian", "13", "Debian 13"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpx22_is_orderable_in_eu_and_cpx21_is_deprecated_there() {
        let types = server_types();
        let cpx22 = types.iter().find(|t| t.name == "cpx22").unwrap();
        assert_eq!((cpx22.cores, cpx22.memory, cpx22.disk), (2.0, 4.0, 80.0));
        assert!(
            cpx22.orderable_in("fsn1") && cpx22.orderable_in("nbg1") && cpx22.orderable_in("hel1")
        );
        let cpx21 = types.iter().find(|t| t.name == "cpx21").unwrap();
        assert!(!cpx21.orderable_in("fsn1"));
        assert!(cpx21.orderable_in("ash"));
        assert!(cpx21.locations.iter().any(|l| l.deprecation.is_some()));
        assert!(
            cpx22
                .prices
                .iter()
                .all(|p| p.price_monthly.net.contains('.'))
        );
    }
}
