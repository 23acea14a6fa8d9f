//! Hetzner can report a Primary IP as assigned for a while after its server
//! is gone; the next apply waits for the release instead of failing.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::requests::Requests;

/// The cloud holds the IPs until the provider has been seen
/// waiting, so the order of reads and the create can be read from the log.
#[test]
fn primary_ip_release_lag_is_ridden_out() {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|_| {});
    let wd = workdir(tf, &cloud, None);
    ok(wd.run(&APPLY), "apply");
    let (old_cp, ip) = {
        let w = cloud.emu.world();
        let cp = w
            .servers
            .values()
            .find(|s| s.server.name == "k3s-trading-dev-control")
            .unwrap()
            .server
            .id;
        let ip = w
            .primary_ips
            .values()
            .find(|p| p.name == "k3s-trading-dev-control")
            .unwrap()
            .id;
        (cp, ip)
    };
    cloud.emu.world().ip_release_lag_ms = 3_600_000;
    ok(wd.run(&DESTROY), "destroy");
    {
        let w = cloud.emu.world();
        assert_eq!(w.primary_ips[&ip].assignee_id, Some(old_cp), "no lag");
        assert!(!w.servers.contains_key(&old_cp));
    }

    let mark = cloud.mark();
    let mut apply = wd.start(&APPLY, &[]).unwrap();
    let holder = format!("/servers/{old_cp}");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r = Requests::since(&cloud, &mark);
        if r.0.iter().filter(|e| e.path == holder).count() >= 2 {
            // The create is sent first (no read before it); Hetzner refuses
            // it while the address is held, and the provider then waits.
            assert_eq!(
                r.to("POST /servers")
                    .filter(|(_, e)| e.status == 201)
                    .count(),
                0,
                "a server was created while its Primary IP looked assigned\n{}",
                r.render()
            );
            assert!(
                r.to("POST /servers").count() <= 1,
                "the create was sent again while the Primary IP was held\n{}",
                r.render()
            );
            break;
        }
        assert!(
            !apply.finished().unwrap(),
            "apply ended without waiting for the release\n{}",
            apply.wait().unwrap().all()
        );
        assert!(
            Instant::now() < deadline,
            "the provider never read the IP's holder\n{}",
            r.render()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Hetzner lets go of the addresses.
    for t in cloud.emu.world().pending_release.values_mut() {
        *t = 0;
    }
    let run = apply.wait().unwrap();
    assert_eq!(run.code, 0, "apply after the release\n{}", run.all());

    let r = Requests::since(&cloud, &mark);
    // The control plane's create: refused once while the address was held
    // (422 primary_ip_assigned), then made after the wait.
    let (create, _) = r
        .to("POST /servers")
        .find(|(_, e)| e.status == 201)
        .unwrap();
    let refused: Vec<u16> = r
        .to("POST /servers")
        .filter(|(i, _)| *i < create)
        .map(|(_, e)| e.status)
        .collect();
    assert_eq!(refused, [422], "{}", r.render());
    let ip_path = format!("/primary_ips/{ip}");
    let ip_reads: Vec<usize> =
        r.0.iter()
            .enumerate()
            .filter(|(i, e)| *i < create && e.method == "GET" && e.path == ip_path)
            .map(|(i, _)| i)
            .collect();
    let holder_reads: Vec<usize> =
        r.0.iter()
            .enumerate()
            .filter(|(i, e)| *i < create && e.path == holder)
            .map(|(i, e)| {
                assert_eq!(e.status, 404, "the holder is gone");
                i
            })
            .collect();
    // The provider reads the holder only of an IP it sees assigned: reads
    // of the IP followed by a holder read saw it assigned; the last read
    // before the create, with no holder read after it, saw it free.
    let seen_assigned = ip_reads
        .iter()
        .filter(|i| holder_reads.iter().any(|h| h > *i))
        .count();
    assert!(seen_assigned >= 2, "{}", r.render());
    let last_read = *ip_reads.last().unwrap();
    assert!(
        holder_reads.iter().all(|h| *h < last_read),
        "the create did not follow a read of the IP as free\n{}",
        r.render()
    );
    converged(tf, &cloud, &wd, "release lag");
}
