#!/usr/bin/env bash
# Deploy an overlay in the order the platform needs (docs/kubernetes.md, "Deploying"):
#
#   1. everything that is neither a migration Job nor a server Deployment (namespace, config,
#      services, policies, autoscalers, Kafka, PostgreSQL, topics), then wait for the databases;
#   2. the migration Jobs (the previous ones are deleted first: a Job's pod template is
#      immutable), and wait until every one has completed;
#   3. the Deployments, and wait for their rollouts.
#
# kustomize has no hooks, so the order is this script's: new code never starts on an old schema.
# Migrations must stay backwards compatible with the release still running (expand, then
# contract in a later release), because old pods keep serving while the Job runs.
#
#   k8s/tools/deploy.sh production            # kustomize and kubectl on PATH, kube context set
#   KUSTOMIZE=.run/tools/kustomize k8s/tools/deploy.sh dev
set -euo pipefail

overlay=${1:?usage: deploy.sh <overlay> (a folder of k8s/overlays)}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kustomize=${KUSTOMIZE:-kustomize}
timeout=${KOMMUNE_DEPLOY_TIMEOUT:-600s}

# The phase of a resource is its app.kubernetes.io/component label: migration, server, or
# anything else (tests/k8s checks that every Job is "migration" and every Deployment "server").
PREPARE='app.kubernetes.io/component notin (migration,server)'
MIGRATE='app.kubernetes.io/component=migration'
ROLLOUT='app.kubernetes.io/component=server'

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
"$kustomize" build "$root/k8s/overlays/$overlay" >"$rendered"
namespace=$(sed -n 's/^  namespace: //p' "$rendered" | sort -u)
[[ $(wc -l <<<"$namespace") -eq 1 ]] || {
    echo "deploy.sh: the overlay must render into exactly one namespace" >&2
    exit 1
}

echo "[deploy] 1/3 platform, infrastructure and configuration -> $namespace"
kubectl apply --server-side -f "$rendered" -l "$PREPARE"
if kubectl get crd clusters.postgresql.cnpg.io >/dev/null 2>&1 &&
    kubectl -n "$namespace" get clusters.postgresql.cnpg.io -o name | grep -q .; then
    kubectl -n "$namespace" wait --for=condition=Ready clusters.postgresql.cnpg.io --all \
        --timeout="$timeout"
fi

echo "[deploy] 2/3 migrations"
kubectl -n "$namespace" delete job -l "$MIGRATE" --ignore-not-found --wait=true
kubectl apply --server-side -f "$rendered" -l "$MIGRATE"
kubectl -n "$namespace" wait --for=condition=Complete job -l "$MIGRATE" --timeout="$timeout"

echo "[deploy] 3/3 rollout"
kubectl apply --server-side -f "$rendered" -l "$ROLLOUT"
for deployment in $(kubectl -n "$namespace" get deployment -l "$ROLLOUT" -o name); do
    kubectl -n "$namespace" rollout status "$deployment" --timeout="$timeout"
done
echo "[deploy] done"
