"""Kubernetes: connecting (kubeconfig or in-cluster), finding MongoDB pods, and restoring into a pod through a
Job. The Kubernetes client is imported only here."""
