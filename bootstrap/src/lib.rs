//! The Kubernetes side of a k3strading cluster, on kube-rs: what a cluster
//! needs beyond its Nodes (namespaces, PriorityClasses, quotas, Strimzi and
//! Kafka 4.0.0, ArgoCD, Prometheus), rendered as plain objects from live facts
//! and applied server-side.
