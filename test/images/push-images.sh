#!/usr/bin/env bash
# Builds the project's images with test/cluster/oci-image.ts (no Docker) and publishes them to a registry with skopeo,
# from the OCI archives, digests preserved:
#   operator     -> REGISTRY/longvideo/operator:VERSION     (test/images/operator.json)
#   runtime      -> REGISTRY/longvideo/runtime-cpu:VERSION  (runtime-image/cpu-image.json)
#   runtime-gpu  -> REGISTRY/longvideo/runtime:VERSION      (runtime-image/gpu-image.json; skipped with GPU=0)
# VERSION is package.json's version, which must be the chart's appVersion and every definition's
# org.opencontainers.image.version. Each image also gets org.opencontainers.image.revision, the git commit (with
# "-dirty" when tracked files differ from it), added at build time only here: in the definitions it would change
# every digest on every commit.
#
# Usage: push-images.sh REGISTRY      REGISTRY is host[:port][/path], no scheme (make images-push REGISTRY=...)
# Environment:
#   TLS_VERIFY  true or false; default false for a loopback registry (plain HTTP), true for any other
#   GPU         1 (default) pushes the GPU runtime image too (about 3.6 GB of wheels to build); 0 skips it
# Credentials: `skopeo login REGISTRY` first (skopeo's auth file), when the registry asks for them.
# Prints one line per pushed image on standard output: "<reference> <manifest digest> <compressed bytes>".
set -euo pipefail
. "$(dirname "$0")/../cluster/env.sh"

registry=${1:-${REGISTRY:-}}
[ -n "$registry" ] || die "usage: make images-push REGISTRY=host[:port] [TLS_VERIFY=false] [GPU=0]"
case $registry in *://*) die "REGISTRY is host[:port][/path], without a scheme: $registry" ;; esac
registry=${registry%/}
command -v skopeo >/dev/null || die "skopeo is missing: run \`make system-packages\`"

chart=$LV_ROOT/charts/longvideo-operator/Chart.yaml
version=$(node -p 'require(process.argv[1]).version' "$LV_ROOT/package.json")
app_version=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}[[:space:]]*$/\1/p' "$chart")
[ "$version" = "$app_version" ] ||
  die "package.json's version ($version) is not the chart's appVersion (${app_version:-none}) in ${chart#"$LV_ROOT"/}: make them equal first"

gpu=${GPU:-1}
case $gpu in 0 | 1) ;; *) die "GPU is 1 or 0, not $gpu" ;; esac
host=${registry%%/*}
case ${host%:*} in
  localhost | 127.* | "[::1]") default_verify=false ;;
  *) default_verify=true ;;
esac
tls_verify=${TLS_VERIFY:-$default_verify}
case $tls_verify in true | false) ;; *) die "TLS_VERIFY is true or false, not $tls_verify" ;; esac

revision=$(git -C "$LV_ROOT" rev-parse HEAD)
[ -z "$(git -C "$LV_ROOT" status --porcelain --untracked-files=no)" ] || revision+="-dirty"

# name in build-image.sh, repository under the registry
images=("operator longvideo/operator" "runtime longvideo/runtime-cpu")
[ "$gpu" = 1 ] && images+=("runtime-gpu longvideo/runtime")

# Every definition must say the version it is published as.
for entry in "${images[@]}"; do
  read -r name _ <<<"$entry"
  labelled=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).config.Labels?.["org.opencontainers.image.version"] ?? ""' \
    "$(bash "$LV_ROOT/test/images/build-image.sh" --definition "$name")")
  [ "$labelled" = "$version" ] ||
    die "image $name: its definition's org.opencontainers.image.version is '${labelled}', not package.json's $version"
done

# Archives stamped with a revision are written here and removed, so they never pile up in the image cache.
work=$LV_ROOT/.cache/images/push
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

log "pushing version $version (revision $revision) to $registry (TLS verification: $tls_verify, GPU image: $gpu)"
for entry in "${images[@]}"; do
  read -r name repository <<<"$entry"
  reference=$registry/$repository:$version
  t0=$SECONDS
  read -r archive digest _ < <(bash "$LV_ROOT/test/images/build-image.sh" "$name" "$work/$name.tar" \
    --label "org.opencontainers.image.revision=$revision")
  [ -n "${digest:-}" ] || die "image $name was not built"
  t1=$SECONDS
  skopeo copy --quiet --retry-times 2 --preserve-digests --dest-tls-verify="$tls_verify" \
    --digestfile "$work/$name.digest" "oci-archive:$archive" "docker://$reference"
  pushed=$(cat "$work/$name.digest")
  [ "$pushed" = "$digest" ] || die "$reference: the registry has $pushed, the archive $digest"
  # What a node downloads: the compressed layers and the config, as the registry lists them.
  bytes=$(skopeo inspect --raw --tls-verify="$tls_verify" "docker://$reference" |
    node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const m=JSON.parse(s);
      console.log(m.layers.reduce((t,l)=>t+l.size,m.config.size))})')
  rm -f "$archive"
  log "pushed $reference@$digest: $((bytes / 1000000)) MB compressed; built in $((t1 - t0))s, pushed in $((SECONDS - t1))s"
  echo "$reference $digest $bytes"
done
