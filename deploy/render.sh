#!/usr/bin/env bash
# Renders a deploy/*.template: every @NAME@ is replaced by the environment variable NAME.
# Usage: PREFIX=/var/lib/hivecast-edge LISTEN=8080 ORIGIN_1=10.0.0.1:8081 ORIGIN_2=… \
#        CACHE_MAX=10g deploy/render.sh deploy/nginx/edge.conf.template > edge.conf
set -euo pipefail
template=${1:?usage: render.sh <template>}
out=$(cat "$template")
for name in $(grep -o '@[A-Z0-9_]*@' "$template" | sort -u | tr -d '@'); do
  value=${!name:?"variable $name is not set"}
  out=${out//@$name@/$value}
done
printf '%s\n' "$out"
