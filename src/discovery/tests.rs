//! End-to-end tests of discovery against [`TestDns`] on 127.0.0.1. Each
//! runs on its own executor and is bounded in time.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_proto::rr::RecordType;

use super::testdns::{Behavior, Logged, TestDns};
use super::{FileSd, Provider, ResolvConf, Resolver};
use crate::rt;

/// Runs `f` on a fresh executor, failing the test after 20 s.
fn run<F: Future<Output = ()>>(f: impl FnOnce() -> F) {
    rt::block_on(async {
        rt::timeout(Duration::from_secs(20), f())
            .await
            .expect("test timed out");
    })
    .expect("executor");
}

/// Polls `cond` every 10 ms until it holds, for at most 5 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let waited = rt::timeout(Duration::from_secs(5), async {
        while !cond() {
            rt::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("ipv4")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn server() -> TestDns {
    TestDns::start().await.expect("start test dns")
}

/// Two stores behind an SRV name.
fn two_stores(dns: &TestDns) {
    dns.set_srv(
        "_grpc._tcp.store.test",
        &[("s1.test", 10901), ("s2.test", 10902)],
    );
    dns.set_a("s1.test", &[v4("10.0.0.1")]);
    dns.set_a("s2.test", &[v4("10.0.0.2")]);
}

#[test]
fn srv_then_a_with_port_override() {
    run(|| async {
        let dns = server().await;
        two_stores(&dns);
        let r = dns.resolver();
        assert_eq!(
            r.resolve("dnssrv+_grpc._tcp.store.test.").await.unwrap(),
            strings(&["10.0.0.1:10901", "10.0.0.2:10902"])
        );
        assert_eq!(
            r.resolve("dnssrv+_grpc._tcp.store.test.:19000")
                .await
                .unwrap(),
            strings(&["10.0.0.1:19000", "10.0.0.2:19000"])
        );
        assert_eq!(
            r.resolve("dnssrv+http://_grpc._tcp.store.test.")
                .await
                .unwrap(),
            strings(&["http://10.0.0.1:10901", "http://10.0.0.2:10902"])
        );
        // The SRV query first, then AAAA (empty) and A for each target.
        let asked: Vec<(String, RecordType)> = dns
            .queries()
            .into_iter()
            .take(5)
            .map(|q| (q.name, q.rtype))
            .collect();
        assert_eq!(
            asked,
            vec![
                ("_grpc._tcp.store.test.".to_string(), RecordType::SRV),
                ("s1.test.".to_string(), RecordType::AAAA),
                ("s1.test.".to_string(), RecordType::A),
                ("s2.test.".to_string(), RecordType::AAAA),
                ("s2.test.".to_string(), RecordType::A),
            ]
        );
    });
}

#[test]
fn srv_target_failure_fails_the_address_but_missing_target_is_skipped() {
    run(|| async {
        let dns = server().await;
        two_stores(&dns);
        let r = dns.resolver();
        dns.remove("s2.test");
        assert_eq!(
            r.resolve("dnssrv+_grpc._tcp.store.test.").await.unwrap(),
            strings(&["10.0.0.1:10901"])
        );
        dns.set_behavior_for("s1.test", None, Behavior::ServFail);
        let err = r
            .resolve("dnssrv+_grpc._tcp.store.test.")
            .await
            .unwrap_err();
        assert!(!err.is_not_found());
        assert!(
            err.to_string()
                .starts_with("lookup IP addresses \"_grpc._tcp.store.test.\": could not resolve"),
            "{err}"
        );
    });
}

#[test]
fn dnssrvnoa_uses_targets_as_hosts() {
    run(|| async {
        let dns = server().await;
        two_stores(&dns);
        let r = dns.resolver();
        // v0.31 keeps the trailing dot of SRV targets.
        assert_eq!(
            r.resolve("dnssrvnoa+_grpc._tcp.store.test.").await.unwrap(),
            strings(&["s1.test.:10901", "s2.test.:10902"])
        );
        assert_eq!(
            r.resolve("dnssrvnoa+https://_grpc._tcp.store.test.:443")
                .await
                .unwrap(),
            strings(&["https://s1.test.:443", "https://s2.test.:443"])
        );
        // No address lookups were made.
        assert!(dns.queries().iter().all(|q| q.rtype == RecordType::SRV));
    });
}

#[test]
fn aaaa_first_then_a() {
    run(|| async {
        let dns = server().await;
        let r = dns.resolver();
        let v6: Ipv6Addr = "fd00::1".parse().unwrap();
        dns.set_aaaa("both.test", &[v6]);
        dns.set_a("both.test", &[v4("10.0.0.1")]);
        dns.set_a("v4only.test", &[v4("10.0.0.2")]);
        // AAAA answers win; A is not asked.
        assert_eq!(
            r.resolve("dns+both.test.:80").await.unwrap(),
            strings(&["[fd00::1]:80"])
        );
        assert_eq!(dns.queries().len(), 1);
        // An empty AAAA answer falls back to A.
        assert_eq!(
            r.resolve("dns+v4only.test.:80").await.unwrap(),
            strings(&["10.0.0.2:80"])
        );
        // So does a failed AAAA query.
        dns.set_behavior_for("both.test", Some(RecordType::AAAA), Behavior::ServFail);
        assert_eq!(
            r.resolve("dns+both.test.:80").await.unwrap(),
            strings(&["10.0.0.1:80"])
        );
        // A failing A query after that is the lookup's failure.
        dns.set_behavior_for("both.test", Some(RecordType::A), Behavior::ServFail);
        assert!(r.resolve("dns+both.test.:80").await.is_err());
        // IPv4-mapped AAAA answers print as IPv4, as Go does.
        dns.set_aaaa("mapped.test", &["::ffff:10.0.0.9".parse().unwrap()]);
        assert_eq!(
            r.resolve("dns+mapped.test.:80").await.unwrap(),
            strings(&["10.0.0.9:80"])
        );
        // An IP literal needs no query.
        dns.clear_queries();
        assert_eq!(
            r.resolve("dns+10.1.2.3:80").await.unwrap(),
            strings(&["10.1.2.3:80"])
        );
        assert!(dns.queries().is_empty());
    });
}

#[test]
fn cname_chain_is_followed_for_8_lookups() {
    run(|| async {
        let dns = server().await;
        dns.set_chase_cnames(false);
        let r = dns.resolver();
        dns.set_cname("a.test", "b.test");
        dns.set_cname("b.test", "c.test");
        dns.set_a("c.test", &[v4("10.0.0.3")]);
        assert_eq!(
            r.resolve("dns+a.test.:80").await.unwrap(),
            strings(&["10.0.0.3:80"])
        );
        // Thanos allows 8 lookups per name: 7 CNAME links, not 8.
        for i in 0..8 {
            dns.set_cname(&format!("l{i}.test"), &format!("l{}.test", i + 1));
        }
        dns.set_a("l8.test", &[v4("10.0.0.8")]);
        let seven = r.resolve("dns+l1.test.:80").await.unwrap();
        assert_eq!(seven, strings(&["10.0.0.8:80"]));
        let err = r.resolve("dns+l0.test.:80").await.unwrap_err();
        assert!(err
            .to_string()
            .contains("maximum number of recursive iterations reached (8)"));
        // A loop ends the same way.
        dns.set_cname("x.test", "y.test");
        dns.set_cname("y.test", "x.test");
        assert!(r.resolve("dns+x.test.:80").await.is_err());
        // A server that chases CNAMEs itself gives duplicates (as Thanos
        // does); the provider removes them.
        dns.set_chase_cnames(true);
        assert_eq!(
            r.resolve("dns+a.test.:80").await.unwrap(),
            strings(&["10.0.0.3:80", "10.0.0.3:80"])
        );
        let p = Provider::new(r, strings(&["dns+a.test.:80"]), Duration::from_secs(5));
        p.refresh().await.unwrap();
        assert_eq!(p.addresses(), strings(&["10.0.0.3:80"]));
    });
}

#[test]
fn truncated_udp_answer_is_retried_over_tcp() {
    run(|| async {
        let dns = server().await;
        two_stores(&dns);
        dns.set_behavior(Behavior::TruncateUdp);
        let r = dns.resolver();
        assert_eq!(
            r.resolve("dnssrv+_grpc._tcp.store.test.").await.unwrap(),
            strings(&["10.0.0.1:10901", "10.0.0.2:10902"])
        );
        let log = dns.queries();
        assert_eq!(
            &log[..2],
            &[
                Logged {
                    name: "_grpc._tcp.store.test.".into(),
                    rtype: RecordType::SRV,
                    tcp: false
                },
                Logged {
                    name: "_grpc._tcp.store.test.".into(),
                    rtype: RecordType::SRV,
                    tcp: true
                },
            ]
        );
        assert_eq!(log.iter().filter(|q| q.tcp).count(), log.len() / 2);
    });
}

#[test]
fn nxdomain_everywhere_is_empty_not_an_error() {
    run(|| async {
        let dns = server().await;
        let mut conf = dns.resolv_conf();
        conf.search = strings(&["ns.svc.cluster.local", "svc.cluster.local"]);
        let r = Resolver::from_conf(conf).with_exchange_timeout(Duration::from_millis(300));
        assert_eq!(
            r.resolve("dns+missing:80").await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(dns.queries().len(), 2 * 3, "AAAA and A for three names");
        assert_eq!(
            r.resolve("dnssrv+_grpc._tcp.missing").await.unwrap(),
            Vec::<String>::new()
        );
        assert!(r.lookup_ip("missing").await.unwrap_err().is_not_found());
        // One search name failing turns "not found" into a failure.
        dns.set_behavior_for("missing.svc.cluster.local", None, Behavior::ServFail);
        let err = r.resolve("dns+missing:80").await.unwrap_err();
        assert!(!err.is_not_found());
        assert!(err.to_string().contains("rcode Server Failure"), "{err}");
    });
}

#[test]
fn silent_server_times_out_and_next_server_is_tried() {
    run(|| async {
        let dns = server().await;
        dns.set_a("s1.test", &[v4("10.0.0.1")]);
        let mut conf = dns.resolv_conf();
        // The same server twice: the first query fails, the second answers.
        conf.nameservers.push(conf.nameservers[0]);
        let r = Resolver::from_conf(conf).with_exchange_timeout(Duration::from_millis(200));
        dns.fail_next(1);
        assert_eq!(
            r.resolve("dns+s1.test.:1").await.unwrap(),
            strings(&["10.0.0.1:1"])
        );
        dns.set_behavior(Behavior::Silent);
        let started = std::time::Instant::now();
        let err = r.resolve("dns+s1.test.:1").await.unwrap_err();
        assert!(err.to_string().contains("deadline exceeded"), "{err}");
        // AAAA and A, two servers each, 200 ms each.
        assert!(started.elapsed() < Duration::from_secs(3));
        // No name servers at all is a failure too.
        let none = Resolver::from_conf(ResolvConf::default());
        assert!(!none
            .resolve("dns+s1.test.:1")
            .await
            .unwrap_err()
            .is_not_found());
    });
}

#[test]
fn search_domains_and_ndots_like_kubernetes() {
    run(|| async {
        let dns = server().await;
        let mut conf = dns.resolv_conf();
        conf.search = strings(&[
            "thanos.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
        ]);
        conf.ndots = 5;
        let r = Resolver::from_conf(conf).with_exchange_timeout(Duration::from_millis(300));
        dns.set_srv(
            "_grpc._tcp.thanos-store.thanos.svc.cluster.local",
            &[(
                "thanos-store-0.thanos-store.thanos.svc.cluster.local",
                10901,
            )],
        );
        dns.set_a(
            "thanos-store-0.thanos-store.thanos.svc.cluster.local",
            &[v4("10.1.0.5")],
        );
        dns.set_a("thanos-store.thanos.svc.cluster.local", &[v4("10.1.0.9")]);

        assert_eq!(
            r.resolve("dnssrv+_grpc._tcp.thanos-store.thanos:10901")
                .await
                .unwrap(),
            strings(&["10.1.0.5:10901"])
        );
        let srv_names: Vec<String> = dns
            .queries()
            .into_iter()
            .filter(|q| q.rtype == RecordType::SRV)
            .map(|q| q.name)
            .collect();
        assert_eq!(
            srv_names,
            strings(&[
                "_grpc._tcp.thanos-store.thanos.thanos.svc.cluster.local.",
                "_grpc._tcp.thanos-store.thanos.svc.cluster.local.",
            ])
        );
        // A short name in the pod's own namespace.
        dns.clear_queries();
        assert_eq!(
            r.resolve("dns+thanos-store:10901").await.unwrap(),
            strings(&["10.1.0.9:10901"])
        );
        assert_eq!(
            dns.queries()[0].name,
            "thanos-store.thanos.svc.cluster.local."
        );
        // An absolute name is asked once, as is.
        dns.clear_queries();
        assert_eq!(
            r.resolve("dns+thanos-store.thanos.svc.cluster.local.:10901")
                .await
                .unwrap(),
            strings(&["10.1.0.9:10901"])
        );
        assert!(dns
            .queries()
            .iter()
            .all(|q| q.name == "thanos-store.thanos.svc.cluster.local."));
    });
}

#[test]
fn resolv_conf_file_is_read_on_every_lookup() {
    run(|| async {
        let dns = server().await;
        dns.set_a("s1.test", &[v4("10.0.0.1")]);
        let path = std::env::temp_dir().join(format!(
            "sluice-resolv-{}-{:?}.conf",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, "nameserver 127.0.0.1\n").unwrap();
        let r = Resolver::from_file(&path)
            .with_port(dns.addr().port())
            .with_exchange_timeout(Duration::from_millis(300));
        assert_eq!(
            r.resolve("dns+s1.test.:1").await.unwrap(),
            strings(&["10.0.0.1:1"])
        );
        std::fs::write(&path, "search test\n").unwrap();
        assert!(r.resolve("dns+s1.test.:1").await.is_err());
        std::fs::remove_file(&path).unwrap();
        let err = r.resolve("dns+s1.test.:1").await.unwrap_err();
        assert!(
            err.to_string().contains("could not load resolv.conf"),
            "{err}"
        );
    });
}

#[test]
fn provider_keeps_last_good_answer_on_failure() {
    run(|| async {
        let dns = server().await;
        two_stores(&dns);
        let p = Provider::new(
            dns.resolver(),
            strings(&[
                "dnssrv+_grpc._tcp.store.test.",
                "static:10901",
                "dns+s1.test.:10901",
            ]),
            Duration::from_secs(5),
        );
        p.refresh().await.unwrap();
        let good = strings(&["10.0.0.1:10901", "10.0.0.2:10902", "static:10901"]);
        assert_eq!(p.addresses(), good);
        assert_eq!((p.lookups_total(), p.failures_total()), (2, 0));

        dns.set_behavior(Behavior::ServFail);
        let errs = p.refresh().await.unwrap_err();
        assert_eq!(errs.0.len(), 2);
        assert_eq!(p.addresses(), good);
        assert_eq!((p.lookups_total(), p.failures_total()), (4, 2));

        dns.set_behavior(Behavior::Silent);
        assert!(p.refresh().await.is_err());
        assert_eq!(p.addresses(), good);
        assert_eq!(p.failures_total(), 4);
        assert_eq!(
            p.results(),
            vec![
                ("dnssrv+_grpc._tcp.store.test.".to_string(), 2),
                ("static:10901".to_string(), 1),
                ("dns+s1.test.:10901".to_string(), 1),
            ]
        );

        // A malformed address is a failure with nothing to keep.
        p.resolve(&strings(&["dns+noport", "static:10901"]))
            .await
            .unwrap_err();
        assert_eq!(p.addresses(), strings(&["static:10901"]));

        // NXDOMAIN is an answer: the old results go.
        dns.set_behavior(Behavior::Answer);
        p.refresh().await.unwrap();
        dns.remove("_grpc._tcp.store.test");
        let failures = p.failures_total();
        p.refresh().await.unwrap();
        assert_eq!(p.addresses(), strings(&["static:10901", "10.0.0.1:10901"]));
        assert_eq!(p.failures_total(), failures);
    });
}

#[test]
fn provider_follows_changing_answers() {
    run(|| async {
        let dns = server().await;
        two_stores(&dns);
        let p = std::rc::Rc::new(Provider::new(
            dns.resolver(),
            strings(&["dnssrv+_grpc._tcp.store.test."]),
            Duration::from_millis(50),
        ));
        let looping = p.clone();
        let _task = rt::spawn(async move { looping.run().await });
        eventually("first resolution", || p.addresses().len() == 2).await;

        // A pod is replaced: new IP for s2.
        dns.set_a("s2.test", &[v4("10.0.0.22")]);
        eventually("new IP", || {
            p.addresses() == strings(&["10.0.0.1:10901", "10.0.0.22:10902"])
        })
        .await;

        // The service scales down to one pod.
        dns.set_srv("_grpc._tcp.store.test", &[("s1.test", 10901)]);
        eventually("scale down", || {
            p.addresses() == strings(&["10.0.0.1:10901"])
        })
        .await;
        assert_eq!(p.failures_total(), 0);
    });
}

#[test]
fn file_sd_targets_go_through_the_provider() {
    run(|| async {
        let dns = server().await;
        two_stores(&dns);
        let dir = std::env::temp_dir().join(format!(
            "sluice-filesd-e2e-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("stores.json");
        std::fs::write(
            &file,
            r#"[{"targets": ["dnssrv+_grpc._tcp.store.test.", "static:1"]}]"#,
        )
        .unwrap();

        let p = std::rc::Rc::new(Provider::new(
            dns.resolver(),
            strings(&["flag:2"]),
            Duration::from_secs(60),
        ));
        let sd = FileSd::new(vec![format!("{}/*.json", dir.display())]);
        let feeding = p.clone();
        let _task = rt::spawn(async move {
            sd.run(&feeding, Duration::from_secs(60), Duration::from_millis(20))
                .await
        });
        eventually("file SD addresses", || {
            p.addresses() == strings(&["10.0.0.1:10901", "10.0.0.2:10902", "static:1", "flag:2"])
        })
        .await;

        std::fs::write(&file, r#"[{"targets": ["dns+s2.test.:3"]}]"#).unwrap();
        eventually("changed file", || {
            p.addresses() == strings(&["10.0.0.2:3", "flag:2"])
        })
        .await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
